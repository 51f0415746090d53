"""The active trace context, held in a ContextVar, and what it collects.

Kept free of OpenTelemetry SDK imports so that emitters and the registry can ask "is a trace context
active?" cheaply.

Ownership: a :class:`TraceState` is shared by every thread that ends a span of its context (the agent's
threads, the span writer's thread, the thread that leaves the context). All of its mutable fields are
guarded by ``state.lock``, and only this class's methods touch them, each holding the lock: the span
processor calls :meth:`TraceState.add`, the writer calls :meth:`TraceState.stored` /
:meth:`TraceState.failed`, the tracer reads :meth:`TraceState.finished_spans` and
:meth:`TraceState.first_error`. Nobody else mutates a state.

Memory: a context bound to a store keeps no span objects. The writer converts each span, stores it and
drops it; the state counts what was stored and keeps each span's 8-byte id, and :meth:`get_last_trace`
reads the spans back from the store when asked (a long trace context costs bytes per span, not kilobytes).
A store-less context has nowhere else to keep its spans, so it holds them until it is read.
"""

from __future__ import annotations

import itertools
import threading
from array import array
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan

    from agentlightning.types import Span

    from ._writer import SpanWriter
    from .base import Tracer

__all__ = ["TraceState", "attempt_known", "current_trace_state", "is_attempt_known"]


class TraceState:
    """One open (or just closed) trace context: which rollout its spans belong to and where they go.

    ``writer`` is ``None`` when the context has no store; its spans are then kept here as OpenTelemetry
    spans and numbered when the context closes.
    """

    __slots__ = (
        "_dropped",
        "_errors",
        "_local",
        "_lost",
        "_seen",
        "_stored",
        "attempt_id",
        "capture_content",
        "lock",
        "name",
        "rollout_id",
        "tracer",
        "writer",
    )

    def __init__(
        self, tracer: Tracer, name: str | None, rollout_id: str, attempt_id: str, writer: SpanWriter | None
    ) -> None:
        self.tracer = tracer
        self.name = name
        self.rollout_id = rollout_id
        self.attempt_id = attempt_id
        self.writer = writer
        self.lock = threading.Lock()  # guards every field below
        # ids of the spans recorded here, so that a span the agent also returns is stored once: 8 bytes a span
        # (a set would cost ~100); only the runner asks, once per span an agent returns
        self._seen = array("Q")
        self._local: list[ReadableSpan] = []  # spans of a store-less context
        self._stored = 0  # spans the writer put in the store
        self._lost = 0  # spans the writer could not store
        self._dropped = 0  # spans dropped before the writer saw them (its queue was full)
        self._errors: list[BaseException] = []  # store failures seen by the writer for this context
        self.capture_content: bool | None = None  # content capture for this context's calls (None: unset)

    # ---- called by the span processor, on the thread that ended the span --------------------------

    def add(self, span: ReadableSpan) -> None:
        """Record a finished span of this context and hand it to the writer (if any)."""
        span_id = span.context.span_id  # type: ignore[union-attr]  # the processor checked it
        writer = self.writer
        if writer is not None and not writer.submit(self, span):  # outside the lock: it may wait for room
            return  # dropped (and counted): the queue stayed full
        with self.lock:
            self._seen.append(span_id)
            if writer is None:
                self._local.append(span)

    # ---- called by the writer thread --------------------------------------------------------------

    def stored(self, count: int) -> None:
        with self.lock:
            self._stored += count

    def dropped(self) -> None:
        """One span of this context was dropped: the writer's queue was full (called by the producer)."""
        with self.lock:
            self._dropped += 1

    def failed(self, count: int, error: BaseException) -> None:
        with self.lock:
            self._lost += count
            self._errors.append(error)

    # ---- read by the tracer and the runner ----------------------------------------------------------

    def recorded(self, span_id: int) -> bool:
        """Whether the span with this (integer) id was recorded by this context."""
        with self.lock:
            return span_id in self._seen

    def first_error(self) -> tuple[int, BaseException] | None:
        """``(spans lost, first error)`` when the writer could not store some spans, else ``None``."""
        with self.lock:
            return (self._lost, self._errors[0]) if self._errors else None

    @property
    def dropped_count(self) -> int:
        """Spans of this context dropped because the writer's queue was full."""
        with self.lock:
            return self._dropped

    @property
    def stored_count(self) -> int:
        with self.lock:
            return self._stored

    def finished_spans(self) -> list[Span]:
        """The spans of a store-less context, numbered in start order (a store-bound one reads its store)."""
        from agentlightning.types import Span

        with self.lock:
            local = sorted(self._local, key=_start_key)
        counter = itertools.count(1)
        return [Span.from_opentelemetry(s, self.rollout_id, self.attempt_id, next(counter)) for s in local]

    def __repr__(self) -> str:
        return f"TraceState(name={self.name!r}, rollout_id={self.rollout_id!r}, attempt_id={self.attempt_id!r})"


def _start_key(span: Any) -> int:
    return span.start_time or 0


_CURRENT: ContextVar[TraceState | None] = ContextVar("agentlightning_trace_state", default=None)


def current_trace_state() -> TraceState | None:
    """The trace context active in this thread or asyncio task, if any."""
    return _CURRENT.get()


#: ``(store, rollout_id, attempt_id)`` that the code opening a trace context just got from that store (a
#: runner, from ``dequeue_rollout``): the context need not read the store to check that they exist.
_KNOWN_ATTEMPT: ContextVar[tuple[object, str, str] | None] = ContextVar("agentlightning_known_attempt", default=None)


@contextmanager
def attempt_known(store: object, rollout_id: str, attempt_id: str) -> Iterator[None]:
    """Trace contexts opened inside, for this store, rollout and attempt, skip their check that both exist."""
    token = _KNOWN_ATTEMPT.set((store, rollout_id, attempt_id))
    try:
        yield
    finally:
        _KNOWN_ATTEMPT.reset(token)


def is_attempt_known(store: object, rollout_id: str, attempt_id: str) -> bool:
    known = _KNOWN_ATTEMPT.get()
    return known is not None and known[0] is store and known[1] == rollout_id and known[2] == attempt_id
