"""Tracers: turn what an agent does into spans attributed to a rollout (``agentlightning.tracer``)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._state import attempt_known, current_trace_state

if TYPE_CHECKING:
    from ._threads import install_context_propagation, uninstall_context_propagation
    from .base import Tracer, get_active_tracer
    from .otel import OtelTracer

# Loaded on first use (PEP 562): the instrumentation core reads ``current_trace_state`` on its import, and
# that must not pull in pydantic or the OpenTelemetry SDK (``instrument_all()`` stays cheap).
_LAZY = {
    "AgentOpsTracer": ".agentops",  # not in __all__: needs the AgentOps plugin (an ImportError says so)
    "OtelTracer": ".otel",
    "Tracer": ".base",
    "get_active_tracer": ".base",
    "install_context_propagation": "._threads",
    "uninstall_context_propagation": "._threads",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


__all__ = [
    "OtelTracer",
    "Tracer",
    "attempt_known",
    "current_trace_state",
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
