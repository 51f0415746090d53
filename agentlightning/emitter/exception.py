"""``emit_exception(exc)``: an exception the agent handled but wants in the trace (span ``agentlightning.exception``).

Attributes follow OpenTelemetry's exception conventions (``exception.type``, ``exception.message``,
``exception.stacktrace``); the span's status is ERROR.
"""

from __future__ import annotations

import traceback
from typing import Any

from agentlightning import semconv

from ._common import emit_span

__all__ = ["emit_exception"]


def emit_exception(
    exception: BaseException, *, attributes: dict[str, Any] | None = None, propagate: bool = True
) -> Any:
    """Record ``exception`` in the active trace context and return its span."""
    if not isinstance(exception, BaseException):
        raise TypeError(f"emit_exception takes an exception, got {type(exception).__name__}")
    kind = type(exception)
    attrs = {
        **(attributes or {}),
        "exception.type": f"{kind.__module__}.{kind.__qualname__}" if kind.__module__ != "builtins" else kind.__name__,
        "exception.message": str(exception),
        "exception.stacktrace": "".join(traceback.format_exception(kind, exception, exception.__traceback__)),
        semconv.ERROR_TYPE: kind.__qualname__,
    }
    return emit_span("emit_exception", semconv.AGL_EXCEPTION, attrs, propagate=propagate, error=str(exception))
