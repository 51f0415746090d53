"""Tracers: turn what an agent does into spans attributed to a rollout (``agentlightning.tracer``)."""

from __future__ import annotations

from .base import Tracer, get_active_tracer
from .otel import OtelTracer

__all__ = ["OtelTracer", "Tracer", "get_active_tracer"]
