"""Tracers: turn what an agent does into spans attributed to a rollout (``agentlightning.tracer``)."""

from __future__ import annotations

from ._threads import install_context_propagation, uninstall_context_propagation
from .base import Tracer, get_active_tracer
from .otel import OtelTracer

__all__ = [
    "OtelTracer",
    "Tracer",
    "get_active_tracer",
    "install_context_propagation",
    "uninstall_context_propagation",
]
