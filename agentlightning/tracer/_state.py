"""The active trace context, held in a ContextVar, and what it collects.

Kept free of OpenTelemetry SDK imports so that emitters and the registry can ask "is a trace context
active?" cheaply.
"""

from __future__ import annotations

import itertools
import threading
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan

    from agentlightning.types import Span

    from ._writer import SpanWriter
    from .base import Tracer

__all__ = ["TraceState", "current_trace_state"]


class TraceState:
    """One open (or just closed) trace context: which rollout its spans belong to and where they go.

    ``writer`` is ``None`` when the context has no store; its spans are then kept here as OpenTelemetry
    spans and numbered when the context closes.
    """

    __slots__ = (
        "attempt_id",
        "capture_content",
        "dirty",
        "errors",
        "local",
        "lock",
        "name",
        "rollout_id",
        "seen",
        "spans",
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
        self.dirty = False  # a span was handed to the writer since the last flush
        self.spans: list[Span] = []  # stored spans, filled by the writer thread
        self.local: list[ReadableSpan] = []  # spans of a store-less context
        self.errors: list[BaseException] = []  # store failures seen by the writer for this context
        self.seen: set[int] = set()  # span ids recorded here (so a span the agent also returns is stored once)
        self.lock = threading.Lock()
        # Record prompts and answers here when the instrumentation was not told either way (a Trainer's
        # rollouts set True; None: off). Read by agentlightning.instrumentation.capture_enabled.
        self.capture_content: bool | None = None

    def add(self, span: ReadableSpan) -> None:
        """Called by the span processor, on the thread that ended the span."""
        self.seen.add(span.context.span_id)  # type: ignore[union-attr]  # the processor checked it
        writer = self.writer
        if writer is None:
            self.local.append(span)
        else:
            self.dirty = True
            writer.submit(self, span)

    def finished_spans(self) -> list[Span]:
        """The context's spans in ``sequence_id`` order (store-less contexts are numbered here)."""
        if self.writer is not None:
            with self.lock:
                return sorted(self.spans, key=_sequence_key)
        from agentlightning.types import Span

        counter = itertools.count(1)
        return [
            Span.from_opentelemetry(s, self.rollout_id, self.attempt_id, next(counter))
            for s in sorted(self.local, key=_start_key)
        ]

    def __repr__(self) -> str:
        return f"TraceState(name={self.name!r}, rollout_id={self.rollout_id!r}, attempt_id={self.attempt_id!r})"


def _sequence_key(span: Span) -> int:
    return span.sequence_id


def _start_key(span: Any) -> int:
    return span.start_time or 0


_CURRENT: ContextVar[TraceState | None] = ContextVar("agentlightning_trace_state", default=None)


def current_trace_state() -> TraceState | None:
    """The trace context active in this thread or asyncio task, if any."""
    return _CURRENT.get()
