"""``PostgresLightningStore``: the store for more than one machine -- one PostgreSQL database shared by every host.

Usage (``pip install 'agentlightning[postgres]'``, which brings psycopg 3 and psycopg_pool)::

    from agentlightning.store.postgres import PostgresLightningStore

    store = PostgresLightningStore("postgresql://user:secret@db.example:5432/agents")
    rollout = await store.enqueue_rollout({"question": "2+2?"})
    ...
    store.close()                                  # or: with PostgresLightningStore(dsn) as store:

or pick it by URL, as the Trainer and the CLI do: ``agentlightning.store.open_store("postgresql://...")``, or
``AGENTLIGHTNING_STORE=postgresql://...``.

Any number of processes on any number of hosts may use the same database at once. Behaviour (state machine,
errors, time-outs, ``wait_for_rollouts``) is that of every backend and lives in
:class:`~agentlightning.store._core.StoreCore`; this module maps its primitives onto tables and makes them
safe under concurrency:

- Every read-modify-write is one transaction that locks the rollout row it changes (``SELECT ... FOR
  UPDATE``): two hosts finishing, timing out or heartbeating the same rollout never lose each other's change.
- ``dequeue_rollout`` takes the front of the queue with ``FOR UPDATE SKIP LOCKED``: workers never wait for
  each other and never take the same rollout. It is the one method not built from the core's primitives: the
  claim (unqueue, rollout ``preparing``, attempt n+1, and the time-limit check) is one SQL statement, one
  round trip, because every worker of every host calls it in a loop (4-5x the claims/s of the primitive
  path). A unique index on ``(rollout_id, attempt sequence_id)`` backs it up.
- Span sequence ids come from a per-rollout counter bumped under that row lock (``UPDATE ... RETURNING``):
  unique and strictly increasing in commit order, whatever the number of concurrent writers.
- ``wait_for_rollouts`` is woken by ``LISTEN``/``NOTIFY``: a trigger notifies when a rollout enters or
  leaves a finished state, so a waiter on one host wakes when a worker on another finishes (no polling).
  Time-outs and silent workers are detected by the store whenever it is used, and by waiters while they
  wait, on whichever host notices first.
- A write transaction is pipelined (psycopg's pipeline mode): ``BEGIN``, the row writes and ``COMMIT`` travel
  with the next statement whose result is read, so it costs one round trip per read. Rows it read (and
  locked) are updated in place, rather than upserted.
- Connections come from a :class:`psycopg_pool.ConnectionPool`, so threads and event loops of one process
  share a few connections; the listener has one of its own, opened on the first wait.
- A lost connection (the database restarted, a failover, a network blip) is retried: an operation whose
  transaction did not commit is run again on a fresh connection for up to ``reconnect_timeout`` seconds,
  so a store outlives a database restart. What a call acknowledged was committed and stays. A connection
  lost *during* ``COMMIT`` leaves the outcome unknown: that raises :class:`CommitOutcomeUnknownError`
  instead of guessing.

Where it is stored: the tables live in a PostgreSQL schema of their own (``schema="agentlightning"`` by
default), so the database may hold other applications' tables beside them. The schema carries a
``store_info`` table naming its owner and schema version; opening a schema that holds anything else, or one
written by a newer agentlightning, raises :class:`NotAnAgentlightningDatabaseError` and changes nothing.
Creation is guarded by an advisory lock, so many workers may start at once on an empty database.

Each model is kept as its pydantic JSON (``text``) plus the columns queries need, as in the SQLite store.
``Rollout.input`` and ``metadata`` must be JSON-serializable; anything else raises ``TypeError``.

``close()`` is idempotent; any use afterwards raises ``RuntimeError``.
"""

from __future__ import annotations

import asyncio
import functools
import json
import re
import threading
import time
import uuid
import weakref
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any, TypeVar

try:
    import psycopg
    from psycopg import errors as pg_errors
    from psycopg.conninfo import conninfo_to_dict, make_conninfo
    from psycopg_pool import ConnectionPool, PoolTimeout
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        "PostgresLightningStore needs psycopg 3 and psycopg_pool: pip install 'agentlightning[postgres]'"
    ) from exc

from pydantic_core import to_json

from agentlightning.types import (
    Attempt,
    AttemptedRollout,
    ResourcesUpdate,
    Rollout,
    RolloutConfig,
    RolloutMode,
    RolloutStatus,
    Span,
    new_attempt_id,
)

from ._common import deadline_status, has_deadline
from ._core import StoreCore, _require_list

__all__ = [
    "SCHEMA_VERSION",
    "CommitOutcomeUnknownError",
    "NotAnAgentlightningDatabaseError",
    "PostgresLightningStore",
]

#: The schema version this module writes, kept in ``<schema>.store_info``.
SCHEMA_VERSION = 1
_OWNER = "agentlightning"
_TABLES = frozenset({"store_info", "rollouts", "attempts", "spans", "queue", "resources"})
_NO_SEQUENCE = {"sequence_id"}
_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,47}")
_TERMINAL_SQL = "('succeeded', 'failed', 'cancelled')"

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])


class NotAnAgentlightningDatabaseError(ValueError):
    """The schema given to :class:`PostgresLightningStore` holds something other than an agentlightning store."""


class CommitOutcomeUnknownError(ConnectionError):
    """The connection broke while a change was being committed: it may or may not have been saved."""


def _schema_sql(s: str) -> list[str]:
    return [
        f"CREATE SCHEMA IF NOT EXISTS {s}",
        f"CREATE TABLE {s}.store_info (key text PRIMARY KEY, value text NOT NULL)",
        f"""CREATE TABLE {s}.rollouts (
            seq bigserial PRIMARY KEY,
            rollout_id text NOT NULL UNIQUE,
            status text NOT NULL,
            end_time double precision,
            mode text,
            run_id text,
            has_deadline boolean NOT NULL DEFAULT false,
            span_seq bigint NOT NULL DEFAULT 0,
            data text NOT NULL
        )""",
        f"CREATE INDEX rollouts_by_status ON {s}.rollouts (status)",
        f"CREATE INDEX rollouts_by_run ON {s}.rollouts (run_id, seq)",
        f"CREATE INDEX rollouts_watched ON {s}.rollouts (rollout_id) "
        f"WHERE has_deadline AND status NOT IN {_TERMINAL_SQL}",
        f"""CREATE TABLE {s}.attempts (
            rollout_id text NOT NULL,
            attempt_id text NOT NULL,
            sequence_id integer NOT NULL,
            status text NOT NULL,
            data text NOT NULL,
            PRIMARY KEY (rollout_id, attempt_id)
        )""",
        f"CREATE UNIQUE INDEX attempts_by_sequence ON {s}.attempts (rollout_id, sequence_id)",
        f"CREATE INDEX attempts_active ON {s}.attempts (rollout_id) WHERE status IN ('preparing', 'running')",
        f"""CREATE TABLE {s}.spans (
            id bigserial PRIMARY KEY,
            rollout_id text NOT NULL,
            attempt_id text NOT NULL,
            sequence_id bigint NOT NULL,
            data text NOT NULL
        )""",
        f"CREATE INDEX spans_by_sequence ON {s}.spans (rollout_id, sequence_id, id)",
        # run_id is copied here so that the dequeue reads the queue alone, front first, whatever the statistics say.
        f"CREATE TABLE {s}.queue (pos bigserial PRIMARY KEY, rollout_id text NOT NULL UNIQUE, run_id text)",
        f"CREATE INDEX queue_by_run ON {s}.queue (run_id, pos)",
        f"CREATE TABLE {s}.resources (resources_id text PRIMARY KEY, touched bigint NOT NULL, data text NOT NULL)",
        f"CREATE SEQUENCE {s}.resources_touched",
        f"CREATE INDEX resources_by_touch ON {s}.resources (touched)",
        # A waiter anywhere wakes when a rollout enters or leaves a finished state (delivered at commit).
        f"""CREATE FUNCTION {s}.notify_rollout() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify(TG_ARGV[0], NEW.rollout_id);
            RETURN NULL;
        END $$""",
        f"""CREATE TRIGGER rollout_finished AFTER UPDATE OF status ON {s}.rollouts FOR EACH ROW
        WHEN (OLD.status IS DISTINCT FROM NEW.status
              AND (NEW.status IN {_TERMINAL_SQL} OR OLD.status IN {_TERMINAL_SQL}))
        EXECUTE FUNCTION {s}.notify_rollout('{_channel(s)}')""",
    ]


def _channel(schema: str) -> str:
    return f"agentlightning_{schema}"


def _safe_dsn(dsn: str) -> str:
    """The DSN without its password, for error messages."""
    try:
        params = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "<unparsable DSN>"
    params.pop("password", None)
    return make_conninfo("", **{k: v for k, v in params.items() if v is not None})


def _configure(conn: psycopg.Connection[Any]) -> None:
    """Set up a new pool connection. Generic plans: the store's statements are prepared once per connection and
    their best plan does not depend on the values (re-planning each call cost more than running them)."""
    conn.execute("SET plan_cache_mode = force_generic_plan")


def _connection_lost(exc: BaseException) -> bool:
    """A lost connection or a server shutting down (not an error of the statements themselves)."""
    if isinstance(exc, psycopg.OperationalError) and not isinstance(exc, pg_errors.TransactionRollback):
        state = exc.sqlstate
        return state is None or state.startswith("08") or state in ("57P01", "57P02", "57P03")
    return False


def _retryable(exc: BaseException) -> bool:
    """Whether a failed transaction may simply be run again: a lost connection, a deadlock, a shutdown."""
    if isinstance(exc, CommitOutcomeUnknownError):
        return False
    if isinstance(exc, pg_errors.TransactionRollback):  # deadlock, serialization failure
        return True
    return _connection_lost(exc)


def _reconnecting(method: F) -> F:
    """Run a store method again when its transaction failed for a retryable reason (see :func:`_retryable`)."""

    @functools.wraps(method)
    async def wrapper(self: PostgresLightningStore, *args: Any, **kwargs: Any) -> Any:
        give_up = time.monotonic() + self.reconnect_timeout
        delay = 0.05
        while True:
            try:
                return await method(self, *args, **kwargs)
            except Exception as exc:
                if not _retryable(exc) or self._closed or time.monotonic() + delay > give_up:
                    raise
            await asyncio.sleep(delay)  # the database is coming back (restart, failover): give it a moment
            delay = min(1.0, delay * 2)
            self._pool.check()  # drop the pool's dead connections before the next try

    return wrapper  # type: ignore[return-value]


_ROLLOUT_COLUMNS = {"status", "end_time"}
_ATTEMPT_COLUMNS = {"sequence_id"}
_NOT_IN_TAIL = {"rollout_id", "sequence_id"}  # the dequeue statement puts these in


def _dump(model: Rollout | Attempt) -> str:
    """The model's JSON without its column-only fields, or a ``TypeError`` naming the user-given field that
    cannot be stored."""
    try:
        return model.model_dump_json(exclude=_ROLLOUT_COLUMNS if isinstance(model, Rollout) else _ATTEMPT_COLUMNS)
    except ValueError as exc:  # PydanticSerializationError, or a circular reference
        culprits: list[tuple[str, Any]] = [("input", model.input)] if isinstance(model, Rollout) else []
        culprits += [(f"metadata under key {key!r}", value) for key, value in model.metadata.items()]
        for field, value in culprits:
            try:
                to_json(value)
            except ValueError:
                name = f"{type(value).__module__}.{type(value).__qualname__}"
                raise TypeError(
                    f"{type(model).__name__} {field} must be JSON-serializable to be stored in "
                    f"PostgresLightningStore (got {name}): use plain data, a dataclass or a pydantic model ({exc})"
                ) from exc
        raise


def _rollout_from_row(status: str, end_time: float | None, data: str) -> Rollout:
    # status and end_time live in their columns only (the dequeue statement changes them in SQL).
    end = "null" if end_time is None else repr(float(end_time))
    return Rollout.model_validate_json(f'{{"status":"{status}","end_time":{end},{data[1:]}')


def _attempt_from_row(sequence_id: int, data: str) -> Attempt:
    # sequence_id lives in its column only (the dequeue statement computes it in SQL).
    return Attempt.model_validate_json(f'{{"sequence_id":{sequence_id},{data[1:]}')


def _candidate(config: str, sequence_id: int, data: str) -> tuple[RolloutConfig, Attempt]:
    return RolloutConfig.model_validate_json(config), _attempt_from_row(sequence_id, data)


def _span_from_row(sequence_id: int, data: str) -> Span:
    # The JSON was written without "sequence_id" (allocated later); splice the column back in.
    return Span.model_validate_json(f'{{"sequence_id":{sequence_id},{data[1:]}')


class PostgresLightningStore(StoreCore):
    """A :class:`~agentlightning.store.LightningStore` in a PostgreSQL database, shared by processes on any host.

    Args:
        dsn: A libpq connection string or URL (``postgresql://user:password@host:port/dbname``).
        schema: The PostgreSQL schema holding the store's tables (created if missing). Several stores may
            share a database under different schemas.
        min_connections, max_connections: Size of this object's connection pool (the listener used by
            ``wait_for_rollouts`` takes one more).
        connect_timeout: Seconds to wait for the database when opening the store.
        reconnect_timeout: Seconds an operation keeps retrying after losing its connection before it raises.
    """

    _external_poll = None  # other processes' changes arrive through NOTIFY

    def __init__(
        self,
        dsn: str,
        *,
        schema: str = "agentlightning",
        min_connections: int = 1,
        max_connections: int = 4,
        connect_timeout: float = 10.0,
        reconnect_timeout: float = 30.0,
    ) -> None:
        super().__init__()
        if not _IDENTIFIER.fullmatch(schema):
            raise ValueError(
                f"schema must be a lower-case SQL identifier of at most 48 characters (letters, digits, _), "
                f"got {schema!r}"
            )
        self.dsn = dsn
        self.schema = schema
        self.reconnect_timeout = reconnect_timeout
        self._closed = False
        self._local = threading.local()
        self._listener: _Listener | None = None
        self._listener_lock = threading.Lock()
        self._setup(connect_timeout)
        self._pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
            dsn,
            min_size=min_connections,
            max_size=max(min_connections, max_connections),
            kwargs={"autocommit": True},
            configure=_configure,
            timeout=max(connect_timeout, reconnect_timeout),
            name=f"agentlightning-{schema}",
            open=False,
        )
        self._pool.open(wait=True, timeout=connect_timeout)
        self._listeners: list[_Listener] = []  # shared with the finalizer, which must not hold self
        self._finalizer = weakref.finalize(self, _shutdown, self._pool, self._listeners)
        self._compile_sql()

    # ---- set-up and lifecycle --------------------------------------------------------------------

    def _setup(self, connect_timeout: float) -> None:
        """Create the schema (or check the one there), under an advisory lock, in one transaction."""
        try:
            conn = psycopg.connect(self.dsn, connect_timeout=max(1, round(connect_timeout)), autocommit=True)
        except psycopg.Error as exc:
            raise ConnectionError(
                f"PostgresLightningStore could not connect to {_safe_dsn(self.dsn)}: {str(exc).strip()}"
            ) from exc
        s = self.schema
        with conn:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"agentlightning:{s}",))
                tables = {
                    row[0]
                    for row in conn.execute(
                        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                        "WHERE n.nspname = %s AND c.relkind IN ('r', 'v', 'm', 'p', 'f')",
                        (s,),
                    )
                }
                if not tables:
                    for statement in _schema_sql(s):
                        conn.execute(statement.encode())
                    conn.execute(
                        f"INSERT INTO {s}.store_info (key, value) VALUES ('owner', %s), ('schema_version', %s)",
                        (_OWNER, str(SCHEMA_VERSION)),
                    )
                    return
                where = f"schema {s!r} of {_safe_dsn(self.dsn)}"
                foreign = sorted(tables - _TABLES)
                info: dict[str, str] = {}
                if "store_info" in tables:
                    info = dict(conn.execute(f"SELECT key, value FROM {s}.store_info").fetchall())
                if foreign or info.get("owner") != _OWNER:
                    shown = ", ".join(map(repr, (foreign or sorted(tables))[:5]))
                    raise NotAnAgentlightningDatabaseError(
                        f"{where} belongs to something else (it holds the tables {shown}, and no agentlightning "
                        "store_info); it was left untouched. Pass schema=... naming a new or agentlightning schema."
                    )
                version = int(info.get("schema_version", "0"))
                if version != SCHEMA_VERSION:
                    newer = version > SCHEMA_VERSION
                    raise NotAnAgentlightningDatabaseError(
                        f"{where} holds store schema {version}, "
                        + (
                            f"newer than the {SCHEMA_VERSION} this agentlightning understands; upgrade agentlightning"
                            if newer
                            else f"which this agentlightning (schema {SCHEMA_VERSION}) cannot read"
                        )
                        + " or use another schema"
                    )

    def __repr__(self) -> str:
        return f"PostgresLightningStore({_safe_dsn(self.dsn)!r}, schema={self.schema!r})"

    def close(self) -> None:
        """Close the pool and the listener. Idempotent; using the store afterwards raises ``RuntimeError``."""
        self._closed = True
        self._finalizer()

    def _closed_error(self) -> RuntimeError:
        return RuntimeError(
            f"{self!r} was closed: it cannot be used after close(); open a new PostgresLightningStore to go on"
        )

    # ---- transactions ----------------------------------------------------------------------------

    def _conn(self) -> psycopg.Connection[Any]:
        conn: psycopg.Connection[Any] = self._local.conn
        return conn

    @contextmanager
    def _read(self) -> Iterator[None]:
        if getattr(self._local, "conn", None) is not None:  # already inside a transaction on this thread
            yield
            return
        if self._closed:
            raise self._closed_error()
        with self._pool.connection() as conn:
            self._local.conn, self._local.writing = conn, False
            try:
                yield
            finally:
                self._local.conn = None

    @contextmanager
    def _write(self) -> Iterator[None]:
        """One transaction, pipelined: statements whose result is not read (BEGIN, the puts, COMMIT) travel
        with the next one that is read, so a transaction costs a round trip per read, not per statement."""
        if self._closed:
            raise self._closed_error()
        committed = False
        try:
            with self._pool.connection() as conn:
                self._local.conn, self._local.writing = conn, True
                self._local.read = {}  # rows read (and locked) by this transaction: key -> their data as stored
                try:
                    with conn.pipeline() as pipeline:
                        conn.execute("BEGIN")
                        try:
                            yield
                        except BaseException:
                            if not conn.broken:
                                with suppress(psycopg.Error):  # a statement that failed in the pipeline: raised
                                    pipeline.sync()
                                conn.execute("ROLLBACK")
                            raise
                        conn.execute("COMMIT")
                        try:
                            pipeline.sync()
                        except psycopg.OperationalError as exc:
                            # Lost with COMMIT on its way (the server may have committed, then gone: a shutdown
                            # reports that as an error on a connection not yet marked broken): unknown. A
                            # serialization failure or a statement's error means it did not commit.
                            if conn.broken or _connection_lost(exc):
                                raise CommitOutcomeUnknownError(
                                    f"the connection to {_safe_dsn(self.dsn)} broke while committing a change; it "
                                    "may or may not have been saved: read the store to find out before repeating it"
                                ) from exc
                            raise
                        committed = True
                finally:
                    self._local.conn, self._local.read = None, None
        except psycopg.Error:
            # COMMIT's result came back, so the change is saved, whatever leaving the pipeline or handing the
            # connection back to the pool then reported about a connection that died just after (the pool
            # drops it). Raising would have the whole operation retried: a batch of spans stored twice.
            if not committed:
                raise

    def _lock_clause(self) -> str:
        return " FOR UPDATE" if getattr(self._local, "writing", False) else ""

    def _remember(self, key: tuple[str, ...], data: str) -> None:
        """Inside a write transaction: the row ``key`` exists (it was just read), holding ``data``."""
        read: dict[tuple[str, ...], str] | None = getattr(self._local, "read", None)
        if read is not None and getattr(self._local, "writing", False):
            read[key] = data

    def _known(self, key: tuple[str, ...]) -> str | None:
        """The data of row ``key`` if this write transaction read it (so a put is an UPDATE), else ``None``."""
        read: dict[tuple[str, ...], str] | None = getattr(self._local, "read", None)
        return None if read is None else read.get(key)

    def _compile_sql(self) -> None:
        s = self.schema
        # One statement, one round trip, its own transaction: take the front of the queue (skipping rows other
        # workers hold), unqueue it, make it "preparing" and insert attempt n+1 -- what StoreCore's dequeue does
        # through its primitives. Any concurrent attempt creation holds the rollout row lock and unqueues it,
        # so the skipped-or-latest row read here always sees the latest attempts (and a unique index checks).
        # The attempts still watched for time limits: few rows, found from a partial index first.
        watched = f"""
            SELECT r.rollout_id, (r.data::json) -> 'config' AS config FROM {s}.rollouts r
            WHERE r.has_deadline AND r.status NOT IN {_TERMINAL_SQL}"""
        active = "a.status IN ('preparing', 'running')"
        dequeue = f"""
            WITH picked AS (
                SELECT q.pos, q.rollout_id FROM {s}.queue q JOIN {s}.rollouts r ON r.rollout_id = q.rollout_id
                {{where}} ORDER BY q.pos LIMIT 1 FOR UPDATE OF q, r SKIP LOCKED
            ), unqueued AS (
                DELETE FROM {s}.queue q USING picked p WHERE q.pos = p.pos
            ), taken AS (
                UPDATE {s}.rollouts r SET status = 'preparing', end_time = NULL FROM picked p
                WHERE r.rollout_id = p.rollout_id
                RETURNING r.rollout_id, r.status, r.end_time, r.data
            ), attempt AS (
                INSERT INTO {s}.attempts (rollout_id, attempt_id, sequence_id, status, data)
                SELECT t.rollout_id, %(aid)s,
                       1 + COALESCE((SELECT max(a.sequence_id) FROM {s}.attempts a
                                     WHERE a.rollout_id = t.rollout_id), 0),
                       'preparing',
                       '{{{{"rollout_id":' || to_json(t.rollout_id)::text || ',' || substr(%(tail)s::text, 2)
                FROM taken t
                RETURNING sequence_id
            ), watched AS MATERIALIZED ({watched}
            ), expiring AS (
                SELECT json_agg(json_build_array(w.config, a.sequence_id, a.data))::text AS rows
                FROM watched w JOIN {s}.attempts a ON a.rollout_id = w.rollout_id AND {active}
            )
            SELECT e.rows, t.status, t.end_time, t.data, a.sequence_id
            FROM expiring e LEFT JOIN (taken t CROSS JOIN attempt a) ON true"""
        self._sql_dequeue_any = dequeue.format(where="")
        self._sql_dequeue_run = dequeue.format(where="WHERE q.run_id = %(run)s")
        # A claim of this attempt id, still in force (the rollout is "preparing": nobody has used it since).
        self._sql_claimed = (
            f"SELECT r.status, r.end_time, r.data, a.sequence_id FROM {s}.rollouts r "
            f"JOIN {s}.attempts a ON a.rollout_id = r.rollout_id WHERE r.status = 'preparing' AND a.attempt_id = %s"
        )
        self._sql_deadlines = (
            f"WITH watched AS MATERIALIZED ({watched}) SELECT w.config::text, a.sequence_id, a.data "
            f"FROM watched w JOIN {s}.attempts a ON a.rollout_id = w.rollout_id AND {active}"
        )

    # ---- retried core methods, and the dequeue with SKIP LOCKED ---------------------------------------

    @_reconnecting
    async def start_rollout(
        self,
        input: Any,
        mode: RolloutMode | None = None,
        resources_id: str | None = None,
        config: RolloutConfig | dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        *,
        run_id: str | None = None,
    ) -> AttemptedRollout:
        """The core's ``start_rollout``, retried across a lost connection."""
        return await super().start_rollout(input, mode, resources_id, config, metadata, run_id=run_id)

    @_reconnecting
    async def enqueue_rollout(
        self,
        input: Any,
        mode: RolloutMode | None = None,
        resources_id: str | None = None,
        config: RolloutConfig | dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        *,
        run_id: str | None = None,
    ) -> Rollout:
        """The core's ``enqueue_rollout``, retried across a lost connection."""
        return await super().enqueue_rollout(input, mode, resources_id, config, metadata, run_id=run_id)

    async def dequeue_rollout(
        self, worker_id: str | None = None, *, run_id: str | None = None
    ) -> AttemptedRollout | None:
        """Take the oldest queued rollout (of run ``run_id``, if given) and start attempt n+1 on it.

        ``FOR UPDATE SKIP LOCKED``: a rollout another worker is taking right now is skipped, not waited for.
        ``None`` when nothing is queued. One statement, one round trip: the time-limit check (StoreCore's
        ``_check_deadlines``, which runs first when an attempt has run out of time) travels with the claim.

        A claim whose connection is lost is retried with the same attempt id; a retry first looks for that
        attempt, so a claim the database committed just before the connection broke (its reply lost) is
        returned, not left ``preparing`` with nobody working on it while the retry takes another rollout.
        """
        if self._closed:
            raise self._closed_error()
        attempt = Attempt(
            rollout_id="", attempt_id=new_attempt_id(), sequence_id=0, start_time=time.time(), worker_id=worker_id
        )
        return await self._claim(attempt, run_id, [])

    @_reconnecting
    async def _claim(self, attempt: Attempt, run_id: str | None, tries: list[None]) -> AttemptedRollout | None:
        if tries:  # a retry: the last try may have committed before its connection broke
            with self._pool.connection() as conn:
                earlier = conn.execute(self._sql_claimed, (attempt.attempt_id,)).fetchone()
            if earlier is not None:
                return self._claimed(attempt, *earlier)
        tries.append(None)
        now = time.time()
        params = {"run": run_id, "aid": attempt.attempt_id, "tail": attempt.model_dump_json(exclude=_NOT_IN_TAIL)}
        with self._pool.connection() as conn:
            sql = self._sql_dequeue_any if run_id is None else self._sql_dequeue_run
            row = conn.execute(sql, params).fetchone()
        watched: str | None = None if row is None else row[0]
        candidates = json.loads(watched) if watched else []
        expired = any(
            deadline_status(RolloutConfig.model_validate(c), _attempt_from_row(q, a), now) for c, q, a in candidates
        )
        claimed = row is not None and row[3] is not None
        if expired:
            self._check_deadlines()  # marks them and requeues per retry_condition; then the claim is retried
            if not claimed:
                return await self.dequeue_rollout(attempt.worker_id, run_id=run_id)
        if row is None or not claimed:
            return None
        return self._claimed(attempt, *row[1:])

    def _claimed(
        self, attempt: Attempt, status: str, end_time: float | None, data: str, sequence_id: int
    ) -> AttemptedRollout:
        rollout = _rollout_from_row(status, end_time, data)
        attempt.rollout_id, attempt.sequence_id = rollout.rollout_id, int(sequence_id)
        return self._attempted(rollout, attempt)

    @_reconnecting
    async def query_rollouts(
        self,
        *,
        status_in: Sequence[RolloutStatus] | None = None,
        rollout_id_in: Sequence[str] | None = None,
        mode_in: Sequence[RolloutMode] | None = None,
        limit: int = -1,
        offset: int = 0,
        run_id: str | None = None,
    ) -> list[Rollout]:
        """The core's query, retried across a lost connection."""
        return await super().query_rollouts(
            status_in=status_in, rollout_id_in=rollout_id_in, mode_in=mode_in, limit=limit, offset=offset, run_id=run_id
        )

    @_reconnecting
    async def wait_for_rollouts(self, rollout_ids: Sequence[str], timeout: float | None = None) -> list[Rollout]:
        """Wait until every rollout is finished or ``timeout`` passes; woken by NOTIFY from any host."""
        _require_list(rollout_ids, "rollout_ids")
        self._ensure_listener()
        return await super().wait_for_rollouts(rollout_ids, timeout)

    def _ensure_listener(self) -> None:
        with self._listener_lock:
            if self._closed:
                raise self._closed_error()
            if self._listener is None:
                self._listener = _Listener(self.dsn, _channel(self.schema), self._waiters.notify_all)
                self._listeners.append(self._listener)
        self._listener.ready(self.reconnect_timeout)

    # ---- rollouts and queue ----------------------------------------------------------------------

    def _get_rollout(self, rollout_id: str) -> Rollout | None:
        sql = f"SELECT status, end_time, data FROM {self.schema}.rollouts WHERE rollout_id = %s{self._lock_clause()}"
        row = self._conn().execute(sql, (rollout_id,)).fetchone()
        if row is None:
            return None
        self._remember(("r", rollout_id), row[2])
        return _rollout_from_row(*row)

    def _get_rollouts(self, rollout_ids: list[str]) -> dict[str, Rollout]:
        rows = self._conn().execute(
            f"SELECT rollout_id, status, end_time, data FROM {self.schema}.rollouts WHERE rollout_id = ANY(%s)",
            (rollout_ids,),
        )
        return {rid: _rollout_from_row(status, end, data) for rid, status, end, data in rows}

    def _get_rollout_states(self, rollout_ids: list[str]) -> dict[str, tuple[str, float | None]]:
        # LEAST ignores NULLs: the shorter of the two limits set, NULL when neither is.
        rows = self._conn().execute(
            f"SELECT rollout_id, status, CASE WHEN has_deadline THEN LEAST("
            f"((data::json) #>> '{{config,timeout_seconds}}')::float8, "
            f"((data::json) #>> '{{config,unresponsive_seconds}}')::float8) END "
            f"FROM {self.schema}.rollouts WHERE rollout_id = ANY(%s)",
            (rollout_ids,),
        )
        return {rid: (status, None if limit is None else float(limit)) for rid, status, limit in rows}

    def _select_rollouts(
        self,
        status_in: Sequence[str] | None,
        rollout_id_in: Sequence[str] | None,
        mode_in: Sequence[str] | None,
        limit: int,
        offset: int,
        run_id: str | None = None,
    ) -> list[Rollout]:
        return self._select_rollouts_of_run(status_in, rollout_id_in, mode_in, run_id, limit, offset)

    def _select_rollouts_of_run(
        self,
        status_in: Sequence[str] | None,
        rollout_id_in: Sequence[str] | None,
        mode_in: Sequence[str] | None,
        run_id: str | None,
        limit: int,
        offset: int,
    ) -> list[Rollout]:
        clauses: list[str] = []
        params: list[Any] = []
        for column, values in (("status", status_in), ("rollout_id", rollout_id_in), ("mode", mode_in)):
            if values is not None:
                clauses.append(f"{column} = ANY(%s)")
                params.append(list(values))
        if run_id is not None:
            clauses.append("run_id = %s")
            params.append(run_id)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        params += [limit if limit >= 0 else None, max(0, offset)]
        rows = self._conn().execute(
            f"SELECT status, end_time, data FROM {self.schema}.rollouts{where} ORDER BY seq LIMIT %s OFFSET %s", params
        )
        return [_rollout_from_row(*row) for row in rows]

    def _put_rollout(self, rollout: Rollout) -> None:
        # A row this transaction read (and locked) is updated in place, its JSON only when it changed (a status
        # change alone touches two columns); a new one is inserted. An upsert costs the server twice as much.
        s, rid = self.schema, rollout.rollout_id
        data = _dump(rollout)
        known = self._known(("r", rid))
        if known is None:
            self._conn().execute(
                f"INSERT INTO {s}.rollouts (rollout_id, status, end_time, mode, run_id, has_deadline, data) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (rollout_id) DO UPDATE SET status = excluded.status, "
                "end_time = excluded.end_time, mode = excluded.mode, run_id = excluded.run_id, "
                "has_deadline = excluded.has_deadline, data = excluded.data",
                (rid, rollout.status, rollout.end_time, rollout.mode, getattr(rollout, "run_id", None),
                 has_deadline(rollout.config), data),
            )  # fmt: skip
        elif known == data:
            self._conn().execute(
                f"UPDATE {s}.rollouts SET status = %s, end_time = %s WHERE rollout_id = %s",
                (rollout.status, rollout.end_time, rid),
            )
        else:
            self._conn().execute(
                f"UPDATE {s}.rollouts SET status = %s, end_time = %s, mode = %s, run_id = %s, has_deadline = %s, "
                "data = %s WHERE rollout_id = %s",
                (rollout.status, rollout.end_time, rollout.mode, getattr(rollout, "run_id", None),
                 has_deadline(rollout.config), data, rid),
            )  # fmt: skip
        self._remember(("r", rid), data)

    def _queue_push(self, rollout_id: str) -> None:
        s = self.schema
        self._conn().execute(
            f"INSERT INTO {s}.queue (rollout_id, run_id) SELECT rollout_id, run_id FROM {s}.rollouts "
            f"WHERE rollout_id = %s ON CONFLICT (rollout_id) DO UPDATE SET pos = nextval('{s}.queue_pos_seq')",
            (rollout_id,),
        )

    def _queue_remove(self, rollout_id: str) -> None:
        self._conn().execute(f"DELETE FROM {self.schema}.queue WHERE rollout_id = %s", (rollout_id,))

    def _queue_peek(self, run_id: str | None = None) -> str | None:
        where, params = ("", ()) if run_id is None else (" WHERE run_id = %s", (run_id,))
        row = (
            self._conn()
            .execute(
                f"SELECT rollout_id FROM {self.schema}.queue{where} ORDER BY pos LIMIT 1 FOR UPDATE SKIP LOCKED",
                params,
            )
            .fetchone()
        )
        return None if row is None else str(row[0])

    # ---- attempts (always read under the lock of their rollout's row) ------------------------------

    def _get_attempt(self, rollout_id: str, attempt_id: str) -> Attempt | None:
        row = (
            self._conn()
            .execute(
                f"SELECT sequence_id, data FROM {self.schema}.attempts WHERE rollout_id = %s AND attempt_id = %s",
                (rollout_id, attempt_id),
            )
            .fetchone()
        )
        if row is None:
            return None
        self._remember(("a", rollout_id, attempt_id), row[1])
        return _attempt_from_row(*row)

    def _get_attempts(self, rollout_id: str) -> list[Attempt]:
        rows = self._conn().execute(
            f"SELECT sequence_id, data FROM {self.schema}.attempts WHERE rollout_id = %s ORDER BY sequence_id",
            (rollout_id,),
        )
        return [_attempt_from_row(*row) for row in rows]

    def _get_latest_attempt(self, rollout_id: str) -> Attempt | None:
        row = (
            self._conn()
            .execute(
                f"SELECT sequence_id, data FROM {self.schema}.attempts WHERE rollout_id = %s "
                "ORDER BY sequence_id DESC LIMIT 1",
                (rollout_id,),
            )
            .fetchone()
        )
        return None if row is None else _attempt_from_row(*row)

    def _put_attempt(self, attempt: Attempt) -> None:
        key = ("a", attempt.rollout_id, attempt.attempt_id)
        data = _dump(attempt)
        if self._known(key) is None:
            self._conn().execute(
                f"INSERT INTO {self.schema}.attempts (rollout_id, attempt_id, sequence_id, status, data) "
                "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (rollout_id, attempt_id) DO UPDATE SET "
                "sequence_id = excluded.sequence_id, status = excluded.status, data = excluded.data",
                (attempt.rollout_id, attempt.attempt_id, attempt.sequence_id, attempt.status, data),
            )
        else:  # read by this transaction, under its rollout's row lock: it is there
            self._conn().execute(
                f"UPDATE {self.schema}.attempts SET sequence_id = %s, status = %s, data = %s "
                "WHERE rollout_id = %s AND attempt_id = %s",
                (attempt.sequence_id, attempt.status, data, attempt.rollout_id, attempt.attempt_id),
            )
        self._remember(key, data)

    def _deadline_candidates(self) -> list[tuple[RolloutConfig, Attempt]]:
        return [_candidate(*row) for row in self._conn().execute(self._sql_deadlines)]

    # ---- spans -----------------------------------------------------------------------------------

    def _reserve_sequence_ids(self, rollout_id: str, count: int) -> int:
        row = (
            self._conn()
            .execute(
                f"UPDATE {self.schema}.rollouts SET span_seq = span_seq + %s WHERE rollout_id = %s RETURNING span_seq",
                (count, rollout_id),
            )
            .fetchone()
        )
        assert row is not None  # the core checked the rollout exists, under its row lock
        return int(row[0]) - count + 1

    def _bump_sequence_id(self, rollout_id: str, at_least: int) -> None:
        self._conn().execute(
            f"UPDATE {self.schema}.rollouts SET span_seq = GREATEST(span_seq, %s) WHERE rollout_id = %s",
            (at_least, rollout_id),
        )

    def _encode_spans(self, spans: list[Span]) -> list[str]:
        return [span.model_dump_json(exclude=_NO_SEQUENCE) for span in spans]

    def _insert_spans(self, spans: list[Span], encoded: list[str]) -> None:
        # executemany in the write transaction's pipeline: the rows stream without a round trip each
        # (COPY cannot run in a pipeline; one INSERT of unnest()ed arrays costs more to adapt and to plan).
        rows = [(s.rollout_id, s.attempt_id, s.sequence_id, data) for s, data in zip(spans, encoded, strict=True)]
        with self._conn().cursor() as cursor:
            cursor.executemany(
                f"INSERT INTO {self.schema}.spans (rollout_id, attempt_id, sequence_id, data) VALUES (%s, %s, %s, %s)",
                rows,
            )

    def _select_spans(self, rollout_id: str, attempt_id: str | None) -> list[Span]:
        s = self.schema
        if attempt_id is None:
            rows = self._conn().execute(
                f"SELECT sequence_id, data FROM {s}.spans WHERE rollout_id = %s ORDER BY sequence_id, id",
                (rollout_id,),
            )
        else:
            rows = self._conn().execute(
                f"SELECT sequence_id, data FROM {s}.spans WHERE rollout_id = %s AND attempt_id = %s "
                "ORDER BY sequence_id, id",
                (rollout_id, attempt_id),
            )
        return [_span_from_row(seq, data) for seq, data in rows]

    # ---- resources -------------------------------------------------------------------------------

    def _get_resources(self, resources_id: str) -> ResourcesUpdate | None:
        row = (
            self._conn()
            .execute(
                f"SELECT data FROM {self.schema}.resources WHERE resources_id = %s{self._lock_clause()}",
                (resources_id,),
            )
            .fetchone()
        )
        return None if row is None else ResourcesUpdate.model_validate_json(row[0])

    def _get_latest_resources(self) -> ResourcesUpdate | None:
        row = self._conn().execute(f"SELECT data FROM {self.schema}.resources ORDER BY touched DESC LIMIT 1").fetchone()
        return None if row is None else ResourcesUpdate.model_validate_json(row[0])

    def _put_resources(self, update: ResourcesUpdate) -> None:
        s = self.schema
        self._conn().execute(
            f"INSERT INTO {s}.resources (resources_id, touched, data) "
            f"VALUES (%s, nextval('{s}.resources_touched'), %s) "
            "ON CONFLICT (resources_id) DO UPDATE SET touched = excluded.touched, data = excluded.data",
            (update.resources_id, update.model_dump_json()),
        )


# Every public method runs again on a fresh connection when its transaction was cut off (database restart).
for _name in (
    "start_attempt",
    "get_rollout_by_id",
    "update_rollout",
    "query_attempts",
    "get_latest_attempt",
    "update_attempt",
    "_end_attempt",
    "add_span",
    "add_many_spans",
    "add_otel_spans",
    "get_next_span_sequence_id",
    "query_spans",
    "add_resources",
    "update_resources",
    "get_resources_by_id",
    "get_latest_resources",
):
    setattr(PostgresLightningStore, _name, _reconnecting(getattr(StoreCore, _name)))


class _Listener:
    """A thread holding one connection that ``LISTEN``s on the store's channel and wakes the waiters.

    After a lost connection it reconnects (backing off up to 1 s) and wakes every waiter once, since a
    notification may have been missed in between; waiters then re-read the statuses.
    """

    def __init__(self, dsn: str, channel: str, wake: Callable[[], None]) -> None:
        self._dsn = dsn
        self._channel = channel
        self._stop_channel = f"agentlightning_stop_{uuid.uuid4().hex}"
        self._wake = wake
        self._stopping = threading.Event()
        self._listening = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="agentlightning-pg-listener", daemon=True)
        self._thread.start()

    def ready(self, timeout: float) -> None:
        """Block until the first ``LISTEN`` is in place (so no later commit is missed)."""
        if not self._listening.wait(timeout):
            raise ConnectionError(f"PostgresLightningStore could not LISTEN for changes: {self._error}")

    def _run(self) -> None:
        delay = 0.05
        while not self._stopping.is_set():
            try:
                with psycopg.connect(self._dsn, autocommit=True) as conn:
                    conn.execute(f'LISTEN "{self._channel}"'.encode())
                    conn.execute(f'LISTEN "{self._stop_channel}"'.encode())
                    if self._listening.is_set():
                        self._wake()  # back after a gap: something may have finished meanwhile
                    self._listening.set()
                    delay = 0.05
                    for notify in conn.notifies():
                        if notify.channel == self._stop_channel or self._stopping.is_set():
                            return
                        self._wake()
            except psycopg.Error as exc:
                self._error = exc
                if self._stopping.wait(delay):
                    return
                delay = min(1.0, delay * 2)

    def stop(self, pool: ConnectionPool[psycopg.Connection[Any]]) -> None:
        self._stopping.set()
        if self._thread.is_alive() and self._listening.is_set():
            try:
                with pool.connection(timeout=2) as conn:
                    conn.execute("SELECT pg_notify(%s, '')", (self._stop_channel,))
            except (psycopg.Error, PoolTimeout):
                pass  # the database is gone: the thread is a daemon and ends with its connection
            self._thread.join(timeout=5)


def _shutdown(pool: ConnectionPool[psycopg.Connection[Any]], listeners: list[_Listener]) -> None:
    for listener in listeners:
        listener.stop(pool)
    pool.close()
