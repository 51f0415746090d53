"""``SqliteLightningStore``: the embedded, durable default store -- one SQLite file, shared safely by processes.

Usage::

    from agentlightning.store import SqliteLightningStore

    store = SqliteLightningStore(".agentlightning/store.db")   # created (with its directory) if missing
    rollout = await store.enqueue_rollout({"question": "2+2?"})
    ...
    store.close()                                             # or: with SqliteLightningStore(path) as store:

Any number of processes on one machine may open the same file at once: runners dequeue distinct rollouts,
span sequence ids stay unique and increasing per rollout, and a process killed mid-write loses nothing it
had committed. Behaviour (state machine, errors, time-outs, ``wait_for_rollouts``) is that of every
backend and lives in :class:`~agentlightning.store._core.StoreCore`; this module maps it onto tables.

How it is stored:

- WAL journal (``PRAGMA journal_mode=WAL``), ``synchronous=NORMAL`` (a commit survives a killed process; an
  OS crash may lose the last commits but never corrupts the file), ``busy_timeout`` 30 s by default.
- Every read-modify-write (dequeue, sequence-id allocation, state transitions) is one ``BEGIN IMMEDIATE``
  transaction; a batch of spans (``add_many_spans``, ``add_otel_spans``) is one transaction and one
  ``executemany``.
- Tables ``rollouts``, ``attempts``, ``spans``, ``queue``, ``resources``: each model as its pydantic JSON in a
  ``data`` column, plus the indexed columns queries need. A span's ``sequence_id`` lives in its column only
  (the JSON is made before the id is allocated, outside the write lock). Each rollout row carries its span
  counter (``span_seq``). The schema version is ``PRAGMA user_version``.
- ``Rollout.input`` and the ``metadata`` of rollouts and attempts must be JSON-serializable by pydantic
  (dicts, lists, strings, numbers, models, dataclasses...); they come back as plain JSON data. Anything
  else raises ``TypeError`` naming its type, and nothing is written.

Threads and loops: one connection (``check_same_thread=False``) behind a :class:`threading.RLock`. The
async methods run their SQL directly on the calling thread: the statements take microseconds to a few
milliseconds, much less than handing each one to a worker thread would cost. The exception is a write
waiting for another *process* holding the write lock (up to ``busy_timeout``), which blocks its caller.

``wait_for_rollouts`` wakes at once on changes made through this object and notices other processes'
commits within 50 ms (a ``PRAGMA data_version`` check, re-reading only when it moved).

``close()`` is idempotent; any use of the store afterwards raises ``RuntimeError`` naming the path. A store
dropped without ``close()`` closes its connection when it is garbage-collected (no ``ResourceWarning``).

Opening a file that exists and is not a SQLite database, or is the SQLite database of something else,
raises :class:`NotASqliteDatabaseError` (a ``ValueError``) and leaves the file untouched. A store file
damaged later (a disk error, a copy made mid-write) may still open; the first operation that reads a damaged
page raises :class:`CorruptStoreError` (a ``sqlite3.DatabaseError``) saying what to do, instead of SQLite's
bare "database disk image is malformed". Several processes may open a new file at the same instant: one
creates the schema, the others wait for it. ``":memory:"``
gives a private, non-persistent database.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic_core import to_json

from agentlightning.types import Attempt, ResourcesUpdate, Rollout, RolloutConfig, Span
from agentlightning.types.tracer import span_json

from ._common import has_deadline
from ._core import StoreCore

__all__ = ["SCHEMA_VERSION", "CorruptStoreError", "NotASqliteDatabaseError", "SqliteLightningStore"]

#: The schema this module writes, kept in ``PRAGMA user_version``.
SCHEMA_VERSION = 2

_HEADER = b"SQLite format 3\x00"
_NO_SEQUENCE = {"sequence_id"}

_SCHEMA = [
    """CREATE TABLE IF NOT EXISTS rollouts (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        rollout_id TEXT NOT NULL UNIQUE,
        status TEXT NOT NULL,
        mode TEXT,
        has_deadline INTEGER NOT NULL DEFAULT 0,
        span_seq INTEGER NOT NULL DEFAULT 0,
        data TEXT NOT NULL,
        run_id TEXT
    )""",
    "CREATE INDEX IF NOT EXISTS rollouts_by_status ON rollouts(status)",
    "CREATE INDEX IF NOT EXISTS rollouts_by_run ON rollouts(run_id)",
    """CREATE TABLE IF NOT EXISTS attempts (
        rollout_id TEXT NOT NULL,
        attempt_id TEXT NOT NULL,
        sequence_id INTEGER NOT NULL,
        status TEXT NOT NULL,
        data TEXT NOT NULL,
        PRIMARY KEY (rollout_id, attempt_id)
    )""",
    "CREATE INDEX IF NOT EXISTS attempts_by_sequence ON attempts(rollout_id, sequence_id)",
    "CREATE INDEX IF NOT EXISTS attempts_active ON attempts(rollout_id) WHERE status IN ('preparing', 'running')",
    """CREATE TABLE IF NOT EXISTS spans (
        rollout_id TEXT NOT NULL,
        attempt_id TEXT NOT NULL,
        sequence_id INTEGER NOT NULL,
        data TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS spans_by_sequence ON spans(rollout_id, sequence_id)",
    "CREATE TABLE IF NOT EXISTS queue (pos INTEGER PRIMARY KEY AUTOINCREMENT, rollout_id TEXT NOT NULL UNIQUE, "
    "run_id TEXT)",
    "CREATE INDEX IF NOT EXISTS queue_by_run ON queue(run_id, pos)",
    """CREATE TABLE IF NOT EXISTS resources (
        resources_id TEXT PRIMARY KEY,
        touched INTEGER NOT NULL,
        data TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS resources_by_touch ON resources(touched)",
]


#: What takes a store of schema ``n`` (the key) to ``n + 1``.
_MIGRATIONS: dict[int, list[str]] = {
    1: [
        "ALTER TABLE rollouts ADD COLUMN run_id TEXT",
        "CREATE INDEX IF NOT EXISTS rollouts_by_run ON rollouts(run_id)",
        "ALTER TABLE queue ADD COLUMN run_id TEXT",
        "CREATE INDEX IF NOT EXISTS queue_by_run ON queue(run_id, pos)",
    ],
}

# The active attempts of unfinished rollouts with a time limit (their columns, for the scan below).
_WATCHED = """
    SELECT r.data AS rdata, a.data AS adata,
        json_extract(r.data, '$.config.timeout_seconds') AS t,
        json_extract(r.data, '$.config.unresponsive_seconds') AS u,
        json_extract(a.data, '$.start_time') AS st,
        COALESCE(json_extract(a.data, '$.last_heartbeat_time'), json_extract(a.data, '$.start_time')) AS hb
    FROM attempts AS a JOIN rollouts AS r ON r.rollout_id = a.rollout_id
    WHERE a.status IN ('preparing', 'running') AND r.has_deadline = 1
        AND r.status NOT IN ('failed', 'succeeded', 'cancelled')"""
_DUE = "(COALESCE(?1 - st > t, 0) OR COALESCE(?1 - hb > u, 0))"
#: The watched attempts past a limit at ``?1`` (config, attempt), then one row (NULL, NULL, deadline): the
#: earliest deadline of the others (NULL when there are none).
_DEADLINE_SCAN = (
    f"WITH watched AS ({_WATCHED}) "
    f"SELECT json_extract(rdata, '$.config'), adata, NULL FROM watched WHERE {_DUE} "
    f"UNION ALL SELECT NULL, NULL, MIN(MIN(COALESCE(st + t, hb + u), COALESCE(hb + u, st + t))) "
    f"FROM watched WHERE NOT {_DUE}"
)

_TABLES = frozenset({"rollouts", "attempts", "spans", "queue", "resources"})


class NotASqliteDatabaseError(ValueError):
    """The path given to :class:`SqliteLightningStore` holds something other than an agentlightning store."""


class CorruptStoreError(sqlite3.DatabaseError):
    """The store's file is damaged (SQLite reports it malformed); raised by the operation that found out.

    A ``sqlite3.DatabaseError``, so code that catches SQLite errors still catches it.
    """


#: SQLite's primary result codes for a damaged file: SQLITE_CORRUPT and SQLITE_NOTADB.
_CORRUPTION_CODES = frozenset({11, 26})
# SQLite's own texts for those two codes (SQLITE_CORRUPT, SQLITE_NOTADB), for Python 3.10, whose sqlite3
# errors carry no ``sqlite_errorcode`` (added in 3.11)
_CORRUPTION_TEXTS = ("database disk image is malformed", "file is not a database")


def _is_corruption(exc: sqlite3.DatabaseError) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is None:
        return str(exc).startswith(_CORRUPTION_TEXTS)
    return code & 0xFF in _CORRUPTION_CODES


class _Reading:
    """The store's lock for a read; a SQLite "malformed" error inside becomes :class:`CorruptStoreError`."""

    __slots__ = ("_store",)

    def __init__(self, store: SqliteLightningStore) -> None:
        self._store = store

    def __enter__(self) -> None:
        self._store._lock.acquire()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        self._store._lock.release()
        if isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, CorruptStoreError) and _is_corruption(exc):
            raise self._store._corrupt_error(exc) from exc


def _check_path(path: Path) -> None:
    """Refuse, without writing a byte, a path that exists and is not a SQLite database."""
    if path.is_dir():
        raise NotASqliteDatabaseError(
            f"{str(path)!r} is a directory, not a SQLite database file; "
            f"pass a file path instead, e.g. {str(path / 'store.db')!r}"
        )
    if path.exists():
        with path.open("rb") as file:
            header = file.read(len(_HEADER))
        if header and header != _HEADER:
            raise NotASqliteDatabaseError(
                f"{str(path)!r} exists but is not a SQLite database (it does not start with the SQLite header); "
                "it was left untouched. Pass the path of an agentlightning store, a new file, or an empty one."
            )


def _span_from_row(sequence_id: int, data: str) -> Span:
    # The JSON was written without "sequence_id" (allocated later); splice the column back in.
    return Span.model_validate_json(f'{{"sequence_id":{sequence_id},{data[1:]}')


def _as_json_list(values: Sequence[str]) -> str:
    return json.dumps(list(values))


def _dump(model: Rollout | Attempt) -> str:
    """The model's JSON, or a ``TypeError`` saying which user-given field cannot be stored and what to do."""
    try:
        return model.model_dump_json()
    except ValueError as exc:  # PydanticSerializationError, or a circular reference
        error = _not_json(model, exc)
        if error is None:
            raise  # not from a field the user gave: leave pydantic's error as it is
        raise error from exc


def _serializes(value: Any) -> bool:
    try:
        to_json(value)
    except ValueError:
        return False
    return True


def _not_json(model: Rollout | Attempt, exc: ValueError) -> TypeError | None:
    """A ``TypeError`` naming the user-given field (and type) that made ``model`` unserializable, if one did."""
    if isinstance(model, Rollout) and not _serializes(model.input):
        field, culprit, where = "input", model.input, ""
    else:
        bad = next(((key, value) for key, value in model.metadata.items() if not _serializes(value)), None)
        if bad is None:
            return None
        field, culprit, where = "metadata", bad[1], f" under key {bad[0]!r}"
    name = f"{type(culprit).__module__}.{type(culprit).__qualname__}"
    return TypeError(
        f"{type(model).__name__} {field} must be JSON-serializable to be stored in SqliteLightningStore "
        f"(got {name}{where}): use plain data, a dataclass or a pydantic model, or InMemoryLightningStore "
        f"({exc})"
    )


class SqliteLightningStore(StoreCore):
    """A :class:`~agentlightning.store.LightningStore` in one SQLite file, safe for several processes.

    Args:
        path: The database file (``str`` or path-like). Missing parent directories are created. An existing
            empty file is initialized; an existing non-SQLite file raises :class:`NotASqliteDatabaseError`.
            ``":memory:"`` gives a private in-memory database.
        busy_timeout: Seconds a write waits for another process's write lock before failing.
    """

    _external_poll = 0.05

    def __init__(self, path: str | os.PathLike[str], *, busy_timeout: float = 30.0) -> None:
        super().__init__()
        self.path = str(path)
        self._lock = threading.RLock()
        self._reading = _Reading(self)
        self._closed = False
        if self.path != ":memory:":
            file = Path(self.path)
            _check_path(file)
            file.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(self.path, timeout=busy_timeout, isolation_level=None, check_same_thread=False)
        # Closes the connection once: on close(), or when the store is garbage-collected without it. Not at
        # interpreter exit: atexit hooks that run later (the tracer's final span flush) may still write.
        self._finalizer = weakref.finalize(self, self._conn.close)
        self._finalizer.atexit = False
        try:
            self._setup(busy_timeout)
        except sqlite3.DatabaseError as exc:
            self._finalizer()
            raise NotASqliteDatabaseError(
                f"{self.path!r} could not be opened as an agentlightning SQLite store: {exc}"
            ) from exc
        except BaseException:
            self._finalizer()
            raise

    def _setup(self, busy_timeout: float) -> None:
        conn = self._conn
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        foreign = sorted(tables - _TABLES - {"sqlite_sequence"})
        if foreign:  # checked before anything is written: someone else's database stays as it was
            raise NotASqliteDatabaseError(
                f"{self.path!r} is a SQLite database but not an agentlightning store (it has the tables "
                f"{', '.join(map(repr, foreign[:5]))}); it was left untouched. Pass another path."
            )
        self._switch_to_wal(busy_timeout)
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise ValueError(
                    f"{self.path!r} holds store schema {version}, newer than the {SCHEMA_VERSION} this "
                    "agentlightning understands; upgrade agentlightning or use another path"
                )
            if version == 0:
                for statement in _SCHEMA:
                    conn.execute(statement)
            else:
                for step in range(version, SCHEMA_VERSION):
                    for statement in _MIGRATIONS[step]:
                        conn.execute(statement)
            if version < SCHEMA_VERSION:
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def _switch_to_wal(self, busy_timeout: float) -> None:
        """``PRAGMA journal_mode = WAL``, waiting (up to ``busy_timeout``) for another process doing the same.

        SQLite answers "database is locked" at once, without calling the busy handler, when two connections
        switch a new file to WAL at the same instant; the loser retries until the winner is done, then finds
        the file in WAL mode already (and, under ``BEGIN IMMEDIATE`` below, the schema the winner made).
        """
        deadline = time.monotonic() + busy_timeout
        pause = 0.001
        while True:
            try:
                self._conn.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as exc:
                if ("locked" not in str(exc) and "busy" not in str(exc)) or time.monotonic() + pause > deadline:
                    raise
            time.sleep(pause)
            pause = min(pause * 2, 0.05)

    def __repr__(self) -> str:
        return f"SqliteLightningStore({self.path!r})"

    def close(self) -> None:
        """Close the connection. Idempotent; using the store afterwards raises ``RuntimeError``."""
        with self._lock:
            self._closed = True
            self._finalizer()

    def _closed_error(self) -> RuntimeError:
        return RuntimeError(
            f"SqliteLightningStore({self.path!r}) was closed: it cannot be used after close(); "
            "open a new SqliteLightningStore on that path to keep using the file"
        )

    # ---- transactions ----------------------------------------------------------------------------

    def _read(self) -> _Reading:
        if self._closed:
            raise self._closed_error()
        return self._reading  # each statement reads a consistent snapshot; none needs more

    @contextmanager
    def _write(self) -> Iterator[None]:
        with self._lock:
            if self._closed:
                raise self._closed_error()
            conn = self._conn
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
            except sqlite3.DatabaseError as exc:
                if _is_corruption(exc):
                    raise self._corrupt_error(exc) from exc
                raise

    def _corrupt_error(self, exc: sqlite3.DatabaseError) -> CorruptStoreError:
        return CorruptStoreError(
            f"The SQLite store {self.path!r} is damaged and cannot be read (SQLite says: {exc}). Stop the "
            "processes using it, move the file aside (with its -wal and -shm files; `sqlite3 FILE .recover` "
            "may save what is left), and start again with a new store path."
        )

    def _data_version(self) -> int:
        with self._lock:
            if self._closed:
                raise self._closed_error()
            return int(self._conn.execute("PRAGMA data_version").fetchone()[0])

    def _all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return self._conn.execute(sql, params).fetchall()

    def _one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self._conn.execute(sql, params).fetchone()

    # ---- rollouts and queue ----------------------------------------------------------------------

    def _get_rollout(self, rollout_id: str) -> Rollout | None:
        row = self._one("SELECT data FROM rollouts WHERE rollout_id = ?", (rollout_id,))
        return None if row is None else Rollout.model_validate_json(row[0])

    def _get_rollouts(self, rollout_ids: list[str]) -> dict[str, Rollout]:
        rows = self._all(
            "SELECT rollout_id, data FROM rollouts WHERE rollout_id IN (SELECT value FROM json_each(?))",
            (_as_json_list(rollout_ids),),
        )
        return {rid: Rollout.model_validate_json(data) for rid, data in rows}

    def _get_rollout_states(self, rollout_ids: list[str]) -> dict[str, tuple[str, float | None]]:
        rows = self._all(
            "SELECT rollout_id, status, CASE WHEN has_deadline = 1 THEN (SELECT MIN(value) FROM json_each(data, "
            "'$.config') WHERE key IN ('timeout_seconds', 'unresponsive_seconds')) END "
            "FROM rollouts WHERE rollout_id IN (SELECT value FROM json_each(?))",
            (_as_json_list(rollout_ids),),
        )
        return {rid: (status, None if limit is None else float(limit)) for rid, status, limit in rows}

    def _select_rollouts(
        self,
        status_in: Sequence[str] | None,
        rollout_id_in: Sequence[str] | None,
        mode_in: Sequence[str] | None,
        limit: int,
        offset: int,
        run_id: str | None,
    ) -> list[Rollout]:
        clauses: list[str] = []
        params: list[Any] = []
        for column, values in (("status", status_in), ("rollout_id", rollout_id_in), ("mode", mode_in)):
            if values is not None:
                clauses.append(f"{column} IN (SELECT value FROM json_each(?))")
                params.append(_as_json_list(values))
        if run_id is not None:
            clauses.append("run_id = ?")
            params.append(run_id)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        params += [limit if limit >= 0 else -1, max(0, offset)]
        rows = self._all(f"SELECT data FROM rollouts{where} ORDER BY seq LIMIT ? OFFSET ?", params)
        return [Rollout.model_validate_json(data) for (data,) in rows]

    def _put_rollout(self, rollout: Rollout) -> None:
        self._conn.execute(
            "INSERT INTO rollouts (rollout_id, status, mode, has_deadline, run_id, data) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (rollout_id) DO UPDATE SET status = excluded.status, mode = excluded.mode, "
            "has_deadline = excluded.has_deadline, run_id = excluded.run_id, data = excluded.data",
            (
                rollout.rollout_id,
                rollout.status,
                rollout.mode,
                int(has_deadline(rollout.config)),
                rollout.run_id,
                _dump(rollout),
            ),
        )

    def _queue_push(self, rollout_id: str) -> None:
        # REPLACE deletes a row already there and inserts a new one: AUTOINCREMENT puts it at the back. The
        # rollout row is always written first (the core puts a new rollout before queuing it); its run id is
        # copied, so a run's dequeue reads the queue alone, in order, through queue_by_run.
        self._conn.execute(
            "INSERT OR REPLACE INTO queue (rollout_id, run_id) SELECT ?, run_id FROM rollouts WHERE rollout_id = ?",
            (rollout_id, rollout_id),
        )

    def _queue_remove(self, rollout_id: str) -> None:
        self._conn.execute("DELETE FROM queue WHERE rollout_id = ?", (rollout_id,))

    def _queue_peek(self, run_id: str | None) -> str | None:
        if run_id is None:
            row = self._one("SELECT rollout_id FROM queue ORDER BY pos LIMIT 1")
        else:
            row = self._one("SELECT rollout_id FROM queue WHERE run_id = ? ORDER BY pos LIMIT 1", (run_id,))
        return None if row is None else str(row[0])

    # ---- attempts --------------------------------------------------------------------------------

    def _get_attempt(self, rollout_id: str, attempt_id: str) -> Attempt | None:
        row = self._one("SELECT data FROM attempts WHERE rollout_id = ? AND attempt_id = ?", (rollout_id, attempt_id))
        return None if row is None else Attempt.model_validate_json(row[0])

    def _get_attempts(self, rollout_id: str) -> list[Attempt]:
        rows = self._all("SELECT data FROM attempts WHERE rollout_id = ? ORDER BY sequence_id", (rollout_id,))
        return [Attempt.model_validate_json(data) for (data,) in rows]

    def _get_latest_attempt(self, rollout_id: str) -> Attempt | None:
        row = self._one(
            "SELECT data FROM attempts WHERE rollout_id = ? ORDER BY sequence_id DESC LIMIT 1", (rollout_id,)
        )
        return None if row is None else Attempt.model_validate_json(row[0])

    def _latest_attempt_id(self, rollout_id: str) -> str | None:
        row = self._one(
            "SELECT attempt_id FROM attempts WHERE rollout_id = ? ORDER BY sequence_id DESC LIMIT 1", (rollout_id,)
        )
        return None if row is None else str(row[0])

    def _put_attempt(self, attempt: Attempt) -> None:
        self._conn.execute(
            "INSERT INTO attempts (rollout_id, attempt_id, sequence_id, status, data) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (rollout_id, attempt_id) DO UPDATE SET sequence_id = excluded.sequence_id, "
            "status = excluded.status, data = excluded.data",
            (attempt.rollout_id, attempt.attempt_id, attempt.sequence_id, attempt.status, _dump(attempt)),
        )

    def _touch_attempt(self, attempt: Attempt) -> None:
        # the row's data only: an upsert also rewrites the entries of the status and sequence indexes, and
        # with them more pages to commit per span batch (~13% of a one-span batch's CPU)
        self._conn.execute(
            "UPDATE attempts SET data = ? WHERE rollout_id = ? AND attempt_id = ?",
            (_dump(attempt), attempt.rollout_id, attempt.attempt_id),
        )

    def _deadline_candidates(self) -> list[tuple[RolloutConfig, Attempt]]:
        return self._deadline_scan(time.time())[0]

    def _deadline_scan(self, now: float) -> tuple[list[tuple[RolloutConfig, Attempt]], float]:
        # Only the attempts already past a limit (the core re-checks them in its transaction): with a Trainer,
        # every rollout has a limit, so nothing is parsed for the live ones; of those, only the earliest
        # deadline comes back (the core skips the scans until then). One statement.
        rows = self._all(_DEADLINE_SCAN, (now,))
        candidates = [
            (RolloutConfig.model_validate_json(config), Attempt.model_validate_json(data))
            for config, data, _ in rows
            if data is not None
        ]
        later = next((due for config, data, due in rows if data is None), None)
        return candidates, math.inf if later is None else float(later)

    # ---- spans -----------------------------------------------------------------------------------

    def _reserve_sequence_ids(self, rollout_id: str, count: int) -> int:
        row = self._one(
            "UPDATE rollouts SET span_seq = span_seq + ? WHERE rollout_id = ? RETURNING span_seq", (count, rollout_id)
        )
        return int(row[0]) - count + 1

    def _bump_sequence_id(self, rollout_id: str, at_least: int) -> None:
        self._conn.execute(
            "UPDATE rollouts SET span_seq = MAX(span_seq, ?) WHERE rollout_id = ?", (at_least, rollout_id)
        )

    def _encode_spans(self, spans: list[Span]) -> list[str]:
        return [span.model_dump_json(exclude=_NO_SEQUENCE) for span in spans]

    def _insert_spans(self, spans: list[Span], encoded: list[str]) -> None:
        self._conn.executemany(
            "INSERT INTO spans (rollout_id, attempt_id, sequence_id, data) VALUES (?, ?, ?, ?)",
            [
                (span.rollout_id, span.attempt_id, span.sequence_id, data)
                for span, data in zip(spans, encoded, strict=True)
            ],
        )

    def _encode_otel(self, items: Sequence[tuple[str, str, Any]]) -> list[str]:
        # The model's JSON without the model (no "sequence_id": it lives in its column).
        return [span_json(readable, rid, aid) for rid, aid, readable in items]

    def _insert_otel(self, items: Sequence[tuple[str, str, Any]], sequence_ids: list[int], encoded: Any) -> None:
        self._conn.executemany(
            "INSERT INTO spans (rollout_id, attempt_id, sequence_id, data) VALUES (?, ?, ?, ?)",
            [
                (rid, aid, sequence_id, data)
                for (rid, aid, _), sequence_id, data in zip(items, sequence_ids, encoded, strict=True)
            ],
        )

    def _select_spans(self, rollout_id: str, attempt_id: str | None) -> list[Span]:
        if attempt_id is None:
            rows = self._all(
                "SELECT sequence_id, data FROM spans WHERE rollout_id = ? ORDER BY sequence_id, rowid", (rollout_id,)
            )
        else:
            rows = self._all(
                "SELECT sequence_id, data FROM spans WHERE rollout_id = ? AND attempt_id = ? "
                "ORDER BY sequence_id, rowid",
                (rollout_id, attempt_id),
            )
        return [_span_from_row(seq, data) for seq, data in rows]

    # ---- resources -------------------------------------------------------------------------------

    def _get_resources(self, resources_id: str) -> ResourcesUpdate | None:
        row = self._one("SELECT data FROM resources WHERE resources_id = ?", (resources_id,))
        return None if row is None else ResourcesUpdate.model_validate_json(row[0])

    def _get_latest_resources(self) -> ResourcesUpdate | None:
        row = self._one("SELECT data FROM resources ORDER BY touched DESC LIMIT 1")
        return None if row is None else ResourcesUpdate.model_validate_json(row[0])

    def _put_resources(self, update: ResourcesUpdate) -> None:
        self._conn.execute(
            "INSERT INTO resources (resources_id, touched, data) "
            "VALUES (?, (SELECT COALESCE(MAX(touched), 0) + 1 FROM resources), ?) "
            "ON CONFLICT (resources_id) DO UPDATE SET touched = excluded.touched, data = excluded.data",
            (update.resources_id, update.model_dump_json()),
        )
