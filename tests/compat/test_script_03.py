"""An unchanged agent-lightning 0.3-style script, in a fresh interpreter, against the local scripted server.

It never calls ``instrument_all()``; ``setup_logging()``, ``Trainer(n_workers=1).dev(...)`` and
``LitAgentRunner[str]`` with ``run_context`` / ``step`` must trace its model calls by themselves, and the
Trainer's rollouts must carry the text of prompts and answers (the server returns no token ids).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

SCRIPT = Path(__file__).with_name("script_03.py")


def _run(tmp_path: Path, **env: str) -> dict[str, Any]:
    environ = {
        k: v for k, v in os.environ.items() if not k.startswith("AGENTLIGHTNING_") or k == "AGENTLIGHTNING_STRICT"
    }
    environ.update(env)
    out = subprocess.run(
        [sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=120, cwd=tmp_path, env=environ
    )
    assert out.returncode == 0, out.stderr
    report: dict[str, Any] = json.loads(out.stdout)
    return report


def _texts(messages: list[dict[str, Any]] | None) -> list[str]:
    return [part["content"] for message in messages or [] for part in message["parts"] if part["type"] == "text"]


@pytest.mark.slow
def test_03_script_is_traced_rewarded_and_yields_triplets_with_text(tmp_path: Path) -> None:
    report = _run(tmp_path)
    assert report["requests"] == 6  # 2 tasks x 2 calls in dev, 2 calls in step
    for rollout, question in zip(report["dev"], ["What is 2 + 2?", "What is 1 + 3?"], strict=True):
        assert rollout["status"] == "succeeded"
        assert rollout["llm_spans"] == 2  # one LLM span per model call
        assert rollout["reward"] == 1.0
        first, second = rollout["triplets"]
        assert _texts(first["prompt"]["raw_content"]) == [question]
        assert _texts(first["response"]["raw_content"]) == ["4"]
        assert _texts(second["prompt"]["raw_content"]) == [question, "4", "Sure?"]
        assert second["reward"] == 1.0
    step = report["step"]
    assert step["status"] == "succeeded" and report["step_mode"] == "val"
    assert step["llm_spans"] == 2 and step["reward"] == 1.0 and len(step["triplets"]) == 2
    # A bare runner is not a Trainer: content stays off by default there.
    assert step["triplets"][0]["prompt"]["raw_content"] is None


@pytest.mark.slow
def test_03_script_opt_outs_turn_auto_instrumentation_off(tmp_path: Path) -> None:
    report = _run(tmp_path, AGENTLIGHTNING_AUTO_INSTRUMENT="0")
    assert [r["llm_spans"] for r in report["dev"]] == [0, 0] and report["step"]["llm_spans"] == 0
    assert [r["reward"] for r in report["dev"]] == [1.0, 1.0]  # the agent still ran


@pytest.mark.slow
def test_03_script_env_capture_off_wins_over_the_trainer(tmp_path: Path) -> None:
    report = _run(tmp_path, AGENTLIGHTNING_CAPTURE_CONTENT="0")
    triplets = report["dev"][0]["triplets"]
    assert len(triplets) == 2 and all(t["prompt"]["raw_content"] is None for t in triplets)
