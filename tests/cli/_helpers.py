"""Running the real `agentlightning` / `agentlightning-run` console scripts, and reading what they stored."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from agentlightning._utils import run_sync
from agentlightning.store.sqlite import SqliteLightningStore
from agentlightning.types import Rollout, Span

BIN = Path(sys.executable).parent
RUN = str(BIN / "agentlightning-run")
CLI = str(BIN / "agentlightning")

AGENT_SCRIPT = '''
"""An unchanged agent script: plain OpenAI client code, nothing of agentlightning but a reward."""
import os
import sys
import time

import openai

import agentlightning as agl

client = openai.OpenAI(base_url=os.environ["TEST_BASE_URL"], api_key="sk-secret-key", max_retries=0)
questions = ["What is 2 + 2?", "What is 3 + 3?"] + (["One more?"] if "extra" in sys.argv else [])
for question in questions:
    answer = client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": question}])
    print("answer:", answer.choices[0].message.content)
agl.emit_reward(0.75)
print("argv:", sys.argv[1:], "name:", __name__, "file:", os.path.basename(__file__), flush=True)
if "exit" in sys.argv:
    sys.exit(7)
if "raise" in sys.argv:
    raise RuntimeError("the agent broke")
if "sleep" in sys.argv:
    print("ready", flush=True)
    time.sleep(120)
'''


def write_agent(directory: Path) -> Path:
    script = directory / "agent.py"
    script.write_text(AGENT_SCRIPT)
    return script


def env(base_url: str = "http://127.0.0.1:9/v1", **extra: str) -> dict[str, str]:
    result = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AGENTLIGHTNING_STORE"))}
    result["TEST_BASE_URL"] = base_url
    result.update(extra)
    return result


def run_cli(
    args: list[str],
    cwd: Path,
    *,
    base_url: str = "http://127.0.0.1:9/v1",
    program: str = RUN,
    timeout: float = 120,
    **extra: str,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [program, *args], cwd=cwd, env=env(base_url, **extra), capture_output=True, text=True, timeout=timeout
    )


def run_rollout_id(stderr: str) -> str:
    """The run's rollout, as the summary names it."""
    match = re.search(r"trace\s+\S+, rollout (ro-[0-9a-f]{12})", stderr)
    assert match, stderr
    return match.group(1)


def stored(db: Path, rollout_id: str) -> tuple[Rollout, list[Span]]:
    store = SqliteLightningStore(db)
    try:
        rollout = run_sync(store.get_rollout_by_id(rollout_id))
        assert rollout is not None
        return rollout, run_sync(store.query_spans(rollout_id))
    finally:
        store.close()


def llm_spans(spans: list[Span]) -> list[Span]:
    return [s for s in spans if s.attributes.get("gen_ai.operation.name") == "chat"]


def shape(spans: list[Span]) -> list[tuple[Any, ...]]:
    """What a replay must reproduce: LLM span names, models, token counts, response ids, in order."""
    return [
        (
            s.name,
            s.attributes.get("gen_ai.response.model"),
            s.attributes.get("gen_ai.usage.input_tokens"),
            s.attributes.get("gen_ai.usage.output_tokens"),
            s.attributes.get("gen_ai.response.id"),
        )
        for s in sorted(llm_spans(spans), key=lambda s: s.sequence_id)
    ]
