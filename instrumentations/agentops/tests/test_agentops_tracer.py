"""``AgentOpsTracer``: AgentOps' decorators recorded into the right rollout across threads and tasks, the
quickstart agent under ``Trainer(tracer=agl.AgentOpsTracer())``, spans of AgentOps flushed at process exit.
(The shared trace-context suite runs on it too: ``tests/tracer/conftest.py``.)"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import agentops
import pytest

import agentlightning as agl
from agentlightning.store.sqlite import SqliteLightningStore
from agentlightning.testing.network import ENV_RECORD

ROOT = Path(__file__).resolve().parents[3]


@agentops.tool
def double(x: int) -> int:
    return 2 * x


@agentops.operation
def solve(x: int) -> int:
    return double(x) + 1


@agentops.operation(name="solve")
async def solve_async(x: int) -> int:
    await asyncio.sleep(0.01)
    return double(x) + 1


def _tree(spans: list[agl.Span]) -> list[tuple[str, str | None]]:
    names = {s.span_id: s.name for s in spans}
    return sorted((s.name, names.get(s.parent_id) if s.parent_id else None) for s in spans)


EXPECTED = [("agentlightning.rollout", None), ("double.tool", "solve.task"), ("solve.task", "agentlightning.rollout")]


async def test_decorator_spans_land_in_their_own_rollout_across_threads_and_tasks() -> None:
    store = agl.InMemoryLightningStore()
    tracer = agl.AgentOpsTracer()  # type: ignore[attr-defined]
    tracer.init()
    tracer.init_worker(0, store)
    try:
        rollouts = [await store.start_rollout(input=i) for i in range(4)]

        def in_thread(i: int) -> None:
            r = rollouts[i]
            with tracer.trace_context(rollout_id=r.rollout_id, attempt_id=r.attempt.attempt_id):
                solve(i)

        async def in_task(i: int) -> None:
            r = rollouts[i]
            async with tracer.trace_context(rollout_id=r.rollout_id, attempt_id=r.attempt.attempt_id):
                await solve_async(i)

        threads = [threading.Thread(target=in_thread, args=(i,)) for i in (0, 1)]
        for thread in threads:
            thread.start()
        await asyncio.gather(in_task(2), in_task(3))
        for thread in threads:
            thread.join()
        for i, r in enumerate(rollouts):
            spans = await store.query_spans(r.rollout_id)
            assert _tree(spans) == EXPECTED, i
            [task] = [s for s in spans if s.name == "solve.task"]
            assert task.attributes["agentops.task.output"] == str(2 * i + 1)  # this rollout's own call
            assert {s.trace_id for s in spans} == {spans[0].trace_id}
    finally:
        tracer.teardown()


QUICKSTART = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, sys.argv[1] + "/examples")
    from agentlightning.testing import network
    network.install()
    network.activate()
    import agentlightning as agl
    from agentlightning.testing.cassettes import use_cassette
    from quickstart import TASKS, math_agent

    llm = agl.LLM(endpoint="http://127.0.0.1:9/v1", model="tiny-math", api_key="not-needed")
    with use_cassette(sys.argv[1] + "/cassettes/examples/quickstart.yaml", record_mode="none"):
        trainer = agl.Trainer(
            n_runners=2, tracer=agl.AgentOpsTracer(), store=agl.InMemoryLightningStore(),
            initial_resources={"main_llm": llm},
        )
        rollouts = trainer.dev(math_agent, TASKS)
    for rollout in rollouts:
        spans = trainer.store_query_spans(rollout.rollout_id)
        chats = [s for s in spans if s.attributes.get("gen_ai.operation.name") == "chat"]
        print(rollout.status, agl.find_final_reward(spans), len(chats), len(trainer.adapter.adapt(spans)))
    """
)


@pytest.mark.slow
def test_trainer_with_agentops_tracer_runs_the_quickstart_agent(tmp_path: Path) -> None:
    env = {**os.environ, ENV_RECORD: str(tmp_path / "attempts.txt")}
    out = subprocess.run(
        [sys.executable, "-c", QUICKSTART, str(ROOT)],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=tmp_path,
        env=env,
    )
    assert out.returncode == 0, out.stderr
    rows = [line.split() for line in out.stdout.strip().splitlines()]
    assert len(rows) == 5, out.stdout
    assert all(row[0] == "succeeded" and row[2] == "1" and row[3] == "1" for row in rows), rows  # one LLM span each
    assert sorted(float(row[1]) for row in rows) == [0.0, 1.0, 1.0, 1.0, 1.0]
    assert not (tmp_path / "attempts.txt").exists()
    assert not (tmp_path / "agentops.log").exists()


EXIT_FLUSH = textwrap.dedent(
    """
    import asyncio, sys
    import agentlightning as agl
    import agentops

    store = agl.SqliteLightningStore(sys.argv[1])
    tracer = agl.AgentOpsTracer()
    tracer.init()
    tracer.init_worker(0, store)
    attempted = asyncio.run(store.start_rollout(input=1))
    with tracer.trace_context(rollout_id=attempted.rollout_id, attempt_id=attempted.attempt.attempt_id):
        session = agentops.start_trace("late")  # still open when the context closes
    agentops.end_trace(session)  # ends after it: only the exit flush stores it
    print(attempted.rollout_id)
    """
)


@pytest.mark.slow
def test_a_span_ended_after_its_context_is_stored_at_process_exit(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    out = subprocess.run(
        [sys.executable, "-c", EXIT_FLUSH, str(db)], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr
    store = SqliteLightningStore(db)
    try:
        names = sorted(s.name for s in asyncio.run(store.query_spans(out.stdout.strip())))
    finally:
        store.close()
    assert names == ["agentlightning.rollout", "late.session"]
