"""``emit_object(obj)``: any value in the trace, as JSON (span ``agentlightning.object``)."""

from __future__ import annotations

from typing import Any

from agentlightning import semconv

from ._common import emit_span, to_json

__all__ = ["emit_object"]


def emit_object(obj: Any, *, attributes: dict[str, Any] | None = None, propagate: bool = True) -> Any:
    """Record ``obj`` (JSON; pydantic models and dataclasses dumped, the rest by ``repr``) and return its span."""
    attrs = {
        **(attributes or {}),
        semconv.AGL_OBJECT_TYPE: type(obj).__name__,
        semconv.AGL_OBJECT_JSON: to_json(obj),
    }
    return emit_span("emit_object", semconv.AGL_OBJECT, attrs, propagate=propagate)
