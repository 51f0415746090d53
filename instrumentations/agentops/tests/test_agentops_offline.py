"""A user's unchanged AgentOps program, in a fresh interpreter under an audit hook that refuses and records every
non-loopback DNS lookup and connect (``agentlightning.testing.network``): nothing leaves the machine through
``agentops.init(api_key=...)``, a traced run and interpreter exit; its spans are in our store under the rollout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from agentlightning._utils import run_sync
from agentlightning.store.sqlite import SqliteLightningStore
from agentlightning.testing.network import ENV_RECORD

PROGRAM = textwrap.dedent(
    """
    import asyncio, builtins, json, sys, time
    from agentlightning.testing import network

    network.install()
    network.activate()  # from here to the interpreter's very end
    print_before, import_before = builtins.print, builtins.__import__

    import agentlightning as agl

    if sys.argv[2] == "before":
        import agentops
    agl.instrument_all()
    import agentops
    from opentelemetry import metrics

    # The user's program, unchanged: a key (AgentOps would authenticate with it), its defaults otherwise.
    agentops.init(api_key="0123456789abcdef0123456789abcdef")

    @agentops.tool
    def lookup(city):
        return {"paris": "sunny"}[city]

    @agentops.agent
    class Planner:
        @agentops.operation
        def plan(self, city):
            print("planning for", city)  # AgentOps would upload what is printed when the root span ends
            return f"it is {lookup(city)}"

    @agentops.task
    def answer(city):
        return Planner().plan(city)

    store = agl.SqliteLightningStore(sys.argv[1])
    tracer = agl.OtelTracer()
    with tracer.lifespan(store):
        attempted = asyncio.run(store.start_rollout(input="paris"))
        with tracer.trace_context(rollout_id=attempted.rollout_id, attempt_id=attempted.attempt.attempt_id):
            trace = agentops.start_trace("weather")
            answer("paris")
            agentops.end_trace(trace)
    print_kept = builtins.print is print_before
    import_hooked = builtins.__import__ is not import_before  # AgentOps' import monitor (instrument_llm_calls)
    agl.uninstrument_all()
    result = {
        "rollout_id": attempted.rollout_id,
        "print_kept": print_kept,
        "import_hooked_while_instrumented": import_hooked,
        "print_restored": builtins.print is print_before,
        "import_restored": builtins.__import__ is import_before,
        "meter_provider": type(metrics.get_meter_provider()).__name__,
        "end": time.time(),
    }
    print(json.dumps(result))
    """
)


def _tree(spans: list) -> list[tuple[str, str | None]]:
    names = {s.span_id: s.name for s in spans}
    return sorted((s.name, names.get(s.parent_id) if s.parent_id else None) for s in spans)


@pytest.mark.slow
@pytest.mark.parametrize("order", ["before", "after"], ids=["agentops-imported-first", "instrumented-first"])
def test_an_agentops_program_stays_offline_and_lands_in_the_store(tmp_path: Path, order: str) -> None:
    script, db, record = tmp_path / "program.py", tmp_path / "store.db", tmp_path / "attempts.txt"
    script.write_text(PROGRAM)
    env = {**os.environ, ENV_RECORD: str(record)}
    env.pop("AGENTOPS_INSTRUMENT_LLM_CALLS", None)  # the user's program keeps AgentOps' defaults
    env.pop("AGENTOPS_LOGGING_TO_FILE", None)
    process = subprocess.Popen(
        [sys.executable, str(script), str(db), order],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, err = process.communicate(timeout=120)
    exited = time.time()
    assert process.returncode == 0, err
    result = json.loads(out.strip().splitlines()[-1])
    # Measured, not asserted (tests never assert on wall-clock time): from the program's last line to the exit.
    print(f"interpreter exit took {exited - result['end']:.2f} s (AgentOps untamed: 6.4 s)")

    assert not record.exists() or record.read_text() == "", f"network attempts: {record.read_text()}"
    assert "planning for paris" in out  # print still prints
    assert not (tmp_path / "agentops.log").exists()
    assert result["print_kept"] and result["print_restored"]
    assert result["import_hooked_while_instrumented"] and result["import_restored"]
    assert result["meter_provider"] != "MeterProvider"  # no SDK meter provider (with its exporter) made global

    store = SqliteLightningStore(db)
    try:
        spans = run_sync(store.query_spans(result["rollout_id"]))
    finally:
        store.close()
    assert _tree(spans) == [
        ("Planner.agent", "answer.task"),
        ("agentlightning.rollout", None),
        ("answer.task", "weather.session"),
        ("lookup.tool", "plan.task"),  # @operation is AgentOps' alias of @task
        ("plan.task", "Planner.agent"),
        ("weather.session", "agentlightning.rollout"),
    ]
    assert {s.trace_id for s in spans} == {spans[0].trace_id}  # one trace per rollout attempt
