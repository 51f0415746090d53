"""``RunStore``: one run's view of a shared store, what a :class:`~agentlightning.Trainer` hands its algorithm.

Several runs (two scripts calling ``Trainer.fit`` at once, or a run started after one was killed) may share
one store file. Each run has a ``run_id``; its runners take only rollouts carrying it
(``dequeue_rollout(run_id=...)``). An algorithm written against the plain store API::

    store = self.get_store()
    ids = [(await store.enqueue_rollout(input=task)).rollout_id for task in train_dataset]

must still tag what it enqueues, without knowing about runs. So the trainer gives it a ``RunStore``: the
same store, where

- ``enqueue_rollout`` / ``start_rollout`` tag the rollout with the run (unless given another ``run_id``)
  and give it the run's default :class:`~agentlightning.types.RolloutConfig` when called without one;
- ``dequeue_rollout`` and ``query_rollouts`` see only the run's rollouts (unless given another ``run_id``);
- everything else (spans, attempts, resources, ``wait_for_rollouts``, lookups by id) goes straight through.

A view rather than a wrapper in the tracer or runners: the only calls whose meaning depends on the run are
the five above, and the algorithm is the only code that makes them without knowing the run.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from agentlightning.types import (
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
)

from .base import LightningStore, OtelSpanItem

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan

__all__ = ["RunStore"]


class RunStore(LightningStore):
    """``store`` as seen by the run ``run_id`` (see the module docstring). ``close()`` leaves the store open."""

    def __init__(self, store: LightningStore, run_id: str, default_config: RolloutConfig | None = None) -> None:
        self.store = store
        self.run_id = run_id
        self.default_config = default_config

    def __repr__(self) -> str:
        return f"RunStore({self.store!r}, run_id={self.run_id!r})"

    def __getattr__(self, name: str) -> Any:  # backend extras (``path``...) read through
        if name == "store":  # not set yet (a copy being built): no recursion
            raise AttributeError(name)
        return getattr(self.store, name)

    # ---- scoped to the run ----------------------------------------------------------------------

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
        return await self.store.start_rollout(
            input,
            mode,
            resources_id,
            self.default_config if config is None else config,
            metadata,
            run_id=run_id or self.run_id,
        )

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
        return await self.store.enqueue_rollout(
            input,
            mode,
            resources_id,
            self.default_config if config is None else config,
            metadata,
            run_id=run_id or self.run_id,
        )

    async def dequeue_rollout(
        self, worker_id: str | None = None, *, run_id: str | None = None
    ) -> AttemptedRollout | None:
        return await self.store.dequeue_rollout(worker_id, run_id=run_id or self.run_id)

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
        return await self.store.query_rollouts(
            status_in=status_in,
            rollout_id_in=rollout_id_in,
            mode_in=mode_in,
            limit=limit,
            offset=offset,
            run_id=run_id or self.run_id,
        )

    # ---- straight through -----------------------------------------------------------------------

    async def start_attempt(self, rollout_id: str) -> AttemptedRollout:
        return await self.store.start_attempt(rollout_id)

    async def get_rollout_by_id(self, rollout_id: str) -> Rollout | None:
        return await self.store.get_rollout_by_id(rollout_id)

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
        return await self.store.update_rollout(rollout_id, input, mode, resources_id, status, config, metadata)

    async def wait_for_rollouts(self, rollout_ids: Sequence[str], timeout: float | None = None) -> list[Rollout]:
        return await self.store.wait_for_rollouts(rollout_ids, timeout)

    async def query_attempts(self, rollout_id: str) -> list[Attempt]:
        return await self.store.query_attempts(rollout_id)

    async def get_latest_attempt(self, rollout_id: str) -> Attempt | None:
        return await self.store.get_latest_attempt(rollout_id)

    async def update_attempt(
        self,
        rollout_id: str,
        attempt_id: str | Literal["latest"],
        status: AttemptStatus = UNSET,
        worker_id: str | None = UNSET,
        last_heartbeat_time: float | None = UNSET,
        metadata: dict[str, Any] = UNSET,
    ) -> Attempt:
        return await self.store.update_attempt(rollout_id, attempt_id, status, worker_id, last_heartbeat_time, metadata)

    async def add_span(self, span: Span) -> Span:
        return await self.store.add_span(span)

    async def add_many_spans(self, spans: Sequence[Span]) -> list[Span]:
        return await self.store.add_many_spans(spans)

    async def add_otel_span(
        self, rollout_id: str, attempt_id: str, readable_span: ReadableSpan, sequence_id: int | None = None
    ) -> Span:
        return await self.store.add_otel_span(rollout_id, attempt_id, readable_span, sequence_id)

    async def add_otel_spans(self, items: Sequence[OtelSpanItem]) -> list[Span]:
        return await self.store.add_otel_spans(items)

    async def get_next_span_sequence_id(self, rollout_id: str, attempt_id: str) -> int:
        return await self.store.get_next_span_sequence_id(rollout_id, attempt_id)

    async def query_spans(self, rollout_id: str, attempt_id: str | Literal["latest"] | None = None) -> list[Span]:
        return await self.store.query_spans(rollout_id, attempt_id)

    async def add_resources(self, resources: NamedResources) -> ResourcesUpdate:
        return await self.store.add_resources(resources)

    async def update_resources(self, resources_id: str, resources: NamedResources) -> ResourcesUpdate:
        return await self.store.update_resources(resources_id, resources)

    async def get_resources_by_id(self, resources_id: str) -> ResourcesUpdate | None:
        return await self.store.get_resources_by_id(resources_id)

    async def get_latest_resources(self) -> ResourcesUpdate | None:
        return await self.store.get_latest_resources()

    def close(self) -> None:
        """The run does not own the store: nothing to release (the trainer's owner closes the store)."""
