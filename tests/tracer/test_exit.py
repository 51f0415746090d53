"""After a run: spans that end late are stored or their loss is reported with a count, and no false warning
appears (issue 7 item 8). Each case is a real process, since what matters happens at its exit."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from agentlightning.store.sqlite import SqliteLightningStore

FALSE_WARNING = "could not store"

# A sync agent that outlives its rollout's timeout on the runner's thread: its spans end after fit returned.
LATE = textwrap.dedent(
    """
    import sys, time, threading
    from opentelemetry import trace
    import agentlightning as agl

    db, mode = sys.argv[1], sys.argv[2]
    user = trace.get_tracer("agent")
    release = threading.Event()

    @agl.rollout
    def agent(task, llm):
        with user.start_as_current_span("slow step"):
            release.wait(30)          # abandoned: the rollout times out meanwhile
            agl.emit_message("late")

    @agl.algo
    async def algorithm(store):
        r = await store.enqueue_rollout(input=1, config=agl.RolloutConfig(timeout_seconds=0.3))
        while not await store.wait_for_rollouts([r.rollout_id], timeout=0.2):
            pass
        print(r.rollout_id, flush=True)

    store = agl.SqliteLightningStore(db)
    llm = agl.LLM(endpoint="http://127.0.0.1:1/v1", model="m")
    agl.Trainer(n_runners=1, store=store, algorithm=algorithm, initial_resources={"llm": llm}).fit(agent)
    if mode == "close-store":
        store.close()               # the user's clean-up: late spans have nowhere to go
    if mode != "exit-now":
        release.set()               # the abandoned thread finishes its spans now, after fit returned
        time.sleep(0.5)
    """
)


def _run(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120)


def _span_names(db: Path, rollout_id: str) -> list[str]:
    store = SqliteLightningStore(db)
    try:
        return sorted(s.name for s in asyncio.run(store.query_spans(rollout_id)))
    finally:
        store.close()


@pytest.mark.slow
def test_spans_of_an_abandoned_thread_ending_after_fit_are_stored(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    out = _run(LATE, str(db), "wait")
    assert out.returncode == 0, out.stderr
    assert "exceeded its timeout" in out.stderr
    assert FALSE_WARNING not in out.stderr and "still open" not in out.stderr, out.stderr
    assert _span_names(db, out.stdout.strip()) == ["agentlightning.message", "agentlightning.rollout", "slow step"]


@pytest.mark.slow
def test_spans_still_open_at_exit_are_reported_with_their_count(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    out = _run(LATE, str(db), "exit-now")
    assert out.returncode == 0, out.stderr
    rollout_id = out.stdout.strip()
    assert f"1 spans of rollout(s) {rollout_id} were still open at exit" in out.stderr, out.stderr
    assert _span_names(db, rollout_id) == ["agentlightning.rollout"]


@pytest.mark.slow
def test_late_spans_that_cannot_be_stored_are_reported_with_their_count(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    out = _run(LATE, str(db), "close-store")
    assert out.returncode == 0, out.stderr
    rollout_id = out.stdout.strip()
    assert f"could not store 2 spans of rollout '{rollout_id}'" in out.stderr, out.stderr
    assert _span_names(db, rollout_id) == ["agentlightning.rollout"]


RAISING = textwrap.dedent(
    """
    import asyncio
    import agentlightning as agl

    @agl.rollout
    def agent(task, llm):
        agl.emit_message(f"task {task}")
        if task == 1:
            raise RuntimeError("boom")
        return 1.0

    llm = agl.LLM(endpoint="http://127.0.0.1:1/v1", model="m")
    trainer = agl.Trainer(n_runners=2, store=agl.InMemoryLightningStore(), initial_resources={"llm": llm})
    print(sorted(r.status for r in trainer.dev(agent, [0, 1, 2])))

    store = agl.InMemoryLightningStore()
    tracer = agl.OtelTracer()
    with tracer.lifespan(store):
        r = asyncio.run(store.start_rollout(input=1))
        with tracer.trace_context(rollout_id=r.rollout_id, attempt_id=r.attempt.attempt_id):
            agl.emit_message("in lifespan")
    print(len(tracer.get_last_trace()))
    """
)


@pytest.mark.slow
def test_no_false_warning_after_a_raising_rollout_or_lifespan() -> None:
    out = _run(RAISING)
    assert out.returncode == 0, out.stderr
    assert FALSE_WARNING not in out.stderr, out.stderr
    assert "Rollout" in out.stderr and "boom" in out.stderr  # the agent's failure is reported, as it should be
    assert out.stdout.split("\n")[:2] == ["['failed', 'succeeded', 'succeeded']", "2"]  # a message and the root


INTERRUPTED = textwrap.dedent(
    """
    import sys, time
    import agentlightning as agl

    @agl.rollout
    def agent(task, llm):
        agl.emit_message(f"task {task}")
        sys.stdout.write("working\\n"); sys.stdout.flush()  # one write: two runner threads print
        time.sleep(0.3)
        return 1.0

    llm = agl.LLM(endpoint="http://127.0.0.1:1/v1", model="m")
    store = agl.SqliteLightningStore(sys.argv[1])
    agl.Trainer(n_runners=2, store=store, initial_resources={"llm": llm}).dev(agent, list(range(40)))
    """
)


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(signal, "SIGINT"), reason="needs SIGINT")
def test_no_false_warning_after_ctrl_c(tmp_path: Path) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", INTERRUPTED, str(tmp_path / "store.db")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    try:
        for _ in range(3):
            assert child.stdout.readline().startswith("working")
        os.kill(child.pid, signal.SIGINT)
        _, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:  # a failed assertion must not leave the child (and a ResourceWarning) behind
            child.kill()
            child.communicate()
    assert "KeyboardInterrupt" in err
    assert FALSE_WARNING not in err, err
