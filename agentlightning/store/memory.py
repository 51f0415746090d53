"""``InMemoryLightningStore``: the store in Python dicts, for tests, notebooks and single-process runs.

Usage::

    from agentlightning.store import InMemoryLightningStore

    store = InMemoryLightningStore()
    rollout = await store.enqueue_rollout({"question": "2+2?"}, mode="train")
    attempted = await store.dequeue_rollout(worker_id="w1")       # attempt 1, both "preparing"
    await store.add_otel_spans([(attempted.rollout_id, attempted.attempt.attempt_id, readable_span)])
    await store.update_attempt(attempted.rollout_id, "latest", status="succeeded")
    [done] = await store.wait_for_rollouts([rollout.rollout_id], timeout=10)

Everything is lost when the process ends; use :class:`~agentlightning.store.SqliteLightningStore` to keep
it, or to share one store between processes.

Behaviour (state machine, errors, time-outs, ``wait_for_rollouts``) is that of every backend and lives
in :class:`~agentlightning.store._core.StoreCore`; this module only says where things are kept. One
:class:`threading.RLock` guards all state, so the store can be shared by threads and event loops.

Copies: rollouts, attempts and resources are copied on the way out, so changing a returned object never
changes the store. Spans are kept and returned *as given*, without copying or re-validation (that is
what makes ingestion fast): treat a :class:`~agentlightning.types.Span` you stored or read back as
read-only. Rollout ``input`` is kept as the Python object you passed.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from operator import attrgetter
from typing import Any

from agentlightning.types import (
    TERMINAL_ROLLOUT_STATUSES,
    Attempt,
    ResourcesUpdate,
    Rollout,
    RolloutConfig,
    Span,
)
from agentlightning.types.tracer import span_json

from ._common import ACTIVE_ATTEMPT_STATUSES, M, has_deadline, shortest_limit
from ._core import StoreCore

__all__ = ["InMemoryLightningStore"]

_BY_SEQUENCE = attrgetter("sequence_id")


#: A span from the tracer, kept as its JSON (``span_json``) until first read: ``(attempt_id, sequence_id,
#: data)``. A plain tuple of strings and an int: the garbage collector stops tracking it (a named tuple it
#: would scan on every collection).
_Pending = tuple[str, int, str]


class InMemoryLightningStore(StoreCore):
    """A :class:`~agentlightning.store.LightningStore` in process memory. Thread-safe; not persistent.

    Takes no arguments. ``close()`` is a no-op (the data stays readable until the object is dropped).
    """

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.RLock()
        self._rollouts: dict[str, Rollout] = {}  # insertion order = creation order
        self._queue: dict[str, None] = {}  # an ordered set: front of the queue first
        self._attempts: dict[str, list[Attempt]] = {}  # by sequence_id
        self._attempt_index: dict[tuple[str, str], int] = {}  # (rollout_id, attempt_id) -> position in list
        self._active: dict[tuple[str, str], None] = {}  # attempts in preparing/running, for deadline checks
        # rollout_id -> spans in insertion order; a span from the tracer is kept as its JSON (in a _Pending: a
        # string costs the garbage collector nothing, a live SDK span ~10 objects to scan on every full
        # collection) until it is first read, and is then replaced by its model
        self._spans: dict[str, list[Span | _Pending]] = {}
        self._span_seq: dict[str, int] = {}  # rollout_id -> last reserved sequence id
        self._resources: dict[str, ResourcesUpdate] = {}
        self._latest_resources_id: str | None = None

    def __repr__(self) -> str:
        return f"InMemoryLightningStore(rollouts={len(self._rollouts)})"

    # ---- transactions: one re-entrant lock (no rollback: the core validates before it mutates) ---

    def _read(self) -> threading.RLock:
        return self._lock

    def _write(self) -> threading.RLock:
        return self._lock

    def _detach(self, model: M) -> M:
        return model.model_copy(deep=True)

    # ---- rollouts and queue ----------------------------------------------------------------------

    def _get_rollout(self, rollout_id: str) -> Rollout | None:
        return self._rollouts.get(rollout_id)

    def _get_rollouts(self, rollout_ids: list[str]) -> dict[str, Rollout]:
        return {rid: self._rollouts[rid] for rid in rollout_ids if rid in self._rollouts}

    def _get_rollout_states(self, rollout_ids: list[str]) -> dict[str, tuple[str, float | None]]:
        rollouts = self._rollouts
        return {
            rid: (r.status, shortest_limit(r.config)) for rid in rollout_ids if (r := rollouts.get(rid)) is not None
        }

    def _select_rollouts(
        self,
        status_in: Sequence[str] | None,
        rollout_id_in: Sequence[str] | None,
        mode_in: Sequence[str] | None,
        limit: int,
        offset: int,
        run_id: str | None,
    ) -> list[Rollout]:
        statuses = None if status_in is None else set(status_in)
        ids = None if rollout_id_in is None else set(rollout_id_in)
        modes = None if mode_in is None else set(mode_in)
        selected = [
            rollout
            for rollout in self._rollouts.values()
            if (statuses is None or rollout.status in statuses)
            and (ids is None or rollout.rollout_id in ids)
            and (modes is None or rollout.mode in modes)
            and (run_id is None or rollout.run_id == run_id)
        ]
        offset = max(0, offset)
        return selected[offset:] if limit < 0 else selected[offset : offset + limit]

    def _put_rollout(self, rollout: Rollout) -> None:
        self._rollouts[rollout.rollout_id] = rollout

    def _queue_push(self, rollout_id: str) -> None:
        self._queue.pop(rollout_id, None)
        self._queue[rollout_id] = None

    def _queue_remove(self, rollout_id: str) -> None:
        self._queue.pop(rollout_id, None)

    def _queue_peek(self, run_id: str | None) -> str | None:
        if run_id is None:
            return next(iter(self._queue), None)
        rollouts = self._rollouts
        return next((rid for rid in self._queue if rollouts[rid].run_id == run_id), None)

    # ---- attempts --------------------------------------------------------------------------------

    def _get_attempt(self, rollout_id: str, attempt_id: str) -> Attempt | None:
        position = self._attempt_index.get((rollout_id, attempt_id))
        return None if position is None else self._attempts[rollout_id][position]

    def _get_attempts(self, rollout_id: str) -> list[Attempt]:
        return list(self._attempts.get(rollout_id, ()))

    def _get_latest_attempt(self, rollout_id: str) -> Attempt | None:
        attempts = self._attempts.get(rollout_id)
        return attempts[-1] if attempts else None  # the core appends attempt n+1 after attempt n

    def _put_attempt(self, attempt: Attempt) -> None:
        key = (attempt.rollout_id, attempt.attempt_id)
        position = self._attempt_index.get(key)
        attempts = self._attempts.setdefault(attempt.rollout_id, [])
        if position is None:
            self._attempt_index[key] = len(attempts)
            attempts.append(attempt)
        else:
            attempts[position] = attempt
        if attempt.status in ACTIVE_ATTEMPT_STATUSES:
            self._active[key] = None
        else:
            self._active.pop(key, None)

    def _deadline_candidates(self) -> list[tuple[RolloutConfig, Attempt]]:
        candidates: list[tuple[RolloutConfig, Attempt]] = []
        for rollout_id, attempt_id in self._active:
            rollout = self._rollouts[rollout_id]
            if has_deadline(rollout.config) and rollout.status not in TERMINAL_ROLLOUT_STATUSES:
                attempt = self._get_attempt(rollout_id, attempt_id)
                if attempt is not None:
                    candidates.append((rollout.config, attempt))
        return candidates

    def _deadline_scan(self, now: float) -> tuple[list[tuple[RolloutConfig, Attempt]], float]:
        return self._deadline_candidates(), math.inf  # every watched attempt is a candidate

    # ---- spans -----------------------------------------------------------------------------------

    def _reserve_sequence_ids(self, rollout_id: str, count: int) -> int:
        first = self._span_seq.get(rollout_id, 0) + 1
        self._span_seq[rollout_id] = first + count - 1
        return first

    def _bump_sequence_id(self, rollout_id: str, at_least: int) -> None:
        if at_least > self._span_seq.get(rollout_id, 0):
            self._span_seq[rollout_id] = at_least

    def _insert_spans(self, spans: list[Span], encoded: Any) -> None:
        self._append_spans(spans)

    def _encode_otel(self, items: Sequence[tuple[str, str, Any]]) -> list[str]:
        # NaN and infinity stay floats (not null, as in SQLite): this store keeps values as given
        return [span_json(readable, rid, aid, inf_nan="constants") for rid, aid, readable in items]

    def _insert_otel(self, items: Sequence[tuple[str, str, Any]], sequence_ids: list[int], encoded: Any) -> None:
        buckets = self._spans
        for (rid, aid, _), sequence_id, data in zip(items, sequence_ids, encoded, strict=True):
            bucket = buckets.get(rid)
            if bucket is None:
                bucket = buckets[rid] = []
            bucket.append((aid, sequence_id, data))

    def _append_spans(self, spans: Sequence[Span]) -> None:
        buckets = self._spans
        for span in spans:
            bucket = buckets.get(span.rollout_id)
            if bucket is None:
                bucket = buckets[span.rollout_id] = []
            bucket.append(span)

    def _select_spans(self, rollout_id: str, attempt_id: str | None) -> list[Span]:
        bucket = self._spans.get(rollout_id)
        if not bucket:
            return []
        for index, span in enumerate(bucket):
            if type(span) is tuple:
                _, sequence_id, data = span
                bucket[index] = Span.model_validate_json(f'{{"sequence_id":{sequence_id},{data[1:]}')
        spans: list[Span] = bucket  # type: ignore[assignment]  # every entry is a model now
        if attempt_id is not None:
            spans = [span for span in spans if span.attempt_id == attempt_id]
        return sorted(spans, key=_BY_SEQUENCE)  # stable, and linear when already in order

    # ---- resources -------------------------------------------------------------------------------

    def _get_resources(self, resources_id: str) -> ResourcesUpdate | None:
        return self._resources.get(resources_id)

    def _get_latest_resources(self) -> ResourcesUpdate | None:
        return None if self._latest_resources_id is None else self._resources[self._latest_resources_id]

    def _put_resources(self, update: ResourcesUpdate) -> None:
        self._resources[update.resources_id] = update.model_copy(deep=True)
        self._latest_resources_id = update.resources_id

    def close(self) -> None:
        """Nothing to release."""
