"""``emit_message(text)``: a free-text note in the trace (span ``agentlightning.message``)."""

from __future__ import annotations

from typing import Any

from agentlightning import semconv

from ._common import emit_span

__all__ = ["emit_message"]


def emit_message(message: str, *, attributes: dict[str, Any] | None = None, propagate: bool = True) -> Any:
    """Record ``message`` in the active trace context and return its span."""
    if not isinstance(message, str):
        raise TypeError(f"emit_message takes a str, got {type(message).__name__}; use emit_object for other values")
    attrs = {**(attributes or {}), semconv.AGL_MESSAGE_BODY: message}
    return emit_span("emit_message", semconv.AGL_MESSAGE, attrs, propagate=propagate)
