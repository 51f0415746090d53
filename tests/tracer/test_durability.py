"""What the tracer wrote survives: a SIGKILL loses no span of a closed trace context, process exit flushes the rest,
and two processes tracing into one SQLite store lose nothing."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from agentlightning.store.sqlite import SqliteLightningStore

SPANS_PER_CONTEXT = 20

CHILD = textwrap.dedent(
    """
    import sys
    from opentelemetry import trace
    from agentlightning._utils import run_sync
    from agentlightning.store.sqlite import SqliteLightningStore
    from agentlightning.tracer.otel import OtelTracer

    path, count, straggler = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
    store = SqliteLightningStore(path)
    if len(sys.argv) > 4:  # the user's own clean-up, registered after agentlightning was imported
        import atexit
        atexit.register(store.close)
    tracer = OtelTracer()
    tracer.init()
    tracer.init_worker(0, store)
    user = trace.get_tracer("child")
    i = 0
    while count < 0 or i < count:
        r = run_sync(store.start_rollout(input=i))
        with tracer.trace_context(rollout_id=r.rollout_id, attempt_id=r.attempt.attempt_id):
            for j in range(SPANS):
                with user.start_as_current_span(f"s{j}") as span:
                    span.set_attribute("payload", "x" * 200)
            late = user.start_span("late") if straggler else None
        print(r.rollout_id, flush=True)
        if late is not None:
            late.end()  # ends after its context closed: only the exit flush can store it
        i += 1
    """
).replace("SPANS", str(SPANS_PER_CONTEXT))


def _child(db: Path, count: int, straggler: bool = False, close_at_exit: bool = False) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, str(db), str(count), "1" if straggler else "0"]
        + (["close"] if close_at_exit else []),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _span_names(db: Path, rollout_id: str) -> list[str]:
    store = SqliteLightningStore(db)
    try:
        return [s.name for s in asyncio.run(store.query_spans(rollout_id))]
    finally:
        store.close()


def _integrity(db: Path) -> str:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_sigkill_loses_no_span_of_a_closed_context(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    child = _child(db, count=-1)
    assert child.stdout is not None
    reported: list[str] = []
    while len(reported) < 40:
        line = child.stdout.readline()
        assert line, f"child exited early: {child.stderr.read() if child.stderr else ''}"
        reported.append(line.strip())
    os.kill(child.pid, signal.SIGKILL)
    child.communicate()  # reap it and close its pipes
    assert child.returncode == -signal.SIGKILL
    assert _integrity(db) == "ok"
    for rollout_id in reported:
        expected = [f"s{j}" for j in range(SPANS_PER_CONTEXT)] + ["agentlightning.rollout"]
        assert sorted(_span_names(db, rollout_id)) == sorted(expected)


@pytest.mark.slow
@pytest.mark.parametrize("close_at_exit", [False, True], ids=["plain-exit", "user-closes-store-at-exit"])
def test_process_exit_flushes_spans_that_ended_after_their_context(tmp_path: Path, close_at_exit: bool) -> None:
    db = tmp_path / "store.db"
    child = _child(db, count=3, straggler=True, close_at_exit=close_at_exit)
    out, err = child.communicate(timeout=120)
    assert child.returncode == 0, err
    for rollout_id in out.split():
        assert "late" in _span_names(db, rollout_id)


@pytest.mark.slow
def test_two_processes_tracing_into_one_store_lose_nothing(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    SqliteLightningStore(db).close()  # create the schema once, as a user's first run would
    children = [_child(db, count=25) for _ in range(2)]
    outputs = [c.communicate(timeout=120) for c in children]
    for child, (_, err) in zip(children, outputs, strict=True):
        assert child.returncode == 0, err
    rollout_ids = [rid for out, _ in outputs for rid in out.split()]
    assert len(rollout_ids) == 50
    for rollout_id in rollout_ids:
        assert len(_span_names(db, rollout_id)) == SPANS_PER_CONTEXT + 1  # and the context's root span
    assert _integrity(db) == "ok"
