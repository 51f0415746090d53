"""The store logic, written once: every public method of :class:`LightningStore` over a few storage primitives.

A backend subclasses :class:`StoreCore` and implements the primitives of
:class:`~agentlightning.store._common.StorageBackend` (get/put a rollout, an attempt, spans, resources;
the queue; transactions). Everything else -- the state machine, id allocation, validation and error
messages, time-out detection, ``wait_for_rollouts`` -- lives here, so
:class:`~agentlightning.store.memory.InMemoryLightningStore` and
:class:`~agentlightning.store.sqlite.SqliteLightningStore` behave identically by construction, and a future
backend gets the same behaviour by implementing the same primitives.

Reads return empty results (``[]``/``None``) for unknown ids; writes raise ``ValueError`` naming the id.

Spans that arrive after their attempt ended (a tracer flushing late, a worker the store gave up on):

- A span is always stored, whatever the state of its attempt and rollout: no data is lost.
- A span of an attempt in a terminal state (``succeeded``, ``failed``, ``timeout``, ``unresponsive``) counts
  for nothing else: it neither revives the attempt nor moves the rollout. A rollout that went back on the
  queue (``requeuing``) stays there, so the retry the state machine promised still happens.
- The one exception: an ``unresponsive`` attempt (no heartbeat for a while) that speaks again is alive. It
  goes back to ``running`` if, and only if, it is still the rollout's latest attempt and the rollout has
  not finished. Its rollout then becomes ``running`` too, leaving the queue if it was ``requeuing``: the
  revived attempt is watched by the same time limits as before and ends, one way or another, in a status
  that moves the rollout again. Once a newer attempt exists, or the rollout is ``failed``/``cancelled``,
  the old attempt stays ``unresponsive``.
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal

from agentlightning.types import (
    TERMINAL_ATTEMPT_STATUSES,
    TERMINAL_ROLLOUT_STATUSES,
    UNSET,
    Attempt,
    AttemptedRollout,
    AttemptStatus,
    NamedResources,
    ResourcesUpdate,
    Rollout,
    RolloutConfig,
    RolloutMode,
    RolloutStatus,
    Span,
    new_attempt_id,
    new_resources_id,
    new_rollout_id,
    to_rollout_config,
)

from ._common import (
    ACTIVE_ATTEMPT_STATUSES,
    QUEUED_ROLLOUT_STATUSES,
    RESOURCES_ADAPTER,
    StorageBackend,
    Waiter,
    Waiters,
    deadline_status,
    has_deadline,
    next_deadline,
    rollout_status_for_attempt,
    wait_event,
    wake_interval,
)
from .base import LightningStore, OtelSpanItem

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan

__all__ = ["StoreCore"]

#: Rollout states that a span of the latest (active or revived) attempt turns into ``running``.
_WAKE_BY_SPAN: frozenset[str] = frozenset({"preparing", "queuing", "requeuing"})
#: Attempt states that a span turns into ``running`` (``unresponsive`` only under the conditions of
#: :meth:`StoreCore._heartbeat`: an unresponsive worker that speaks again is alive).
_REVIVED_BY_SPAN: frozenset[str] = frozenset({"preparing", "unresponsive"})


class _Seen:
    """What a ``wait_for_rollouts`` has read so far: its unfinished rollouts (with their shortest time limit,
    ``inf`` for none) and its finished ones."""

    __slots__ = ("finished", "pending")

    def __init__(self) -> None:
        self.pending: dict[str, float] = {}
        self.finished: set[str] = set()

    def finished_of(self, ids: list[str]) -> list[str]:
        finished = self.finished
        return [rid for rid in ids if rid in finished]


def _require_list(value: object, name: str) -> None:
    """A ``str`` where a list of strings belongs is a mistake that would silently match nothing: refuse it."""
    if isinstance(value, (str, bytes)):
        raise TypeError(f"{name} must be a list of strings, got the single string {value!r}: pass [{value!r}]")


class StoreCore(StorageBackend, LightningStore):
    """:class:`LightningStore` logic over the primitives of :class:`StorageBackend`. Pick a backend to use it."""

    def __init__(self) -> None:
        self._waiters = Waiters()
        self._notify_pending: set[str] = set()  # rollouts entering or leaving a finished state in this write
        # No watched attempt can run out of time before ``_deadline_floor`` (a time.time()), as long as the
        # data version (other processes' commits) is still ``_deadline_version``: reads skip the time-limit
        # scan until then. Writes of this process that may bring a deadline closer lower it (and bump
        # ``_deadline_gen``, so that a scan that ran meanwhile does not raise it again).
        self._deadline_lock = threading.Lock()
        self._deadline_floor = -math.inf
        self._deadline_version = 0
        self._deadline_gen = 0

    def __enter__(self) -> StoreCore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ==== transactions and the state machine ======================================================

    def _tx(self) -> _Transaction:
        """A write transaction that wakes ``wait_for_rollouts`` waiters after it commits a status change."""
        return _Transaction(self)

    def _require_rollout(self, rollout_id: str) -> Rollout:
        rollout = self._get_rollout(rollout_id)
        if rollout is None:
            raise ValueError(f"Rollout {rollout_id!r} not found")
        return rollout

    def _require_attempt(self, rollout_id: str, attempt_id: str) -> Attempt:
        attempt = self._get_attempt(rollout_id, attempt_id)
        if attempt is None:
            raise ValueError(f"Attempt {attempt_id!r} of rollout {rollout_id!r} not found")
        return attempt

    def _set_rollout_status(self, rollout: Rollout, status: RolloutStatus, now: float) -> None:
        """Move the rollout (caller puts it): ``end_time``, queue membership and waiters follow."""
        old = rollout.status
        if old == status:
            return
        rollout.status = status
        rollout.end_time = now if status in TERMINAL_ROLLOUT_STATUSES else None
        if status in QUEUED_ROLLOUT_STATUSES and old not in QUEUED_ROLLOUT_STATUSES:
            self._queue_push(rollout.rollout_id)
        elif old in QUEUED_ROLLOUT_STATUSES and status not in QUEUED_ROLLOUT_STATUSES:
            self._queue_remove(rollout.rollout_id)
        if status in TERMINAL_ROLLOUT_STATUSES or old in TERMINAL_ROLLOUT_STATUSES:
            self._notify_pending.add(rollout.rollout_id)

    def _set_attempt_status(self, rollout: Rollout, attempt: Attempt, status: AttemptStatus, now: float) -> None:
        """Move the attempt and put it; if it is the latest one, move the rollout as the state machine says."""
        attempt.status = status
        attempt.end_time = now if status in TERMINAL_ATTEMPT_STATUSES else None
        self._put_attempt(attempt)
        if self._latest_attempt_id(rollout.rollout_id) != attempt.attempt_id:
            return
        target = rollout_status_for_attempt(rollout, attempt)
        if target is not None and target != rollout.status:
            self._set_rollout_status(rollout, target, now)
            self._put_rollout(rollout)
        self._watch_deadline(rollout, attempt)

    def _new_rollout(
        self,
        input: Any,
        mode: RolloutMode | None,
        resources_id: str | None,
        config: RolloutConfig | None,
        metadata: dict[str, Any] | None,
        status: RolloutStatus,
        now: float,
        run_id: str | None,
    ) -> Rollout:
        if resources_id is None:
            latest = self._get_latest_resources()
            resources_id = latest.resources_id if latest is not None else None
        rollout_id = new_rollout_id()
        while self._get_rollout(rollout_id) is not None:  # 48 random bits: practically never
            rollout_id = new_rollout_id()
        rollout = Rollout(
            rollout_id=rollout_id,
            input=input,
            start_time=now,
            mode=mode,
            resources_id=resources_id,
            status=status,
            config=config.model_copy(deep=True) if config is not None else RolloutConfig(),
            metadata=dict(metadata) if metadata else {},
            run_id=run_id,
        )
        self._put_rollout(rollout)
        if status in QUEUED_ROLLOUT_STATUSES:
            self._queue_push(rollout_id)
        return rollout

    def _new_attempt(self, rollout: Rollout, worker_id: str | None, now: float) -> Attempt:
        """Attempt n+1 of the rollout, ``preparing``; the rollout becomes ``preparing`` too (caller puts it)."""
        latest = self._get_latest_attempt(rollout.rollout_id)
        attempt_id = new_attempt_id()
        # Attempt ids are unique within their rollout: a rollout without attempts has nothing to collide with.
        while latest is not None and self._get_attempt(rollout.rollout_id, attempt_id) is not None:
            attempt_id = new_attempt_id()
        attempt = Attempt(
            rollout_id=rollout.rollout_id,
            attempt_id=attempt_id,
            sequence_id=1 if latest is None else latest.sequence_id + 1,
            start_time=now,
            status="preparing",
            worker_id=worker_id,
        )
        self._put_attempt(attempt)
        self._set_rollout_status(rollout, "preparing", now)
        self._watch_deadline(rollout, attempt)
        return attempt

    def _attempted(self, rollout: Rollout, attempt: Attempt) -> AttemptedRollout:
        rollout = self._detach(rollout)
        return AttemptedRollout.model_construct(**dict(rollout), attempt=self._detach(attempt))

    def _watch_deadline(self, rollout: Rollout, attempt: Attempt) -> None:
        """This process wrote ``attempt`` (of ``rollout``): the next scan is due by its deadline at the latest."""
        if attempt.status not in ACTIVE_ATTEMPT_STATUSES or rollout.status in TERMINAL_ROLLOUT_STATUSES:
            return
        if not has_deadline(rollout.config):
            return
        due = next_deadline(rollout.config, attempt)
        with self._deadline_lock:
            self._deadline_gen += 1
            if due < self._deadline_floor:
                self._deadline_floor = due

    def _forget_deadlines(self) -> None:
        """A change whose effect on time limits is not worth working out: the next read scans."""
        with self._deadline_lock:
            self._deadline_gen += 1
            self._deadline_floor = -math.inf

    def _check_deadlines(self) -> int:
        """Mark attempts past their time limit ``timeout``/``unresponsive`` (and move their rollouts).

        Skipped (no scan) while no watched attempt can be due yet: see ``_deadline_floor``. Returns the data
        version read first (what ``wait_for_rollouts`` compares, so that it need not read it again).
        """
        floor = self._deadline_floor
        if floor != -math.inf and time.time() < floor:
            version = self._data_version()
            if version == self._deadline_version:
                return version
        with self._deadline_lock:
            gen = self._deadline_gen
        version = self._data_version()
        with self._read():
            candidates, later = self._deadline_scan(time.time())
        now = time.time()
        expired = [attempt for config, attempt in candidates if deadline_status(config, attempt, now)]
        if not expired:
            due = min((next_deadline(config, attempt) for config, attempt in candidates), default=math.inf)
            with self._deadline_lock:
                if self._deadline_gen == gen:  # no write of this process since the scan began
                    self._deadline_floor, self._deadline_version = min(due, later), version
            return version
        with self._tx():
            for stale in expired:  # re-read inside the transaction: another writer may have got there first
                rollout = self._get_rollout(stale.rollout_id)
                attempt = self._get_attempt(stale.rollout_id, stale.attempt_id)
                if rollout is None or attempt is None or rollout.status in TERMINAL_ROLLOUT_STATUSES:
                    continue
                status = deadline_status(rollout.config, attempt, now)
                if status is not None:
                    self._set_attempt_status(rollout, attempt, status, now)
        # The floor stays where it was (passed): the next read scans again and finds what is left.
        return version

    # ==== rollouts ================================================================================

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
        """Create a rollout and its first attempt, both ``preparing``, without queuing it.

        ``resources_id=None`` picks the latest resources, if any.
        """
        checked = to_rollout_config(config)
        now = time.time()
        with self._tx():
            rollout = self._new_rollout(input, mode, resources_id, checked, metadata, "preparing", now, run_id)
            attempt = self._new_attempt(rollout, None, now)
        return self._attempted(rollout, attempt)

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
        """Create a rollout in ``queuing`` at the back of the queue. ``resources_id=None`` picks the latest.

        ``config``: a :class:`RolloutConfig` or a dict of its fields (validated; anything else is a
        ``TypeError``). ``run_id``: the run the rollout belongs to (see :meth:`dequeue_rollout`).
        """
        checked = to_rollout_config(config)
        with self._tx():
            rollout = self._new_rollout(input, mode, resources_id, checked, metadata, "queuing", time.time(), run_id)
        return self._detach(rollout)

    async def dequeue_rollout(
        self, worker_id: str | None = None, *, run_id: str | None = None
    ) -> AttemptedRollout | None:
        """Take the oldest queued (or requeued) rollout, start attempt n+1 on it (both ``preparing``).

        ``run_id``: take only a rollout of that run (the others stay queued, for their own run's runners);
        ``None`` takes any. Never blocks waiting for work: ``None`` when nothing (of the run) is queued.
        """
        self._check_deadlines()  # a timed-out attempt may have put its rollout back on the queue
        now = time.time()
        with self._tx():
            while (rollout_id := self._queue_peek(run_id)) is not None:
                rollout = self._get_rollout(rollout_id)
                if rollout is None or rollout.status not in QUEUED_ROLLOUT_STATUSES:
                    self._queue_remove(rollout_id)  # defensive: the queue only ever holds queued rollouts
                    continue
                attempt = self._new_attempt(rollout, worker_id, now)
                self._put_rollout(rollout)
                break
            else:
                return None
        return self._attempted(rollout, attempt)

    async def start_attempt(self, rollout_id: str) -> AttemptedRollout:
        """Start attempt n+1 of a rollout outside the queue; rollout and attempt become ``preparing``."""
        now = time.time()
        with self._tx():
            rollout = self._require_rollout(rollout_id)
            attempt = self._new_attempt(rollout, None, now)
            self._put_rollout(rollout)
        return self._attempted(rollout, attempt)

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
        """Rollouts in creation order; each filter given must match; ``limit=-1`` means all.

        ``run_id``: only rollouts of that run. The ``*_in`` filters are lists: a single ``str`` raises
        ``TypeError`` (it would otherwise be read as a list of characters and match nothing).
        """
        _require_list(status_in, "status_in")
        _require_list(rollout_id_in, "rollout_id_in")
        _require_list(mode_in, "mode_in")
        self._check_deadlines()
        with self._read():
            rollouts = self._select_rollouts(status_in, rollout_id_in, mode_in, limit, offset, run_id)
        return [self._detach(rollout) for rollout in rollouts]

    async def get_rollout_by_id(self, rollout_id: str) -> Rollout | None:
        """The rollout, or ``None`` if there is none with that id."""
        self._check_deadlines()
        with self._read():
            rollout = self._get_rollout(rollout_id)
        return None if rollout is None else self._detach(rollout)

    async def update_rollout(
        self,
        rollout_id: str,
        input: Any = UNSET,
        mode: RolloutMode | None = UNSET,
        resources_id: str | None = UNSET,
        status: RolloutStatus = UNSET,
        config: RolloutConfig | dict[str, Any] = UNSET,
        metadata: dict[str, Any] = UNSET,
    ) -> Rollout:
        """Change the given fields; ``UNSET`` (the default) leaves a field alone, ``None`` sets ``None``.

        A status change keeps the rest consistent: a terminal status sets ``end_time``, ``queuing`` /
        ``requeuing`` put the rollout back on the queue, any other status takes it off. ``cancelled`` also
        ends the rollout's active (``preparing``/``running``) attempt ``failed``, so no attempt is left
        running under a finished rollout; spans that attempt still sends are stored and change nothing.
        ``config`` may be a dict of :class:`RolloutConfig` fields.
        """
        checked_config = config if config is UNSET else to_rollout_config(config)
        given: dict[str, Any] = {
            "input": input,
            "mode": mode,
            "resources_id": resources_id,
            "config": checked_config,
            "metadata": metadata,
        }
        changes = {key: value for key, value in given.items() if value is not UNSET}
        if changes.get("metadata") is not None:
            changes["metadata"] = dict(changes["metadata"])  # the store owns its copy
        with self._tx():
            rollout = self._require_rollout(rollout_id)
            if changes or status is not UNSET:
                checked = {**changes, "status": status} if status is not UNSET else changes
                updated = Rollout.model_validate({**dict(rollout), **checked})  # validates status, mode, config
                updated.status = rollout.status
                now = time.time()
                if status is not UNSET:
                    self._set_rollout_status(updated, status, now)
                self._put_rollout(updated)
                self._forget_deadlines()  # a new config, or a rollout leaving a finished state
                rollout = updated
                if status == "cancelled":
                    latest = self._get_latest_attempt(rollout_id)
                    if latest is not None and latest.status in ACTIVE_ATTEMPT_STATUSES:
                        latest.status, latest.end_time = "failed", now
                        self._put_attempt(latest)
        return self._detach(rollout)

    async def wait_for_rollouts(self, rollout_ids: Sequence[str], timeout: float | None = None) -> list[Rollout]:
        """Wait until every rollout is finished (``succeeded``/``failed``/``cancelled``) or ``timeout`` passes.

        Returns the finished ones, in the order of ``rollout_ids`` (duplicates once); ids that do not
        exist are not waited for. Wakes as soon as a status changes in this process (from any thread or
        event loop); a backend shared with other processes also notices their commits within
        ``_external_poll`` seconds. While a rollout with a time limit is pending, time limits are
        re-checked regularly, so a timed-out attempt finishes the wait too.
        """
        _require_list(rollout_ids, "rollout_ids")
        ids = list(dict.fromkeys(rollout_ids))
        deadline = None if timeout is None else time.monotonic() + max(0.0, timeout)
        seen = _Seen()
        with self._waiters.waiter(ids) as waiter:
            event = waiter.event
            version: int | None = None
            while True:
                event.clear()  # before reading: a change after the read sets it again
                version, changed = self._changes_to_read(waiter, version)
                self._poll_rollouts(ids, seen, changed)
                if not seen.pending:
                    return self._finished_rollouts(seen.finished_of(ids))
                tick = wake_interval(min(seen.pending.values()))
                while True:  # nap until something is worth a re-read
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        version, changed = self._changes_to_read(waiter, version)
                        self._poll_rollouts(ids, seen, changed)
                        return self._finished_rollouts(seen.finished_of(ids))
                    naps = [t for t in (remaining, tick, self._external_poll) if t is not None]
                    if await wait_event(event, min(naps) if naps else None) or tick is not None:
                        break
                    if self._external_poll is not None and self._data_version() != version:
                        break

    def _changes_to_read(self, waiter: Waiter, version: int | None) -> tuple[int, set[str] | None]:
        """Apply due time limits, then say which of a waiter's rollouts to read again (``None``: all of them).

        All of them on the first read (``version`` is ``None``), after another process committed (the data
        version moved), or after a change nobody named (a backend's external notification); otherwise only
        those this process changed since the waiter last looked, time limits just applied included.
        """
        latest = self._check_deadlines()  # the data version before it: a commit after it shows next time
        changed = waiter.take_changes()
        if version is None or latest != version:
            changed = None
        return latest, changed

    def _poll_rollouts(self, ids: list[str], seen: _Seen, changed: set[str] | None) -> None:
        """Read the statuses of ``changed`` (``None``: all of ``ids``) into ``seen``.

        A waiter calls this on every change, so it reads statuses (and time limits, which set the waiter's
        tick) only, of the rollouts that changed; whole rollouts are read once, for what it returns.
        """
        if changed is not None and not changed:
            return
        with self._read():
            fresh = self._get_rollout_states(ids if changed is None else list(changed))
        if changed is None:
            seen.pending.clear()
            seen.finished.clear()
            changed = set(ids)
        pending, finished = seen.pending, seen.finished
        for rid in changed:
            state = fresh.get(rid)
            if state is None:  # not (or no longer) there: not waited for
                pending.pop(rid, None)
                finished.discard(rid)
            elif state[0] in TERMINAL_ROLLOUT_STATUSES:
                pending.pop(rid, None)
                finished.add(rid)
            else:
                finished.discard(rid)
                pending[rid] = math.inf if state[1] is None else state[1]

    def _finished_rollouts(self, ids: list[str]) -> list[Rollout]:
        with self._read():
            found = self._get_rollouts(ids)
        return [self._detach(found[rid]) for rid in ids if rid in found]

    # ==== attempts ================================================================================

    async def query_attempts(self, rollout_id: str) -> list[Attempt]:
        """The rollout's attempts by ``sequence_id`` (empty for an unknown rollout)."""
        self._check_deadlines()
        with self._read():
            attempts = self._get_attempts(rollout_id)
        return [self._detach(attempt) for attempt in attempts]

    async def get_latest_attempt(self, rollout_id: str) -> Attempt | None:
        """The attempt with the highest ``sequence_id``, or ``None``."""
        self._check_deadlines()
        with self._read():
            attempt = self._get_latest_attempt(rollout_id)
        return None if attempt is None else self._detach(attempt)

    async def update_attempt(
        self,
        rollout_id: str,
        attempt_id: str | Literal["latest"],
        status: AttemptStatus = UNSET,
        worker_id: str | None = UNSET,
        last_heartbeat_time: float | None = UNSET,
        metadata: dict[str, Any] = UNSET,
    ) -> Attempt:
        """Change the given fields of an attempt (``"latest"``: the one with the highest ``sequence_id``).

        A status change on the latest attempt moves the rollout as the state machine says; a terminal
        status sets the attempt's ``end_time``.
        """
        given: dict[str, Any] = {
            "worker_id": worker_id,
            "last_heartbeat_time": last_heartbeat_time,
            "metadata": metadata,
        }
        changes = {key: value for key, value in given.items() if value is not UNSET}
        if changes.get("metadata") is not None:
            changes["metadata"] = dict(changes["metadata"])  # the store owns its copy
        with self._tx():
            rollout = self._require_rollout(rollout_id)
            if attempt_id == "latest":
                attempt = self._get_latest_attempt(rollout_id)
                if attempt is None:
                    raise ValueError(f"Rollout {rollout_id!r} has no attempt yet, so it has no 'latest' attempt")
            else:
                attempt = self._require_attempt(rollout_id, attempt_id)
            checked = {**changes, "status": status} if status is not UNSET else changes
            updated = Attempt.model_validate({**dict(attempt), **checked})
            if status is not UNSET and status != attempt.status:
                self._set_attempt_status(rollout, updated, status, time.time())
            else:
                self._put_attempt(updated)
                self._watch_deadline(rollout, updated)
        return self._detach(updated)

    def _attempt_ender(self) -> Callable[[str, str, AttemptStatus], Awaitable[bool]] | None:
        """:meth:`_end_attempt`, while ``update_attempt`` and ``query_attempts`` are the core's (a subclass that
        replaced one, to watch or change what happens, keeps being called through it)."""
        cls = type(self)
        for name in ("update_attempt", "query_attempts"):
            method = getattr(cls, name)
            if getattr(method, "__wrapped__", method) is not getattr(StoreCore, name):
                return None
        return self._end_attempt

    async def _end_attempt(self, rollout_id: str, attempt_id: str, status: AttemptStatus) -> bool:
        """Give the attempt its outcome ``status`` unless it has ended already (a time limit the store applied,
        say): what a runner does when its agent returns, as one transaction. Whether it was set.

        Not part of the :class:`LightningStore` API: a runner gets it from :meth:`_attempt_ender`, else
        reads the attempt and calls ``update_attempt``.
        """
        with self._tx():
            rollout = self._require_rollout(rollout_id)
            attempt = self._require_attempt(rollout_id, attempt_id)
            if attempt.status in TERMINAL_ATTEMPT_STATUSES:
                return False
            self._set_attempt_status(rollout, attempt, status, time.time())
        return True

    # ==== spans ===================================================================================

    async def add_span(self, span: Span) -> Span:
        """Store a span as given, its ``sequence_id`` included (the rollout's counter moves past it)."""
        return self._ingest([span], allocate=False)[0]

    async def add_many_spans(self, spans: Sequence[Span]) -> list[Span]:
        """Store spans as given, in one transaction: all of them or, on an unknown id, none."""
        return self._ingest(list(spans), allocate=False)

    async def add_otel_span(
        self, rollout_id: str, attempt_id: str, readable_span: ReadableSpan, sequence_id: int | None = None
    ) -> Span:
        """Convert and store one OpenTelemetry span; ``sequence_id=None`` takes the rollout's next one."""
        if sequence_id is not None:
            return await self.add_span(Span.from_opentelemetry(readable_span, rollout_id, attempt_id, sequence_id))
        return (await self.add_otel_spans([(rollout_id, attempt_id, readable_span)]))[0]

    async def add_otel_spans(self, items: Sequence[OtelSpanItem]) -> list[Span]:
        """Convert and store many OpenTelemetry spans in one transaction, numbering them per rollout.

        The spans of each rollout take consecutive sequence ids, in the order given. An unknown rollout
        or attempt anywhere in the batch raises ``ValueError`` and stores nothing.
        """
        spans = [Span.from_opentelemetry(readable, rid, aid, 0) for rid, aid, readable in items]
        return self._ingest(spans, allocate=True)

    async def get_next_span_sequence_id(self, rollout_id: str, attempt_id: str) -> int:
        """Reserve and return the rollout's next span sequence id (strictly increasing within the rollout)."""
        with self._tx():
            self._require_rollout(rollout_id)
            self._require_attempt(rollout_id, attempt_id)
            return self._reserve_sequence_ids(rollout_id, 1)

    async def query_spans(self, rollout_id: str, attempt_id: str | Literal["latest"] | None = None) -> list[Span]:
        """The rollout's spans by ``sequence_id``: all attempts (``None``), one attempt, or the ``"latest"``."""
        with self._read():
            if attempt_id == "latest":
                latest = self._get_latest_attempt(rollout_id)
                if latest is None:
                    return []
                attempt_id = latest.attempt_id
            return self._select_spans(rollout_id, attempt_id)

    def otel_span_sink(self) -> Callable[[Sequence[OtelSpanItem]], int] | None:
        # Only while add_otel_spans is the core's: a subclass that replaced it (to filter, count, mirror
        # spans) keeps being called through it.
        if type(self).add_otel_spans is StoreCore.add_otel_spans:
            return self._store_otel_spans
        return None

    def _store_otel_spans(self, items: Sequence[OtelSpanItem]) -> int:
        """:meth:`add_otel_spans` without a :class:`Span` model per span: what the tracer's writer calls.

        Synchronous (the writer has its own thread) and returns only the count. The backend takes the
        OpenTelemetry spans as they are (``_encode_otel`` / ``_insert_otel``): SQLite writes each one's JSON
        straight from the span (:func:`~agentlightning.types.tracer.span_json`), the in-memory store keeps it
        and makes the model when the span is first read. Same transaction, numbering, checks and heartbeats
        as :meth:`add_otel_spans`.
        """
        if not items:
            return 0
        encoded = self._encode_otel(items)
        now = time.time()
        # per batch, often of one span (a model call ends every few seconds): plain dicts, no Counter
        pairs: dict[tuple[str, str], None] = {}
        counts: dict[str, int] = {}
        for rid, aid, _ in items:
            pairs[rid, aid] = None
            counts[rid] = counts.get(rid, 0) + 1
        with self._tx():
            rollouts, attempts = self._require_pairs(pairs)
            next_ids = {rid: self._reserve_sequence_ids(rid, n) for rid, n in counts.items()}
            sequence_ids: list[int] = []
            for rid, _, _ in items:
                sequence_ids.append(next_ids[rid])
                next_ids[rid] += 1
            self._insert_otel(items, sequence_ids, encoded)
            for (rid, _), attempt in attempts.items():
                self._heartbeat(rollouts[rid], attempt, now)
        return len(items)

    def _require_pairs(
        self, pairs: dict[tuple[str, str], None]
    ) -> tuple[dict[str, Rollout], dict[tuple[str, str], Attempt]]:
        rollouts = {rid: self._require_rollout(rid) for rid, _ in pairs}
        attempts = {(rid, aid): self._require_attempt(rid, aid) for rid, aid in pairs}
        return rollouts, attempts

    def _ingest(self, spans: list[Span], allocate: bool) -> list[Span]:
        """Store spans in one transaction: check ids, number them (or respect their numbers), beat hearts."""
        if not spans:
            return spans
        encoded = self._encode_spans(spans)
        now = time.time()
        pairs = dict.fromkeys((span.rollout_id, span.attempt_id) for span in spans)
        with self._tx():
            rollouts, attempts = self._require_pairs(pairs)
            if allocate:
                counts = Counter(span.rollout_id for span in spans)
                next_ids = {rid: self._reserve_sequence_ids(rid, n) for rid, n in counts.items()}
                for span in spans:
                    span.sequence_id = next_ids[span.rollout_id]
                    next_ids[span.rollout_id] += 1
            else:
                top: dict[str, int] = {}
                for span in spans:
                    if span.sequence_id > top.get(span.rollout_id, 0):
                        top[span.rollout_id] = span.sequence_id
                for rid, seq in top.items():
                    self._bump_sequence_id(rid, seq)
            self._insert_spans(spans, encoded)
            for (rid, _), attempt in attempts.items():
                self._heartbeat(rollouts[rid], attempt, now)
        return spans

    def _heartbeat(self, rollout: Rollout, attempt: Attempt, now: float) -> None:
        """A span arrived: the attempt is alive (``running``), and so is the rollout if this is its latest attempt.

        A span of an ended attempt changes nothing, unless the attempt is ``unresponsive``, still the latest
        one, and its rollout has not finished (see the module docstring).
        """
        if attempt.status in TERMINAL_ATTEMPT_STATUSES:
            if attempt.status != "unresponsive" or rollout.status in TERMINAL_ROLLOUT_STATUSES:
                return
            if self._latest_attempt_id(rollout.rollout_id) != attempt.attempt_id:
                return  # a newer attempt has taken over
        attempt.last_heartbeat_time = now
        if attempt.status in _REVIVED_BY_SPAN:
            attempt.status = "running"
            attempt.end_time = None
            self._put_attempt(attempt)
        else:  # running already (the usual span): only its heartbeat changed
            self._touch_attempt(attempt)
        if rollout.status in _WAKE_BY_SPAN and self._latest_attempt_id(rollout.rollout_id) == attempt.attempt_id:
            self._set_rollout_status(rollout, "running", now)
            self._put_rollout(rollout)
        self._watch_deadline(rollout, attempt)

    # ==== resources ===============================================================================

    async def add_resources(self, resources: NamedResources) -> ResourcesUpdate:
        """Store resources under a fresh ``rs-`` id, version 1; they become the latest."""
        checked = RESOURCES_ADAPTER.validate_python(resources)
        now = time.time()
        with self._tx():
            resources_id = new_resources_id()
            while self._get_resources(resources_id) is not None:
                resources_id = new_resources_id()
            update = ResourcesUpdate(
                resources_id=resources_id, create_time=now, update_time=now, version=1, resources=checked
            )
            self._put_resources(update)
        return self._detach(update)

    async def update_resources(self, resources_id: str, resources: NamedResources) -> ResourcesUpdate:
        """Create or replace the resources under ``resources_id`` (version + 1); they become the latest."""
        checked = RESOURCES_ADAPTER.validate_python(resources)
        now = time.time()
        with self._tx():
            old = self._get_resources(resources_id)
            update = ResourcesUpdate(
                resources_id=resources_id,
                create_time=old.create_time if old is not None else now,
                update_time=now,
                version=old.version + 1 if old is not None else 1,
                resources=checked,
            )
            self._put_resources(update)
        return self._detach(update)

    async def get_resources_by_id(self, resources_id: str) -> ResourcesUpdate | None:
        """The resources stored under ``resources_id``, or ``None``."""
        with self._read():
            update = self._get_resources(resources_id)
        return None if update is None else self._detach(update)

    async def get_latest_resources(self) -> ResourcesUpdate | None:
        """The resources most recently added or updated, or ``None``."""
        with self._read():
            update = self._get_latest_resources()
        return None if update is None else self._detach(update)


class _Transaction:
    """:meth:`StoreCore._tx`: the backend's write (lock, ``BEGIN IMMEDIATE``), then the waiters of what changed.

    A class, not a ``@contextmanager`` generator: every stored batch of spans opens one, and the generator
    machinery cost more than the dictionary work of a one-span batch.
    """

    __slots__ = ("core", "write")

    def __init__(self, core: StoreCore) -> None:
        self.core = core
        self.write = core._write()

    def __enter__(self) -> None:
        self.write.__enter__()
        self.core._notify_pending = set()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any) -> bool | None:
        core = self.core
        if exc_type is not None:  # rolled back by the backend's write: nobody to wake
            return self.write.__exit__(exc_type, exc, tb)  # type: ignore[no-any-return]
        notify, core._notify_pending = core._notify_pending, set()
        self.write.__exit__(None, None, None)  # commits (may raise: then nothing is woken)
        if notify:
            core._waiters.notify_all(notify)
        return None
