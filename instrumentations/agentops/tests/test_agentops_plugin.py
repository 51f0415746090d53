"""The AgentOps plugin's lifecycle (patches idempotent and removable, the 0.3 names, disabled by environment) and
one LLM span per model call with AgentOps' own LLM instrumentation and the OpenAI plugin both on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import agentops.client.client as agentops_client
import agentops.sdk.core as agentops_core
import pytest

import agentlightning as agl
from agentlightning.instrumentation import get_instrumentor, uninstrument_all
from agentlightning.testing.network import ENV_RECORD

TARGETS = [
    (agentops_core, "setup_telemetry"),
    (agentops_client, "configure_logging"),
    (agentops_client, "intercept_opentelemetry_logging"),
    (agentops_client.Client, "_start_auth_task"),
    (agentops_client.Client, "init"),
]


@pytest.fixture
def clean() -> Iterator[None]:
    uninstrument_all()
    yield
    uninstrument_all()


def _current() -> list[object]:
    return [vars(owner)[name] for owner, name in TARGETS]


@pytest.mark.usefixtures("clean")
def test_patches_are_idempotent_and_removable() -> None:
    originals = _current()
    from agentlightning.instrumentation.agentops import instrument_agentops, uninstrument_agentops

    instrument_agentops()
    patched = _current()
    assert all(p is not o for p, o in zip(patched, originals, strict=True))
    instrument_agentops()  # twice: still one layer
    assert _current() == patched
    assert all(getattr(p, "__wrapped__", None) is o for p, o in zip(patched, originals, strict=True))
    uninstrument_agentops()
    assert all(c is o for c, o in zip(_current(), originals, strict=True))  # the very same objects back
    instrument_agentops()
    assert all(c is not o for c, o in zip(_current(), originals, strict=True))


@pytest.mark.usefixtures("clean")
def test_instrument_all_includes_it_unless_disabled(monkeypatch: pytest.MonkeyPatch) -> None:
    assert "agentops" in agl.instrument_all()
    uninstrument_all()
    monkeypatch.setenv("AGENTLIGHTNING_DISABLED_INSTRUMENTATIONS", "agentops")
    assert "agentops" not in agl.instrument_all()
    assert not get_instrumentor("agentops").is_instrumented


@pytest.mark.usefixtures("clean")
def test_agentops_langchain_names_turn_both_plugins_on_and_off() -> None:
    from agentlightning.instrumentation.agentops_langchain import (
        instrument_agentops_langchain,
        uninstrument_agentops_langchain,
    )

    instrument_agentops_langchain()
    assert get_instrumentor("agentops").is_instrumented and get_instrumentor("langchain").is_instrumented
    uninstrument_agentops_langchain()
    assert not get_instrumentor("agentops").is_instrumented and not get_instrumentor("langchain").is_instrumented


# AgentOps' OpenAI instrumentation (instrument_llm_calls, its default) and ours, in either wrapping order.
ONE_LLM_SPAN = textwrap.dedent(
    """
    import asyncio, json, sys
    from agentlightning.testing import network
    network.install()
    network.activate()
    import agentlightning as agl
    from agentlightning.instrumentation import instrument
    from agentlightning.testing import Reply, ScriptedOpenAIServer

    store = agl.InMemoryLightningStore()
    tracer = agl.OtelTracer()
    tracer.init()
    tracer.init_worker(0, store)
    if sys.argv[1] == "agentops-skipped":  # the OpenAI plugin on first: AgentOps leaves openai to it
        agl.instrument_all()
        import openai, agentops
        agentops.init(api_key="k")
    else:  # AgentOps wraps openai first, the OpenAI plugin goes on top
        instrument("agentops")
        import openai, agentops
        agentops.init(api_key="k")
        instrument("openai")
    with ScriptedOpenAIServer(default=Reply(content="hi")) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="x", max_retries=0)
        attempted = asyncio.run(store.start_rollout(input=1))
        with tracer.trace_context(rollout_id=attempted.rollout_id, attempt_id=attempted.attempt.attempt_id):
            client.chat.completions.create(model="m", messages=[{"role": "user", "content": "q"}])
    spans = asyncio.run(store.query_spans(attempted.rollout_id))
    print(json.dumps([[s.name, s.attributes.get("gen_ai.usage.input_tokens")] for s in spans]))
    """
)


@pytest.mark.slow
@pytest.mark.parametrize("order", ["agentops-skipped", "ours-outside"])
def test_one_model_call_is_one_llm_span_with_agentops_llm_instrumentation(tmp_path: Path, order: str) -> None:
    env = {**os.environ, ENV_RECORD: str(tmp_path / "attempts.txt"), "AGENTOPS_LOG_LEVEL": "CRITICAL"}
    env.pop("AGENTOPS_INSTRUMENT_LLM_CALLS", None)  # AgentOps' default: its LLM instrumentation on
    out = subprocess.run(
        [sys.executable, "-c", ONE_LLM_SPAN, order], capture_output=True, text=True, timeout=120, env=env
    )
    assert out.returncode == 0, out.stderr
    spans = json.loads(out.stdout.strip().splitlines()[-1])
    llm = [span for span in spans if span[0] != "agentlightning.rollout"]
    # Ours either way: AgentOps' layer is not installed, or (wrapped before ours) stepped over.
    assert llm == [["chat m", 1]]
    assert not (tmp_path / "attempts.txt").exists()


LATE = textwrap.dedent(
    """
    import os
    from agentlightning.testing import network
    network.install()
    network.activate()
    import agentops
    agentops.init(auto_start_session=False, log_level="CRITICAL")  # before instrumenting: its exporters exist
    import agentlightning as agl
    agl.instrument_all()
    os._exit(0)  # skip AgentOps' exit-time export (refused by the hook anyway, but slow)
    """
)


@pytest.mark.slow
def test_instrumenting_after_agentops_init_says_what_to_do(tmp_path: Path) -> None:
    env = {**os.environ, "AGENTOPS_LOGGING_TO_FILE": "false"}
    out = subprocess.run(
        [sys.executable, "-c", LATE], capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr
    assert "agentops.init() ran before AgentOps was instrumented" in out.stderr
    assert "before agentops.init() to keep it offline" in out.stderr
