"""A claim cut off in flight never leaves a rollout ``preparing`` with nobody working on it.

Three ways a claim (``dequeue_rollout``) can be cut off, each on a real server:

- the connection dies after the claim was committed but before its reply arrived (a relay between the
  store and the server drops the reply): the store's retry must return that very claim, not take another
  rollout and leave the first one ``preparing`` forever;
- the connection dies inside the claim's transaction, between its UPDATE and its COMMIT (the server
  process serving it is terminated while the claim waits on a row lock): nothing was committed, and the
  retry claims the rollout normally;
- the worker process dies right after its claim (before running, before any heartbeat): the store finds
  the attempt unresponsive and requeues the rollout as its ``retry_condition`` says.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import uuid
from types import TracebackType

import psycopg
import pytest

from agentlightning.store.postgres import PostgresLightningStore
from agentlightning.testing.postgres import TemporaryPostgres
from agentlightning.types import AttemptedRollout, RolloutConfig


def _schema() -> str:
    return f"t_{uuid.uuid4().hex[:16]}"


class _ReplyDropper:
    """A relay on a Unix socket of its own in front of the server; it passes everything through, except that
    the first reply of the server holding ``marker`` is not delivered: both sides of that connection are
    closed instead, as when a network dies between the database and the worker."""

    def __init__(self, server: TemporaryPostgres, marker: bytes) -> None:
        self.target = str(server.socket_dir / f".s.PGSQL.{server.port}")
        self.marker = marker
        self.dropped = threading.Event()
        self.folder = tempfile.mkdtemp(prefix="al-cut-")  # short: a socket path is limited to ~100 bytes
        self.port = server.port
        self.listener = socket.socket(socket.AF_UNIX)
        self.listener.bind(f"{self.folder}/.s.PGSQL.{self.port}")
        self.listener.listen()
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@/postgres?host={self.folder}&port={self.port}"

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.socket(socket.AF_UNIX)
            upstream.connect(self.target)
            self.sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, True), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, from_server: bool) -> None:
        with contextlib.suppress(OSError):
            while chunk := source.recv(65536):
                if from_server and not self.dropped.is_set() and self.marker in chunk:
                    self.dropped.set()
                    break
                sink.sendall(chunk)
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.listener.close()
        for sock in self.sockets:
            sock.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> _ReplyDropper:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


@pytest.fixture
def dsn(postgres_server: TemporaryPostgres) -> str:
    return postgres_server.dsn()


async def test_a_claim_committed_but_whose_reply_was_lost_is_returned_by_the_retry(
    postgres_server: TemporaryPostgres, dsn: str
) -> None:
    schema = _schema()
    marker = f"cut-here-{uuid.uuid4().hex}"
    with PostgresLightningStore(dsn, schema=schema) as trainer:
        cut = await trainer.enqueue_rollout({"marker": marker})
        behind = await trainer.enqueue_rollout({"q": 2})
        with _ReplyDropper(postgres_server, marker.encode()) as relay:
            with PostgresLightningStore(relay.dsn, schema=schema) as worker:
                claimed = await worker.dequeue_rollout("w1")
            assert relay.dropped.is_set()  # the claim's reply really was lost on the way
        assert claimed is not None and claimed.rollout_id == cut.rollout_id and claimed.attempt.sequence_id == 1
        # what the database holds: that one claim, in force, and nothing else taken
        attempts = await trainer.query_attempts(cut.rollout_id)
        assert [(a.attempt_id, a.status, a.worker_id) for a in attempts] == [
            (claimed.attempt.attempt_id, "preparing", "w1")
        ]
        left = await trainer.get_rollout_by_id(behind.rollout_id)
        assert left is not None and left.status == "queuing" and await trainer.query_attempts(behind.rollout_id) == []
        # and the worker goes on with it as with any claim
        await trainer.update_attempt(cut.rollout_id, claimed.attempt.attempt_id, status="succeeded")
        done = await trainer.get_rollout_by_id(cut.rollout_id)
        assert done is not None and done.status == "succeeded"


async def test_a_claim_whose_server_process_dies_before_commit_is_rolled_back_and_retried(dsn: str) -> None:
    schema = _schema()
    with PostgresLightningStore(dsn, schema=schema) as trainer:
        rollout = await trainer.enqueue_rollout({"q": 1})
        with psycopg.connect(dsn) as blocker, PostgresLightningStore(dsn, schema=schema) as worker:
            # An uncommitted attempt 1 of the same rollout: the claim's INSERT of attempt 1 waits for it on the
            # unique index -- after the claim has unqueued the rollout and made it "preparing", before COMMIT.
            blocker.execute(
                f"INSERT INTO {schema}.attempts (rollout_id, attempt_id, sequence_id, status, data) "
                "VALUES (%s, 'at-blocker', 1, 'preparing', '{}')",
                (rollout.rollout_id,),
            )
            got: list[AttemptedRollout | None] = []
            claiming = threading.Thread(target=lambda: got.append(asyncio.run(worker.dequeue_rollout("w1"))))
            claiming.start()
            with psycopg.connect(dsn, autocommit=True) as admin:
                pid = None
                give_up = time.monotonic() + 30
                while pid is None and time.monotonic() < give_up:
                    row = admin.execute(
                        "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE %s",
                        (f"%DELETE FROM {schema}.queue%",),
                    ).fetchone()
                    pid = None if row is None else row[0]
                    time.sleep(0.01)
                assert pid is not None, "the claim never waited on the blocking attempt"
                assert admin.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone() == (True,)
            blocker.rollback()  # the blocking attempt goes away; the retried claim may now go through
            claiming.join(timeout=60)
        [claimed] = got
        assert claimed is not None and claimed.rollout_id == rollout.rollout_id and claimed.attempt.sequence_id == 1
        attempts = await trainer.query_attempts(rollout.rollout_id)
        assert [(a.attempt_id, a.status) for a in attempts] == [(claimed.attempt.attempt_id, "preparing")]


# A worker process that claims one rollout and dies at once, without a word (no heartbeat, no span).
_CLAIM_AND_DIE = textwrap.dedent(
    """
    import asyncio, os, sys
    from agentlightning.store.postgres import PostgresLightningStore

    store = PostgresLightningStore(sys.argv[1], schema=sys.argv[2])
    attempted = asyncio.run(store.dequeue_rollout("w-dies"))
    print(attempted.attempt.attempt_id, flush=True)
    os._exit(9)
    """
)


async def test_a_worker_dying_right_after_its_claim_has_the_rollout_requeued_per_retry_condition(dsn: str) -> None:
    schema = _schema()
    config = RolloutConfig(unresponsive_seconds=0.3, max_attempts=2, retry_condition=["unresponsive"])
    no_retry = RolloutConfig(unresponsive_seconds=0.3, max_attempts=1, retry_condition=["unresponsive"])
    with PostgresLightningStore(dsn, schema=schema) as trainer:
        retried = await trainer.enqueue_rollout({"q": 1}, config=config)
        dying = subprocess.run(
            [sys.executable, "-c", _CLAIM_AND_DIE, dsn, schema], capture_output=True, text=True, timeout=120
        )
        assert dying.returncode == 9, dying.stderr
        first_attempt = dying.stdout.strip()  # claimed, and its worker is gone

        # the store notices the silence (here: while a trainer waits) and puts the rollout back on the queue
        assert await trainer.wait_for_rollouts([retried.rollout_id], timeout=1.0) == []
        [requeued] = await trainer.query_rollouts(rollout_id_in=[retried.rollout_id])
        assert requeued.status == "requeuing"
        second = await trainer.dequeue_rollout("w-alive")
        assert second is not None and second.rollout_id == retried.rollout_id and second.attempt.sequence_id == 2
        attempts = await trainer.query_attempts(retried.rollout_id)
        assert [(a.attempt_id, a.status) for a in attempts] == [
            (first_attempt, "unresponsive"),
            (second.attempt.attempt_id, "preparing"),
        ]

        # with no attempt left, the same silence fails the rollout instead (and the waiter returns it)
        failing = await trainer.enqueue_rollout({"q": 2}, config=no_retry)
        dying = subprocess.run(
            [sys.executable, "-c", _CLAIM_AND_DIE, dsn, schema], capture_output=True, text=True, timeout=120
        )
        assert dying.returncode == 9, dying.stderr
        [failed] = await trainer.wait_for_rollouts([failing.rollout_id], timeout=30)
        assert failed.status == "failed"
        assert [a.status for a in await trainer.query_attempts(failing.rollout_id)] == ["unresponsive"]
