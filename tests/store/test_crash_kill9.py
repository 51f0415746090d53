"""Crash safety of the SQLite store (issue 15): kill -9 of a writer at 100 random points loses nothing it acknowledged.

One writer process after another opens the same file, starts rollouts and adds spans (single spans and batches),
and sends an acknowledgement only after each store call returned. The test kills each writer with SIGKILL
after a random number of acknowledgements plus a random sub-millisecond delay (so most kills land inside a
write), then checks the file (``PRAGMA integrity_check``) and lets the next writer carry on from there. At the
end every acknowledged span is in the store exactly once, with unique sequence ids per rollout.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import sqlite3
import time
from pathlib import Path

import pytest

from agentlightning.store import SqliteLightningStore

from ._crash_writer import _writer

KILLS = 100


def _integrity(db: Path) -> str:
    conn = sqlite3.connect(db)
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()


@pytest.mark.slow
async def test_kill9_at_100_random_points_loses_no_acknowledged_span(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    SqliteLightningStore(db).close()
    rng = random.Random(15)
    acked: dict[str, list[str]] = {}  # rollout -> acknowledged span names
    succeeded: set[str] = set()
    # forkserver with the store preloaded: a writer starts in milliseconds, and no thread of this process is forked.
    # The writer's module imports only the store; pytest is preloaded too, since each child re-runs the parent's
    # main script (pytest's), which imports it.
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["agentlightning.store.sqlite", "agentlightning.types", "pytest"])
    for round_ in range(KILLS):
        receiver, sender = context.Pipe(duplex=False)
        child = context.Process(target=_writer, args=(str(db), f"w{round_}", rng.getrandbits(32), sender), daemon=True)
        child.start()
        sender.close()
        messages: list[tuple[str, str, list[str]]] = []
        wanted = rng.randint(1, 25)
        while len(messages) < wanted:
            assert receiver.poll(60), f"writer {round_} stopped acknowledging"
            messages.append(receiver.recv())
        if rng.random() < 0.8:  # mostly inside the next write, sometimes between writes
            deadline = time.perf_counter() + rng.random() * 0.002
            while time.perf_counter() < deadline:
                pass
        assert child.pid is not None
        os.kill(child.pid, signal.SIGKILL)
        child.join(30)
        assert child.exitcode == -signal.SIGKILL, f"writer {round_} ended by itself: {child.exitcode}"
        while receiver.poll(0):  # sent before the kill: acknowledged
            try:
                messages.append(receiver.recv())
            except EOFError:
                break
        receiver.close()
        for kind, rid, names in messages:
            acked.setdefault(rid, []).extend(names)
            if kind == "D":
                succeeded.add(rid)
        assert _integrity(db) == "ok", f"after kill {round_}"

    with SqliteLightningStore(db) as store:  # the next run proceeds on the same file
        for rid, names in acked.items():
            spans = await store.query_spans(rid)
            stored = [s.name for s in spans]
            assert set(names) <= set(stored), f"rollout {rid} lost acknowledged spans"
            assert len(stored) == len(set(stored)), f"rollout {rid} has duplicated spans"
            seqs = [s.sequence_id for s in spans]
            assert len(set(seqs)) == len(seqs)
            rollout = await store.get_rollout_by_id(rid)
            assert rollout is not None
            if rid in succeeded:
                assert rollout.status == "succeeded"
        rid = (await store.start_rollout({"after": "crashes"})).rollout_id
        assert await store.get_rollout_by_id(rid) is not None
    assert sum(map(len, acked.values())) > KILLS  # the writers did write
    assert _integrity(db) == "ok"
