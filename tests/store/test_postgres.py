"""What only the PostgreSQL store promises: a shared schema of its own, many processes and hosts, NOTIFY, restarts.

The shared store suite (``tests/store``) runs on PostgreSQL too, through the ``store`` fixture; these tests
cover what it cannot: several store objects (as on several hosts) on one database, a real race of worker
processes, and a database that restarts under a running store.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from opentelemetry.sdk.trace import Tracer

from agentlightning.store import LightningStore, open_store
from agentlightning.store.postgres import (
    SCHEMA_VERSION,
    CommitOutcomeUnknownError,
    NotAnAgentlightningDatabaseError,
    PostgresLightningStore,
)
from agentlightning.testing.postgres import TemporaryPostgres
from agentlightning.types import RolloutConfig

from ._helpers import finished_span, make_span, running_rollout

MakeStore = Callable[..., PostgresLightningStore]


def _schema() -> str:
    return f"t_{uuid.uuid4().hex[:16]}"


@pytest.fixture
def dsn(postgres_server: TemporaryPostgres) -> str:
    return postgres_server.dsn()


async def test_data_survives_reopening_and_the_schema_records_owner_and_version(dsn: str) -> None:
    schema = _schema()
    with PostgresLightningStore(dsn, schema=schema) as store:
        queued = [(await store.enqueue_rollout(i)).rollout_id for i in range(3)]
        rid, aid = await running_rollout(store)
        await store.add_many_spans([make_span(rid, aid, 1, "one"), make_span(rid, aid, 2, "two")])
        await store.update_attempt(rid, aid, status="succeeded")

    with PostgresLightningStore(dsn, schema=schema) as store:
        rollout = await store.get_rollout_by_id(rid)
        assert rollout is not None and rollout.status == "succeeded"
        assert [s.name for s in await store.query_spans(rid)] == ["one", "two"]
        assert await store.get_next_span_sequence_id(rid, aid) == 3
        assert [(await store.dequeue_rollout()).rollout_id for _ in queued] == queued  # type: ignore[union-attr]

    with psycopg.connect(dsn) as conn:
        info = dict(conn.execute(f"SELECT key, value FROM {schema}.store_info").fetchall())
    assert info == {"owner": "agentlightning", "schema_version": str(SCHEMA_VERSION)}


def test_a_schema_of_another_application_is_refused_and_left_untouched(dsn: str) -> None:
    schema = _schema()
    with psycopg.connect(dsn) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
        conn.execute(f"CREATE TABLE {schema}.invoices (id int PRIMARY KEY, total numeric)")
        conn.execute(f"INSERT INTO {schema}.invoices VALUES (1, 9.5)")
    with pytest.raises(NotAnAgentlightningDatabaseError, match="belongs to something else") as info:
        PostgresLightningStore(dsn, schema=schema)
    assert "'invoices'" in str(info.value) and "schema=" in str(info.value)
    with psycopg.connect(dsn) as conn:
        tables = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s", (schema,)).fetchall()
        assert tables == [("invoices",)]
        assert conn.execute(f"SELECT id, total FROM {schema}.invoices").fetchall() == [(1, 9.5)]


def test_a_newer_schema_is_refused(dsn: str) -> None:
    schema = _schema()
    PostgresLightningStore(dsn, schema=schema).close()
    with psycopg.connect(dsn) as conn:
        conn.execute(f"UPDATE {schema}.store_info SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(NotAnAgentlightningDatabaseError, match="schema 99, newer than"):
        PostgresLightningStore(dsn, schema=schema)


def test_other_schemas_of_the_database_are_left_alone(dsn: str) -> None:
    other = _schema()
    with psycopg.connect(dsn) as conn:
        conn.execute(f"CREATE SCHEMA {other}")
        conn.execute(f"CREATE TABLE {other}.users (id int)")
    PostgresLightningStore(dsn, schema=_schema()).close()  # the database may hold other applications' tables
    with psycopg.connect(dsn) as conn:
        assert conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s", (other,)).fetchall() == [
            ("users",)
        ]


def test_many_stores_may_create_the_same_schema_at_once(dsn: str) -> None:
    schema = _schema()
    stores: list[PostgresLightningStore] = []
    errors: list[BaseException] = []

    def open_one() -> None:
        try:
            stores.append(PostgresLightningStore(dsn, schema=schema))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for store in stores:
        store.close()
    assert errors == [] and len(stores) == 6


def test_bad_arguments_say_what_is_wrong(postgres_server: TemporaryPostgres) -> None:
    with pytest.raises(ValueError, match="schema must be a lower-case SQL identifier"):
        PostgresLightningStore(postgres_server.dsn(), schema="Robert'); DROP TABLE students;--")
    missing = f"postgresql://postgres:hunter2@/nosuchdb?host={postgres_server.socket_dir}&port={postgres_server.port}"
    with pytest.raises(ConnectionError, match=r"could not connect to .*nosuchdb") as info:
        PostgresLightningStore(missing)
    assert "hunter2" not in str(info.value)  # the password never reaches a log


async def test_using_a_closed_store_raises_a_clear_runtime_error(make_postgres_store: MakeStore) -> None:
    store = make_postgres_store()
    store.close()
    store.close()  # idempotent
    with pytest.raises(RuntimeError, match="was closed"):
        await store.enqueue_rollout({"x": 1})
    with pytest.raises(RuntimeError, match="was closed"):
        await store.wait_for_rollouts(["ro-000000000000"], timeout=0)


async def test_a_waiter_is_woken_by_another_hosts_commit(make_postgres_store: MakeStore) -> None:
    """Two store objects share nothing but the database, as on two hosts: only NOTIFY can wake the waiter."""
    schema = _schema()
    trainer, worker = make_postgres_store(schema=schema), make_postgres_store(schema=schema)
    try:
        rollout = await trainer.enqueue_rollout({"q": 1})
        waiting = asyncio.create_task(trainer.wait_for_rollouts([rollout.rollout_id]))  # no timeout: NOTIFY or hang
        attempted = await worker.dequeue_rollout("w1")
        assert attempted is not None
        await asyncio.sleep(0.05)
        assert not waiting.done()
        await worker.update_attempt(attempted.rollout_id, "latest", status="succeeded")
        [done] = await asyncio.wait_for(waiting, timeout=30)
        assert done.rollout_id == rollout.rollout_id and done.status == "succeeded"
    finally:
        trainer.close()
        worker.close()


async def test_a_silent_worker_is_detected_by_the_store_and_its_rollout_retried_elsewhere(
    make_postgres_store: MakeStore,
) -> None:
    schema = _schema()
    config = RolloutConfig(unresponsive_seconds=0.2, max_attempts=2, retry_condition=["unresponsive"])
    with make_postgres_store(schema=schema) as gone:
        rollout = await gone.enqueue_rollout({"q": 1}, config=config)
        first = await gone.dequeue_rollout("w-gone")
        assert first is not None and first.rollout_id == rollout.rollout_id
    # the first worker's host went away without a word; another host, another store object:
    with make_postgres_store(schema=schema) as other:
        finished = await other.wait_for_rollouts([rollout.rollout_id], timeout=0.5)  # wakes on its time-limit tick
        assert finished == []
        second = await other.dequeue_rollout("w-other")
        assert second is not None and second.rollout_id == rollout.rollout_id
        assert second.attempt.sequence_id == 2
        assert [a.status for a in await other.query_attempts(rollout.rollout_id)] == ["unresponsive", "preparing"]


def test_concurrent_writers_get_unique_strictly_increasing_sequence_ids(
    make_postgres_store: MakeStore, otel_tracer: Tracer
) -> None:
    schema = _schema()
    owner = make_postgres_store(schema=schema)
    rid, aid = asyncio.run(running_rollout(owner))
    writers, batches, size = 4, 25, 4
    got: dict[int, list[int]] = {}

    def write(tag: int) -> None:
        async def main() -> list[int]:
            with make_postgres_store(schema=schema) as store:
                ids: list[int] = []
                for batch in range(batches):
                    spans = [finished_span(otel_tracer, f"w{tag}-{batch}-{i}") for i in range(size)]
                    stored = await store.add_otel_spans([(rid, aid, span) for span in spans])
                    ids += [span.sequence_id for span in stored]
                    ids.append(await store.get_next_span_sequence_id(rid, aid))
                return ids

        got[tag] = asyncio.run(main())

    threads = [threading.Thread(target=write, args=(tag,)) for tag in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        for ids in got.values():
            assert ids == sorted(ids) and len(set(ids)) == len(ids)  # each writer sees its ids increase
        every = sorted(i for ids in got.values() for i in ids)
        total = writers * batches * (size + 1)
        assert every == list(range(1, total + 1))  # no id given twice, none skipped
        stored = asyncio.run(owner.query_spans(rid))
        assert len(stored) == writers * batches * size
        assert [s.sequence_id for s in stored] == sorted(s.sequence_id for s in stored)
    finally:
        owner.close()


# A worker process: dequeue until the queue is empty, print each rollout id taken. argv: dsn schema tag.
_DEQUEUER = textwrap.dedent(
    """
    import asyncio, sys
    from agentlightning.store.postgres import PostgresLightningStore

    dsn, schema, tag = sys.argv[1:4]

    async def main():
        with PostgresLightningStore(dsn, schema=schema, max_connections=1) as store:
            taken = []
            while (attempted := await store.dequeue_rollout(worker_id=tag)) is not None:
                taken.append(attempted.rollout_id)
            print("\\n".join(taken), flush=True)

    asyncio.run(main())
    """
)


@pytest.mark.slow
async def test_eight_processes_dequeue_ten_thousand_rollouts_each_exactly_once(dsn: str) -> None:
    schema = _schema()
    count, workers = 10_000, 8
    with PostgresLightningStore(dsn, schema=schema) as store:
        ids = {(await store.enqueue_rollout(i)).rollout_id for i in range(count)}
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", _DEQUEUER, dsn, schema, f"w{n}"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for n in range(workers)
        ]
        outputs = [proc.communicate(timeout=300) for proc in procs]
        for proc, (_, err) in zip(procs, outputs, strict=True):
            assert proc.returncode == 0, err
        taken = [rid for out, _ in outputs for rid in out.split()]
        assert len(taken) == count and set(taken) == ids  # every rollout taken, none twice
        assert sum(1 for out, _ in outputs if out.split()) > 1  # the work was really shared
        assert await store.query_rollouts(status_in=["queuing"]) == []
        with psycopg.connect(dsn) as conn:
            rows = conn.execute(
                f"SELECT count(*), count(DISTINCT rollout_id), max(sequence_id) FROM {schema}.attempts"
            ).fetchone()
        assert rows == (count, count, 1)  # exactly one attempt per rollout


@pytest.fixture
def own_server() -> Iterator[TemporaryPostgres]:
    """A server of the test's own, so that restarting it disturbs no other test."""
    with TemporaryPostgres() as server:
        yield server


@pytest.mark.slow
async def test_a_database_restart_loses_no_acknowledged_span_and_the_store_carries_on(
    own_server: TemporaryPostgres, otel_tracer: Tracer
) -> None:
    store = PostgresLightningStore(own_server.dsn(), reconnect_timeout=60)
    try:
        rid, aid = await running_rollout(store)
        waiting = asyncio.create_task(store.wait_for_rollouts([rid]))  # its listener must survive the restarts
        acknowledged: list[str] = []
        unknown: list[str] = []  # batches whose connection broke during COMMIT: saved or not, the store cannot tell
        stop = asyncio.Event()

        async def write() -> None:
            batch = 0
            while not stop.is_set():
                names = [f"b{batch}-{i}" for i in range(5)]
                try:
                    await store.add_otel_spans([(rid, aid, finished_span(otel_tracer, name)) for name in names])
                except CommitOutcomeUnknownError:
                    unknown.extend(names)
                else:
                    acknowledged.extend(names)  # add_otel_spans returned: the batch is committed
                batch += 1
                await asyncio.sleep(0.005)

        writer = asyncio.create_task(write())
        for mode in ("immediate", "fast"):  # a crash-like stop, then an orderly one
            await asyncio.sleep(0.3)
            before = len(acknowledged)
            await asyncio.to_thread(own_server.restart, mode)  # type: ignore[arg-type]
            await asyncio.sleep(0.5)
            assert len(acknowledged) > before  # writing went on after the restart
        stop.set()
        await writer

        stored = [span.name for span in await store.query_spans(rid)]
        assert set(acknowledged) <= set(stored) <= set(acknowledged) | set(unknown)
        assert len(stored) == len(set(stored))  # a retried batch was not stored twice
        sequence = [span.sequence_id for span in await store.query_spans(rid)]
        assert sequence == sorted(sequence) and len(set(sequence)) == len(sequence)

        assert not waiting.done()
        await store.update_attempt(rid, aid, status="succeeded")
        [done] = await asyncio.wait_for(waiting, timeout=30)
        assert done.status == "succeeded"
    finally:
        store.close()


async def test_open_store_picks_the_backend_from_the_url(
    dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[LightningStore] = []
    try:
        opened.append(open_store(dsn))
        assert isinstance(opened[-1], PostgresLightningStore)
        monkeypatch.setenv("AGENTLIGHTNING_STORE", dsn.replace("postgresql://", "postgres://", 1))
        opened.append(open_store())
        assert isinstance(opened[-1], PostgresLightningStore)
    finally:
        for store in opened:
            store.close()


async def test_runs_keep_their_rollouts_apart(make_postgres_store: MakeStore) -> None:
    """Shared decision 1 (run isolation), on PostgreSQL: run_id on the rollout, and every filter by it."""
    with make_postgres_store() as store:
        a1 = await store.enqueue_rollout({"n": 1}, run_id="run-a")
        b1 = await store.enqueue_rollout({"n": 2}, run_id="run-b")
        free = await store.enqueue_rollout({"n": 3})
        started = await store.start_rollout({"n": 4}, run_id="run-b")
        assert (a1.run_id, b1.run_id, free.run_id, started.run_id) == ("run-a", "run-b", None, "run-b")

        taken = await store.dequeue_rollout("w", run_id="run-b")
        assert taken is not None and taken.rollout_id == b1.rollout_id and taken.run_id == "run-b"
        assert await store.dequeue_rollout("w", run_id="run-b") is None  # run-b's queue is empty now
        assert [r.rollout_id for r in await store.query_rollouts(run_id="run-b")] == [
            b1.rollout_id,
            started.rollout_id,
        ]
        anything = await store.dequeue_rollout("w")  # no run given: any run, front of the queue first
        assert anything is not None and anything.rollout_id == a1.rollout_id
        fetched = await store.get_rollout_by_id(a1.rollout_id)
        assert fetched is not None and fetched.run_id == "run-a"


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda s: s.query_rollouts(status_in="queuing"), "status_in"),
        (lambda s: s.query_rollouts(rollout_id_in="ro-000000000000"), "rollout_id_in"),
        (lambda s: s.wait_for_rollouts("ro-000000000000", timeout=0), "rollout_ids"),
    ],
)
async def test_a_string_given_for_a_list_is_a_type_error(
    make_postgres_store: MakeStore, call: Callable[[PostgresLightningStore], Any], name: str
) -> None:
    with make_postgres_store() as store:
        with pytest.raises(TypeError, match=f"{name} must be a list"):
            await call(store)
