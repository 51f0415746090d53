"""The store: where rollouts, attempts, spans and resources live (``agentlightning.store``).

:class:`LightningStore` is the contract every backend implements. All public methods are ``async``;
backends guard their state with *threading* locks (never asyncio ones), so the same store can be used
from several event loops and threads at once: the runner's loop, the tracer's background writer, a
user's thread.

State machine (SPEC section 6)::

    enqueue_rollout        -> rollout "queuing"
    dequeue_rollout        -> new attempt n+1; rollout and attempt "preparing"
    start_rollout          -> rollout and first attempt "preparing" (not on the queue)
    first span of attempt  -> attempt and rollout "running"
    attempt "succeeded"    -> rollout "succeeded"
    update_rollout(status="cancelled")
                           -> rollout "cancelled" (terminal); its active attempt "failed"
    attempt "failed" / "timeout" / "unresponsive"
                           -> rollout "requeuing" (back on the queue) if the status is in
                              config.retry_condition and attempts remain, else "failed"
    span of an ended attempt
                           -> stored, nothing else; except that an "unresponsive" attempt that is
                              still the latest of an unfinished rollout becomes "running" again,
                              and so does its rollout (see agentlightning.store._core)

Terminal states set ``end_time``. Timeouts (``config.timeout_seconds`` since the attempt started) and
unresponsiveness (``config.unresponsive_seconds`` since the last heartbeat: a span, or an
``update_attempt(last_heartbeat_time=...)``) are detected by the store itself whenever it is read
or written, and by ``wait_for_rollouts`` while it waits.

Unknown rollout or attempt ids raise ``ValueError`` naming the id.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
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

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan

__all__ = ["LightningStore", "OtelSpanItem"]

OtelSpanItem = tuple[str, str, "ReadableSpan"]
"""``(rollout_id, attempt_id, readable_span)``: one finished OpenTelemetry span waiting for a sequence id."""


class LightningStore:
    """Abstract store. See the module docstring for the state machine."""

    # ---- rollouts -------------------------------------------------------------------------------

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
        """Create a rollout and its first attempt, both ``preparing``, without queuing it."""
        raise NotImplementedError

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
        """Create a rollout in ``queuing`` and put it at the back of the queue.

        ``config`` is a :class:`RolloutConfig` or a dict of its fields (validated); ``run_id`` tags the
        rollout with the run that made it (see :meth:`dequeue_rollout`).
        """
        raise NotImplementedError

    async def dequeue_rollout(
        self, worker_id: str | None = None, *, run_id: str | None = None
    ) -> AttemptedRollout | None:
        """Take the oldest queued (or requeued) rollout and start a new attempt on it. ``None`` when empty.

        With ``run_id``, only rollouts of that run are taken (others stay queued); ``None`` takes any.
        """
        raise NotImplementedError

    async def start_attempt(self, rollout_id: str) -> AttemptedRollout:
        """Start a new attempt on a rollout (``preparing``) outside the queue."""
        raise NotImplementedError

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
        """Rollouts in creation order, filtered (``run_id``: of that run only); ``limit=-1`` means all.

        The ``*_in`` filters take lists; a single string raises ``TypeError``.
        """
        raise NotImplementedError

    async def get_rollout_by_id(self, rollout_id: str) -> Rollout | None:
        """The rollout, or ``None`` if there is none with that id."""
        raise NotImplementedError

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
        """Change the given fields (``UNSET`` leaves a field alone). Raises ``ValueError`` for an unknown id.

        ``status="cancelled"`` ends the rollout's active attempt ``failed`` (attempts have no cancelled state).
        """
        raise NotImplementedError

    async def wait_for_rollouts(self, rollout_ids: Sequence[str], timeout: float | None = None) -> list[Rollout]:
        """Wait until the rollouts reach a terminal state or ``timeout`` seconds pass; return the finished ones.

        Wakes on completion (an event), not on a long polling sleep.
        """
        raise NotImplementedError

    # ---- attempts -------------------------------------------------------------------------------

    async def query_attempts(self, rollout_id: str) -> list[Attempt]:
        """The rollout's attempts, by ``sequence_id``."""
        raise NotImplementedError

    async def get_latest_attempt(self, rollout_id: str) -> Attempt | None:
        raise NotImplementedError

    async def update_attempt(
        self,
        rollout_id: str,
        attempt_id: str | Literal["latest"],
        status: AttemptStatus = UNSET,
        worker_id: str | None = UNSET,
        last_heartbeat_time: float | None = UNSET,
        metadata: dict[str, Any] = UNSET,
    ) -> Attempt:
        """Change an attempt; a terminal status on the latest attempt moves the rollout (state machine)."""
        raise NotImplementedError

    # ---- spans ----------------------------------------------------------------------------------

    async def add_span(self, span: Span) -> Span:
        """Store a span as given (its ``sequence_id`` included). The attempt's first span makes it ``running``."""
        raise NotImplementedError

    async def add_many_spans(self, spans: Sequence[Span]) -> list[Span]:
        """Store many spans at once, in one transaction where the backend has them."""
        raise NotImplementedError

    async def add_otel_span(
        self, rollout_id: str, attempt_id: str, readable_span: ReadableSpan, sequence_id: int | None = None
    ) -> Span:
        """Convert and store one OpenTelemetry span; ``sequence_id=None`` takes the rollout's next one."""
        if sequence_id is None:
            sequence_id = await self.get_next_span_sequence_id(rollout_id, attempt_id)
        return await self.add_span(Span.from_opentelemetry(readable_span, rollout_id, attempt_id, sequence_id))

    async def add_otel_spans(self, items: Sequence[OtelSpanItem]) -> list[Span]:
        """Convert and store many OpenTelemetry spans, each taking its rollout's next sequence id.

        This is what the tracer's background writer calls. Backends override it to allocate ids and insert
        in one transaction; this default does it span by span.
        """
        return [await self.add_otel_span(rid, aid, span) for rid, aid, span in items]

    def otel_span_sink(self) -> Callable[[Sequence[OtelSpanItem]], int] | None:
        """A synchronous way to store ended OpenTelemetry spans, or ``None`` (the default) for none.

        The tracer's background writer calls it, from its own thread, instead of :meth:`add_otel_spans` when a
        backend offers one: it stores the spans as :meth:`add_otel_spans` would (same transaction, numbering,
        checks) and returns how many it stored, without building a :class:`Span` model per span.
        """
        return None

    async def get_next_span_sequence_id(self, rollout_id: str, attempt_id: str) -> int:
        """Reserve and return the next sequence id of the rollout (strictly increasing within it)."""
        raise NotImplementedError

    async def query_spans(self, rollout_id: str, attempt_id: str | Literal["latest"] | None = None) -> list[Span]:
        """The rollout's spans by ``sequence_id``: all attempts (``None``), one attempt, or the latest."""
        raise NotImplementedError

    # ---- resources ------------------------------------------------------------------------------

    async def add_resources(self, resources: NamedResources) -> ResourcesUpdate:
        """Store a new version of the resources under a fresh ``rs-`` id; it becomes the latest."""
        raise NotImplementedError

    async def update_resources(self, resources_id: str, resources: NamedResources) -> ResourcesUpdate:
        """Create or replace the resources under ``resources_id`` (version + 1); it becomes the latest."""
        raise NotImplementedError

    async def get_resources_by_id(self, resources_id: str) -> ResourcesUpdate | None:
        raise NotImplementedError

    async def get_latest_resources(self) -> ResourcesUpdate | None:
        raise NotImplementedError

    # ---- lifecycle ------------------------------------------------------------------------------

    def close(self) -> None:
        """Release files and connections. The store must not be used afterwards."""
