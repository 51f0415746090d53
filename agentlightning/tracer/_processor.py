"""The span processor that attributes every span to the rollout whose trace context was active at its start.

One instance is installed per ``TracerProvider`` (the user's global one, or ours) and routes spans of
every tracer and every trace context: the ContextVar says which context a span starts in, so concurrent
contexts in threads and asyncio tasks never see each other's spans, and a span that *ends* in another
thread or task still lands in the rollout where it started.

A span started where no context is active, under a parent that we are tracking (a thread that was handed
the parent's OpenTelemetry context explicitly, but not our ContextVar), inherits its parent's rollout.
"""

from __future__ import annotations

import logging
import threading
import weakref
from typing import TYPE_CHECKING, Any

from opentelemetry.sdk.trace import SpanProcessor, TracerProvider

from ._state import _CURRENT, TraceState

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.sdk.trace import ReadableSpan, Span

logger = logging.getLogger(__name__)

__all__ = ["RolloutSpanProcessor", "install_processor", "open_store_spans"]


class RolloutSpanProcessor(SpanProcessor):
    """Hands finished spans to the trace context they started in. ``on_start``/``on_end`` cost a dict op each."""

    def __init__(self) -> None:
        self._open: dict[int, TraceState] = {}

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        state = _CURRENT.get()
        ctx = span.context
        if ctx is None:
            return
        if state is None:
            parent = span.parent
            if parent is None:
                return
            state = self._open.get(parent.span_id)
            if state is None:
                return
        self._open[ctx.span_id] = state

    def on_end(self, span: ReadableSpan) -> None:
        ctx = span.context
        if ctx is None:
            return
        state = self._open.pop(ctx.span_id, None)
        if state is not None:
            state.add(span)

    def open_span_count(self) -> int:
        """Spans started in a trace context that have not ended yet."""
        return len(self._open)

    def open_states(self) -> list[TraceState]:
        """The trace context of every span that started in one and has not ended yet (one entry per span)."""
        return list(self._open.values())

    def shutdown(self) -> None:
        # Nothing to release: the map empties as spans end. It is kept, so that spans still open when the
        # provider shuts down at exit (before our own exit hook runs) are counted as lost there.
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


_INSTALLED: weakref.WeakKeyDictionary[Any, RolloutSpanProcessor] = weakref.WeakKeyDictionary()
_INSTALL_LOCK = threading.Lock()


def install_processor(provider: TracerProvider) -> RolloutSpanProcessor:
    """Add our processor to ``provider`` once; later calls return the same processor."""
    with _INSTALL_LOCK:
        processor = _INSTALLED.get(provider)
        if processor is None:
            processor = RolloutSpanProcessor()
            provider.add_span_processor(processor)
            _INSTALLED[provider] = processor
        return processor


def open_store_spans() -> list[TraceState]:
    """The trace context (bound to a store) of every span that started in one and has not ended, one per span."""
    with _INSTALL_LOCK:
        processors = list(_INSTALLED.values())
    return [state for processor in processors for state in processor.open_states() if state.writer is not None]
