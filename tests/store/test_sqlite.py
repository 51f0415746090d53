"""What only the SQLite store promises: persistence, file safety, several processes, surviving SIGKILL."""

from __future__ import annotations

import asyncio
import gc
import os
import re
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import pytest

from agentlightning.store import SqliteLightningStore
from agentlightning.store.sqlite import SCHEMA_VERSION, CorruptStoreError, NotASqliteDatabaseError
from agentlightning.types import LLM, RolloutConfig

from ._helpers import make_span, running_rollout

# A child process: open the store, wait at a barrier (files), then write spans in batches through
# add_otel_spans, printing "<batch>" after each committed batch. argv: db rollout attempt tag batches size.
_WRITER = textwrap.dedent(
    """
    import asyncio, pathlib, sys, time
    from opentelemetry.sdk.trace import TracerProvider
    from agentlightning.store import SqliteLightningStore

    db, rid, aid, tag, batches, size = sys.argv[1:7]
    store = SqliteLightningStore(db)
    tracer = TracerProvider(shutdown_on_exit=False).get_tracer("child")
    folder = pathlib.Path(db).parent
    (folder / f"{tag}.ready").touch()
    deadline = time.monotonic() + 20
    while len(list(folder.glob("*.ready"))) < int(sys.argv[7]) and time.monotonic() < deadline:
        time.sleep(0.005)

    async def main():
        batch = 0
        while int(batches) < 0 or batch < int(batches):
            items = []
            for i in range(int(size)):
                span = tracer.start_span(f"{tag}-{batch}-{i}", attributes={"batch": batch, "i": i})
                span.end()
                items.append((rid, aid, span))
            await store.add_otel_spans(items)
            print(batch, flush=True)
            batch += 1

    asyncio.run(main())
    """
)


def _writer(db: Path, rid: str, aid: str, tag: str, batches: int, size: int, parties: int) -> subprocess.Popen[str]:
    args = [sys.executable, "-c", _WRITER, str(db), rid, aid, tag, str(batches), str(size), str(parties)]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _integrity(db: Path) -> str:
    conn = sqlite3.connect(db)
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()


async def test_data_survives_reopening(tmp_path: Path) -> None:
    db = tmp_path / "nested" / "dir" / "store.db"  # parent directories are created
    with SqliteLightningStore(db) as store:
        resources = await store.add_resources({"llm": LLM(endpoint="http://a", model="a")})
        queued = [(await store.enqueue_rollout(i, config=RolloutConfig(max_attempts=2))).rollout_id for i in range(3)]
        rid, aid = await running_rollout(store)
        await store.add_many_spans([make_span(rid, aid, 1, "one"), make_span(rid, aid, 2, "two")])
        await store.update_attempt(rid, aid, status="succeeded")

    with SqliteLightningStore(db) as store:
        assert await store.get_latest_resources() == resources
        rollout = await store.get_rollout_by_id(rid)
        assert rollout is not None and rollout.status == "succeeded"
        assert [s.name for s in await store.query_spans(rid)] == ["one", "two"]
        assert await store.get_next_span_sequence_id(rid, aid) == 3  # the counter persisted too
        assert [(await store.dequeue_rollout()).rollout_id for _ in queued] == queued  # type: ignore[union-attr]
        assert (await store.get_rollout_by_id(queued[0])).config.max_attempts == 2  # type: ignore[union-attr]


def test_wal_mode_schema_version_and_integrity(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    SqliteLightningStore(db).close()
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    finally:
        conn.close()
    assert _integrity(db) == "ok"


def test_a_file_that_is_not_a_database_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    content = b"my precious notes\nthat are not a database at all\n" * 10
    path.write_bytes(content)
    with pytest.raises(ValueError, match=str(path)) as info:
        SqliteLightningStore(path)
    assert isinstance(info.value, NotASqliteDatabaseError)
    assert "not a SQLite database" in str(info.value)
    assert path.read_bytes() == content
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]  # no -wal / -shm left behind


def test_a_tiny_non_database_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "tiny.db"
    path.write_bytes(b"x")
    with pytest.raises(NotASqliteDatabaseError, match=str(path)):
        SqliteLightningStore(path)
    assert path.read_bytes() == b"x"


def test_another_applications_sqlite_database_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE notes (body TEXT)")
    conn.execute("INSERT INTO notes VALUES ('keep me')")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(NotASqliteDatabaseError, match=str(path)) as info:
        SqliteLightningStore(path)
    assert "'notes'" in str(info.value)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app.db"]


def test_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(NotASqliteDatabaseError, match="directory"):
        SqliteLightningStore(tmp_path)


async def test_an_empty_file_is_initialized(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    path.touch()
    with SqliteLightningStore(path) as store:
        assert (await store.enqueue_rollout("t")).status == "queuing"
    assert _integrity(path) == "ok"


async def test_a_damaged_store_raises_a_clear_error_at_the_first_read_and_write(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    with SqliteLightningStore(db) as store:
        for i in range(300):
            await store.enqueue_rollout({"text": "x" * 200, "i": i})
    with db.open("r+b") as file:  # keep page 1 (the schema), wipe the pages holding the rows
        file.seek(4096)
        file.write(b"\xff" * (db.stat().st_size - 4096))
    with SqliteLightningStore(db) as store:
        with pytest.raises(CorruptStoreError, match=r"store\.db' is damaged.*malformed.*new store path"):
            await store.query_rollouts()
        with pytest.raises(sqlite3.DatabaseError, match=r"is damaged"):  # still a sqlite3.DatabaseError
            await store.enqueue_rollout("more")


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    SqliteLightningStore(db).close()
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(ValueError, match="newer"):
        SqliteLightningStore(db)


async def test_a_schema_1_store_is_upgraded_in_place_and_keeps_its_rollouts(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    with SqliteLightningStore(db) as store:
        old = await store.enqueue_rollout({"from": "0.3 store"})
    conn = sqlite3.connect(db)  # turn it back into what schema 1 wrote: no run_id column
    conn.execute("DROP INDEX rollouts_by_run")
    conn.execute("ALTER TABLE rollouts DROP COLUMN run_id")
    conn.execute("DROP INDEX queue_by_run")
    conn.execute("ALTER TABLE queue DROP COLUMN run_id")
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    with SqliteLightningStore(db) as store:
        assert (await store.get_rollout_by_id(old.rollout_id)) == old
        new = await store.enqueue_rollout("new", run_id="run-a")
        assert await store.dequeue_rollout(run_id="run-b") is None
        taken = await store.dequeue_rollout(run_id="run-a")
        assert taken is not None and taken.rollout_id == new.rollout_id
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 2
    conn.close()


# A child process for the concurrent first-open test: for each trial, meet the other child at a barrier
# (files), then open a brand-new store on the trial's path and enqueue one rollout. argv: root tag trials.
_OPENER = textwrap.dedent(
    """
    import asyncio, pathlib, sys, time
    from agentlightning.store import SqliteLightningStore

    root, tag, trials = pathlib.Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    for trial in range(trials):
        folder = root / str(trial)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{tag}.ready").touch()
        deadline = time.monotonic() + 20
        while len(list(folder.glob("*.ready"))) < 2 and time.monotonic() < deadline:
            pass
        try:
            with SqliteLightningStore(folder / "store.db") as store:
                asyncio.run(store.enqueue_rollout(tag))
        except Exception as exc:
            print(f"trial {trial}: {type(exc).__name__}: {exc}", flush=True)
    """
)


@pytest.mark.slow
async def test_two_processes_creating_a_new_store_at_the_same_instant_both_succeed(tmp_path: Path) -> None:
    trials = 150
    children = [
        subprocess.Popen(
            [sys.executable, "-c", _OPENER, str(tmp_path), tag, str(trials)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for tag in ("a", "b")
    ]
    outputs = [child.communicate(timeout=120) for child in children]
    assert [child.returncode for child in children] == [0, 0], outputs
    assert [out for out, _ in outputs] == ["", ""]  # no trial failed in either process
    for trial in range(trials):
        with SqliteLightningStore(tmp_path / str(trial) / "store.db") as store:
            assert sorted(r.input for r in await store.query_rollouts()) == ["a", "b"]
        assert _integrity(tmp_path / str(trial) / "store.db") == "ok"


async def test_in_memory_database(tmp_path: Path) -> None:
    with SqliteLightningStore(":memory:") as store:
        rid, aid = await running_rollout(store)
        await store.add_span(make_span(rid, aid, 1))
        assert len(await store.query_spans(rid)) == 1


async def test_two_stores_on_one_file_see_each_other(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    with SqliteLightningStore(db) as a, SqliteLightningStore(db) as b:
        rid, aid = await running_rollout(a)

        async def finish_through_b() -> None:
            await asyncio.sleep(0.05)
            await b.update_attempt(rid, aid, status="succeeded")

        task = asyncio.create_task(finish_through_b())
        started = time.monotonic()
        [done] = await a.wait_for_rollouts([rid], timeout=10)  # a learns of b's commit via data_version
        assert time.monotonic() - started < 5 and done.status == "succeeded"
        await task


@pytest.mark.slow
async def test_two_processes_write_spans_concurrently(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    with SqliteLightningStore(db) as store:
        rid, aid = await running_rollout(store)
        batches, size = 10, 100
        children = [_writer(db, rid, aid, tag, batches, size, parties=2) for tag in ("p1", "p2")]
        for child in children:
            out, err = child.communicate(timeout=60)
            assert child.returncode == 0, err
            assert out.split() == [str(b) for b in range(batches)]

        spans = await store.query_spans(rid)
        seqs = [s.sequence_id for s in spans]
        assert len(spans) == 2 * batches * size
        assert len(set(seqs)) == len(seqs) and seqs == sorted(seqs)
        for tag in ("p1", "p2"):  # each writer's spans are numbered in the order it wrote them
            mine = [s.name for s in spans if s.name.startswith(f"{tag}-")]
            assert mine == [f"{tag}-{b}-{i}" for b in range(batches) for i in range(size)]
        assert await store.get_next_span_sequence_id(rid, aid) == 2 * batches * size + 1
    assert _integrity(db) == "ok"


@pytest.mark.slow
async def test_two_processes_dequeue_distinct_rollouts(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    script = textwrap.dedent(
        """
        import asyncio, sys
        from agentlightning.store import SqliteLightningStore

        async def main():
            store = SqliteLightningStore(sys.argv[1])
            while (attempted := await store.dequeue_rollout(worker_id=sys.argv[2])) is not None:
                print(attempted.rollout_id, flush=True)

        asyncio.run(main())
        """
    )
    with SqliteLightningStore(db) as store:
        ids = [(await store.enqueue_rollout(i)).rollout_id for i in range(60)]
    children = [
        subprocess.Popen([sys.executable, "-c", script, str(db), f"w{n}"], stdout=subprocess.PIPE, text=True)
        for n in range(2)
    ]
    taken = [child.communicate(timeout=60)[0].split() for child in children]
    assert all(child.returncode == 0 for child in children)
    assert sorted(taken[0] + taken[1]) == sorted(ids)  # every rollout handed out exactly once
    with SqliteLightningStore(db) as store:
        statuses = {r.status for r in await store.query_rollouts()}
        assert statuses == {"preparing"}


@pytest.mark.slow
async def test_sigkill_mid_stream_loses_no_committed_batch(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    size = 200
    with SqliteLightningStore(db) as store:
        rid, aid = await running_rollout(store)
    child = _writer(db, rid, aid, "k", batches=-1, size=size, parties=1)  # writes until killed
    assert child.stdout is not None
    reported: list[int] = []
    while len(reported) < 5:
        line = child.stdout.readline()
        assert line, child.stderr.read() if child.stderr else "child died"
        reported.append(int(line))
    os.kill(child.pid, signal.SIGKILL)
    rest, _ = child.communicate(timeout=30)
    reported += [int(line) for line in rest.split()]  # printed before the kill: committed too
    assert child.returncode == -signal.SIGKILL

    assert _integrity(db) == "ok"
    with SqliteLightningStore(db) as store:
        spans = await store.query_spans(rid)
        names = {s.name for s in spans}
        for batch in reported:
            assert {f"k-{batch}-{i}" for i in range(size)} <= names
        seqs = [s.sequence_id for s in spans]
        assert len(set(seqs)) == len(seqs)
        assert len(spans) % size == 0  # a batch is all there or not at all
        assert await store.get_next_span_sequence_id(rid, aid) > max(seqs)
    assert _integrity(db) == "ok"


class _Task:  # a plain class: pydantic cannot turn it into JSON
    def __init__(self, question: str) -> None:
        self.question = question


async def test_input_or_metadata_that_is_not_json_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    hint = r"must be JSON-serializable to be stored in SqliteLightningStore \(got [\w.]*_Task{}\): "
    hint += "use plain data, a dataclass or a pydantic model, or InMemoryLightningStore"
    plain, keyed = hint.format(""), hint.format(" under key 'task'")
    with SqliteLightningStore(tmp_path / "store.db") as store:
        with pytest.raises(TypeError, match=f"Rollout input {plain}"):
            await store.enqueue_rollout(_Task("2+2"))
        with pytest.raises(TypeError, match=f"Rollout input {plain}"):
            await store.start_rollout(_Task("2+2"))
        with pytest.raises(TypeError, match=f"Rollout metadata {keyed}"):
            await store.enqueue_rollout("2+2", metadata={"ok": 1, "task": _Task("2+2")})
        assert await store.query_rollouts() == [] and await store.dequeue_rollout() is None

        rid, aid = await running_rollout(store)
        before = await store.get_rollout_by_id(rid)
        with pytest.raises(TypeError, match=f"Rollout input {plain}"):
            await store.update_rollout(rid, input=_Task("2+2"), status="cancelled")
        with pytest.raises(TypeError, match=f"Attempt metadata {keyed}"):
            await store.update_attempt(rid, aid, metadata={"task": _Task("2+2")}, status="succeeded")
        assert await store.get_rollout_by_id(rid) == before
        assert [a.status for a in await store.query_attempts(rid)] == ["preparing"]
        await store.update_attempt(rid, aid, status="succeeded")  # the store is still usable
        assert (await store.get_rollout_by_id(rid)).status == "succeeded"  # type: ignore[union-attr]


async def test_using_a_closed_store_raises_a_clear_runtime_error(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    store = SqliteLightningStore(db)
    rid, aid = await running_rollout(store)
    store.close()
    store.close()
    closed = f"{re.escape(str(db))}.* was closed"
    with pytest.raises(RuntimeError, match=closed):
        await store.enqueue_rollout("t")
    with pytest.raises(RuntimeError, match=closed):
        await store.get_rollout_by_id(rid)
    with pytest.raises(RuntimeError, match=closed):
        await store.query_spans(rid)
    with pytest.raises(RuntimeError, match=closed):
        await store.add_span(make_span(rid, aid, 1))
    with pytest.raises(RuntimeError, match=closed):
        await store.wait_for_rollouts([rid], timeout=5)


def test_a_store_dropped_without_close_warns_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Python 3.13+ warns (ResourceWarning, from a destructor) about a sqlite3 connection never closed.
    unraisable: list[str] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: unraisable.append(f"{u.exc_type.__name__}: {u.exc_value}"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        store = SqliteLightningStore(tmp_path / "store.db")
        asyncio.run(store.enqueue_rollout("t"))
        del store
        gc.collect()
    assert unraisable == [] and [str(w.message) for w in caught] == []
    with SqliteLightningStore(tmp_path / "store.db") as again:  # what it committed is there
        assert len(asyncio.run(again.query_rollouts())) == 1


async def test_a_time_limit_of_an_attempt_started_by_another_process_is_applied_here(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    with SqliteLightningStore(db) as a, SqliteLightningStore(db) as b:
        long_rid, _ = await running_rollout(a, config=RolloutConfig(unresponsive_seconds=300))
        assert await a.get_rollout_by_id(long_rid) is not None  # a read: a knows nothing is due for 5 min
        short_rid, _ = await running_rollout(b, config=RolloutConfig(timeout_seconds=0.1))
        await asyncio.sleep(0.25)
        rollout = await a.get_rollout_by_id(short_rid)  # b has not read since: a applies the limit
        assert rollout is not None and rollout.status == "failed"
        assert [x.status for x in await a.query_attempts(short_rid)] == ["timeout"]
