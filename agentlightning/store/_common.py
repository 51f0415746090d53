"""Pieces shared by every store backend: the state-machine rules, waiters, and the storage interface.

The rules are pure functions of the models, so that :class:`~agentlightning.store._core.StoreCore`
(and through it every backend) applies them identically. :class:`StorageBackend` lists the primitives
a backend implements: it only decides where the models live.
"""

from __future__ import annotations

import asyncio
import math
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any, TypeVar

from pydantic import BaseModel, TypeAdapter

from agentlightning._utils import wait_for
from agentlightning.types import (
    TERMINAL_ROLLOUT_STATUSES,
    Attempt,
    AttemptStatus,
    NamedResources,
    ResourcesUpdate,
    Rollout,
    RolloutConfig,
    RolloutStatus,
    Span,
)

__all__ = [
    "ACTIVE_ATTEMPT_STATUSES",
    "QUEUED_ROLLOUT_STATUSES",
    "RESOURCES_ADAPTER",
    "StorageBackend",
    "Waiter",
    "Waiters",
    "deadline_status",
    "has_deadline",
    "next_deadline",
    "rollout_status_for_attempt",
    "shortest_limit",
    "wait_event",
    "wake_interval",
]

#: Attempt states in which an attempt is still working (and may time out or go silent).
ACTIVE_ATTEMPT_STATUSES: frozenset[str] = frozenset({"preparing", "running"})
#: Rollout states in which the rollout sits on the queue, waiting for ``dequeue_rollout``.
QUEUED_ROLLOUT_STATUSES: frozenset[str] = frozenset({"queuing", "requeuing"})

#: Validates and (de)serializes ``NamedResources``; ``resource_type`` picks the class back on load.
RESOURCES_ADAPTER: TypeAdapter[NamedResources] = TypeAdapter(NamedResources)

M = TypeVar("M", bound=BaseModel)

#: Bounds of the tick at which ``wait_for_rollouts`` re-checks time limits while it waits.
_MIN_TICK = 0.01
_MAX_TICK = 1.0


def has_deadline(config: RolloutConfig) -> bool:
    """Whether the store must watch this rollout's attempts for time-outs or silence."""
    return config.timeout_seconds is not None or config.unresponsive_seconds is not None


def deadline_status(config: RolloutConfig, attempt: Attempt, now: float) -> AttemptStatus | None:
    """``"timeout"`` or ``"unresponsive"`` if the active ``attempt`` has run out of time at ``now``, else ``None``.

    - timeout: more than ``config.timeout_seconds`` since the attempt started;
    - unresponsive: more than ``config.unresponsive_seconds`` since its last heartbeat
      (a span or ``update_attempt(last_heartbeat_time=...)``), or since it started if it never beat.

    A time-out wins over silence when both apply.
    """
    if attempt.status not in ACTIVE_ATTEMPT_STATUSES:
        return None
    if config.timeout_seconds is not None and now - attempt.start_time > config.timeout_seconds:
        return "timeout"
    if config.unresponsive_seconds is not None:
        since = attempt.last_heartbeat_time if attempt.last_heartbeat_time is not None else attempt.start_time
        if now - since > config.unresponsive_seconds:
            return "unresponsive"
    return None


def next_deadline(config: RolloutConfig, attempt: Attempt) -> float:
    """The earliest time at which :func:`deadline_status` may call the active ``attempt`` out of time.

    ``inf`` when its config sets no limit. The store skips its time-limit scans until the earliest of these.
    """
    due = math.inf
    if config.timeout_seconds is not None:
        due = attempt.start_time + config.timeout_seconds
    if config.unresponsive_seconds is not None:
        since = attempt.last_heartbeat_time if attempt.last_heartbeat_time is not None else attempt.start_time
        due = min(due, since + config.unresponsive_seconds)
    return due


def rollout_status_for_attempt(rollout: Rollout, attempt: Attempt) -> RolloutStatus | None:
    """The status the rollout takes when its *latest* attempt takes ``attempt.status``; ``None``: leave it.

    - ``succeeded`` -> ``succeeded``.
    - ``failed`` / ``timeout`` / ``unresponsive`` -> ``requeuing`` when the status is in
      ``config.retry_condition`` and attempts remain (``attempt.sequence_id < config.max_attempts``),
      else ``failed``.
    - ``preparing`` / ``running`` -> the same, unless the rollout already finished.

    A ``cancelled`` rollout stays cancelled whatever its attempts report afterwards.
    """
    status = attempt.status
    if rollout.status == "cancelled":
        return None
    if status in ACTIVE_ATTEMPT_STATUSES:
        return None if rollout.status in TERMINAL_ROLLOUT_STATUSES else status  # type: ignore[return-value]
    if status == "succeeded":
        return "succeeded"
    config = rollout.config
    if status in config.retry_condition and attempt.sequence_id < config.max_attempts:
        return "requeuing"
    return "failed"


def shortest_limit(config: RolloutConfig) -> float | None:
    """The shorter of ``timeout_seconds`` and ``unresponsive_seconds``; ``None`` if neither is set."""
    limits = [v for v in (config.timeout_seconds, config.unresponsive_seconds) if v is not None]
    return min(limits) if limits else None


def wake_interval(shortest: float) -> float | None:
    """How often a waiter re-checks time limits when the shortest limit of its rollouts is ``shortest``
    (``inf``: none has a limit, and the answer is ``None``).

    A quarter of the shortest limit, kept between 10 ms and 1 s: prompt enough for a 0.1 s time-out,
    cheap for a 10 min one.
    """
    if shortest == math.inf:
        return None
    return min(_MAX_TICK, max(_MIN_TICK, shortest / 4))


class Waiter:
    """One waiter of :class:`Waiters`: its event, and which rollouts changed since it last looked."""

    __slots__ = ("_changed", "_lock", "event", "interest", "loop", "thread")

    def __init__(self, loop: asyncio.AbstractEventLoop, interest: frozenset[str] | None, lock: threading.Lock) -> None:
        self.loop = loop
        self.thread = threading.get_ident()
        self.event = asyncio.Event()
        self.interest = interest
        self._lock = lock
        self._changed: set[str] | None = set()

    def take_changes(self) -> set[str] | None:
        """The rollouts (of its interest) that changed since the last call; ``None``: unknown, re-read them all."""
        with self._lock:
            changed, self._changed = self._changed, set()
        return changed

    def _note(self, rollout_ids: Iterable[str] | None) -> bool:
        """Record a change (called under the lock); whether it concerns this waiter."""
        if rollout_ids is None:
            self._changed = None
            return True
        interest = self.interest
        relevant = [rid for rid in rollout_ids if interest is None or rid in interest]
        if not relevant:
            return False
        if self._changed is not None:
            self._changed.update(relevant)
        return True


class Waiters:
    """Coroutines waiting for a rollout status change, on any event loop in any thread.

    Each waiter is an :class:`asyncio.Event`, the loop it belongs to and the rollouts it waits for.
    :meth:`notify_all` may be called from any thread: it sets the events of the waiters it concerns (through
    ``loop.call_soon_threadsafe`` from another thread), so a waiter wakes on its own loop, and tells each
    which of its rollouts changed. A waiter whose loop has closed is dropped.

    Usage::

        with waiters.waiter(rollout_ids) as waiter:
            waiter.event.clear(); changed = waiter.take_changes(); ...check...; await waiter.event.wait()
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[int, Waiter] = {}
        self._next = 0

    @contextmanager
    def waiter(self, rollout_ids: Iterable[str] | None = None) -> Iterator[Waiter]:
        """Register a waiter on the running loop (for ``rollout_ids``; ``None``: any) while the block lasts."""
        loop = asyncio.get_running_loop()
        waiter = Waiter(loop, None if rollout_ids is None else frozenset(rollout_ids), self._lock)
        with self._lock:
            key = self._next
            self._next += 1
            self._items[key] = waiter
        try:
            yield waiter
        finally:
            with self._lock:
                self._items.pop(key, None)

    def notify_all(self, rollout_ids: Iterable[str] | None = None) -> None:
        """Wake the waiters of ``rollout_ids`` (``None``: unknown changes, wake all). Safe from any thread."""
        ids = None if rollout_ids is None else list(rollout_ids)
        with self._lock:
            woken = [(key, waiter) for key, waiter in self._items.items() if waiter._note(ids)]
        if not woken:
            return
        here = threading.get_ident()
        for key, waiter in woken:
            try:
                if waiter.thread == here and waiter.loop.is_running():
                    waiter.event.set()  # its own loop's thread: no cross-thread wake-up needed
                else:
                    waiter.loop.call_soon_threadsafe(waiter.event.set)
            except RuntimeError:  # the loop is closed: nobody will ever wait on this event again
                with self._lock:
                    self._items.pop(key, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)


async def wait_event(event: asyncio.Event, timeout: float | None) -> bool:
    """Wait for ``event`` at most ``timeout`` seconds (``None``: forever). True if it was set."""
    if timeout is None:
        await event.wait()
        return True
    if event.is_set():
        return True
    try:
        await wait_for(event.wait(), timeout)
    except asyncio.TimeoutError:
        return event.is_set()
    return True


class StorageBackend:
    """The storage primitives a backend implements; :class:`~agentlightning.store._core.StoreCore` does the rest.

    Primitives are called only inside ``self._read()`` or ``self._write()``, never nested writes. Models
    returned by ``_get_*`` may be the backend's live objects: the core mutates them and hands them back
    through ``_put_*`` in the same transaction, and passes what it returns to callers through ``_detach``.
    """

    #: Seconds between cheap checks for changes made by *other processes* while ``wait_for_rollouts`` waits.
    #: ``None`` for backends that only this process can change (changes here wake waiters directly).
    _external_poll: float | None = None

    def _read(self) -> AbstractContextManager[Any]:
        """Hold the store for reading (a threading lock; a read transaction if useful)."""
        raise NotImplementedError

    def _write(self) -> AbstractContextManager[Any]:
        """Hold the store for writing: one atomic transaction, rolled back if the block raises."""
        raise NotImplementedError

    def _get_rollout(self, rollout_id: str) -> Rollout | None:
        raise NotImplementedError

    def _get_rollouts(self, rollout_ids: list[str]) -> dict[str, Rollout]:
        """The existing ones among ``rollout_ids``, by id."""
        raise NotImplementedError

    def _get_rollout_states(self, rollout_ids: list[str]) -> dict[str, tuple[str, float | None]]:
        """``(status, shortest time limit)`` of the existing ones among ``rollout_ids`` (:func:`shortest_limit`):
        what a waiter re-reads on every change, so backends make it cheaper than :meth:`_get_rollouts` (no
        full rows to parse)."""
        return {rid: (r.status, shortest_limit(r.config)) for rid, r in self._get_rollouts(rollout_ids).items()}

    def _select_rollouts(
        self,
        status_in: Sequence[str] | None,
        rollout_id_in: Sequence[str] | None,
        mode_in: Sequence[str] | None,
        limit: int,
        offset: int,
        run_id: str | None,
    ) -> list[Rollout]:
        """Rollouts in creation order, filtered (``run_id=None``: any run), then ``offset``/``limit`` applied
        (``limit < 0``: all)."""
        raise NotImplementedError

    def _put_rollout(self, rollout: Rollout) -> None:
        """Insert or replace a rollout. Must not reset the rollout's span sequence counter."""
        raise NotImplementedError

    def _queue_push(self, rollout_id: str) -> None:
        """Put the rollout at the back of the queue (moving it there if it is already queued)."""
        raise NotImplementedError

    def _queue_remove(self, rollout_id: str) -> None:
        """Take the rollout off the queue if it is on it."""
        raise NotImplementedError

    def _queue_peek(self, run_id: str | None) -> str | None:
        """The id at the front of the queue (among rollouts of ``run_id``, unless it is ``None``), or ``None``."""
        raise NotImplementedError

    def _get_attempt(self, rollout_id: str, attempt_id: str) -> Attempt | None:
        raise NotImplementedError

    def _get_attempts(self, rollout_id: str) -> list[Attempt]:
        """The rollout's attempts by ``sequence_id``."""
        raise NotImplementedError

    def _get_latest_attempt(self, rollout_id: str) -> Attempt | None:
        raise NotImplementedError

    def _latest_attempt_id(self, rollout_id: str) -> str | None:
        """The id of :meth:`_get_latest_attempt` (backends may read it without the rest of the attempt)."""
        latest = self._get_latest_attempt(rollout_id)
        return None if latest is None else latest.attempt_id

    def _put_attempt(self, attempt: Attempt) -> None:
        """Insert or replace an attempt (keyed by rollout id and attempt id)."""
        raise NotImplementedError

    def _touch_attempt(self, attempt: Attempt) -> None:
        """Write back a stored attempt of which only unindexed fields changed (its heartbeat), not its status
        or sequence: a backend may write less than :meth:`_put_attempt` (every span batch does this)."""
        self._put_attempt(attempt)

    def _deadline_candidates(self) -> list[tuple[RolloutConfig, Attempt]]:
        """Active (``preparing``/``running``) attempts of unfinished rollouts whose config sets a time limit.

        Called on most reads, so it must cost next to nothing when there are none (an index, a set).
        """
        raise NotImplementedError

    def _deadline_scan(self, now: float) -> tuple[list[tuple[RolloutConfig, Attempt]], float]:
        """:meth:`_deadline_candidates` at ``now``, and the earliest deadline of the watched attempts left out.

        The candidates may include attempts not due yet. The second value is the earliest time at which a
        watched attempt that is *not* among the candidates can run out of time (``next_deadline``): ``inf``
        when there is none, ``-inf`` when the backend cannot tell (then every read scans again, as for a
        store shared by hosts that has no cheap way to see others' changes).
        """
        return self._deadline_candidates(), -math.inf

    def _reserve_sequence_ids(self, rollout_id: str, count: int) -> int:
        """Reserve ``count`` consecutive span sequence ids of the rollout; return the first."""
        raise NotImplementedError

    def _bump_sequence_id(self, rollout_id: str, at_least: int) -> None:
        """Make sure the rollout's next reserved sequence id is greater than ``at_least``."""
        raise NotImplementedError

    def _encode_spans(self, spans: list[Span]) -> Any:
        """Prepare spans for ``_insert_spans`` *outside* the transaction (e.g. serialize them).

        Called before sequence ids are assigned: the encoding must not depend on ``sequence_id``.
        """
        return None

    def _insert_spans(self, spans: list[Span], encoded: Any) -> None:
        """Store spans (their ``sequence_id`` now final), given what ``_encode_spans`` returned for them."""
        raise NotImplementedError

    def _encode_otel(self, items: Sequence[tuple[str, str, Any]]) -> Any:
        """Prepare finished OpenTelemetry spans (``(rollout_id, attempt_id, span)``) for ``_insert_otel``,
        *outside* the transaction, before their sequence ids are known.

        The default converts them to :class:`Span` models and encodes those with ``_encode_spans``; a
        backend that can store the spans more directly overrides this pair (the tracer's fast path).
        """
        spans = [Span.from_opentelemetry(readable, rid, aid, 0) for rid, aid, readable in items]
        return spans, self._encode_spans(spans)

    def _insert_otel(self, items: Sequence[tuple[str, str, Any]], sequence_ids: list[int], encoded: Any) -> None:
        """Store the spans of ``_encode_otel``, now numbered: ``sequence_ids[i]`` is that of ``items[i]``."""
        spans, encoded_spans = encoded
        for span, sequence_id in zip(spans, sequence_ids, strict=True):
            span.sequence_id = sequence_id
        self._insert_spans(spans, encoded_spans)

    def _select_spans(self, rollout_id: str, attempt_id: str | None) -> list[Span]:
        """The rollout's spans (of one attempt, or all) ordered by ``sequence_id``, then insertion."""
        raise NotImplementedError

    def _get_resources(self, resources_id: str) -> ResourcesUpdate | None:
        raise NotImplementedError

    def _get_latest_resources(self) -> ResourcesUpdate | None:
        raise NotImplementedError

    def _put_resources(self, update: ResourcesUpdate) -> None:
        """Insert or replace resources; they become the latest."""
        raise NotImplementedError

    def _detach(self, model: M) -> M:
        """A copy of ``model`` safe to hand to callers (the default trusts the backend built a fresh one)."""
        return model

    def _data_version(self) -> int:
        """A number that changes when another process commits (see ``_external_poll``)."""
        return 0
