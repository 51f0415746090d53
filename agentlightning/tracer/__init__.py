"""Tracers: turn what an agent does into spans attributed to a rollout (``agentlightning.tracer``)."""

from __future__ import annotations

from ._state import current_trace_state
from ._threads import install_context_propagation, uninstall_context_propagation
from .base import Tracer, get_active_tracer
from .otel import OtelTracer

__all__ = [
    "OtelTracer",
    "Tracer",
    "get_active_tracer",
    "install_context_propagation",
    "recorded_in_current_context",
    "uninstall_context_propagation",
]


def recorded_in_current_context(span: object) -> bool:
    """Whether the active trace context already recorded this OpenTelemetry span (a span started and ended
    inside it), so that a span an agent also returns is stored once. ``False`` outside a trace context."""
    state = current_trace_state()
    context = getattr(span, "context", None)
    return state is not None and context is not None and state.recorded(context.span_id)
