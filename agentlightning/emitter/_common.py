"""What every emitter shares: finding the active tracer and recording one span."""

from __future__ import annotations

import json
import math
from typing import Any

from agentlightning._json import json_default
from agentlightning.tracer.base import get_active_tracer
from agentlightning.types import SpanCoreFields, TraceStatus

__all__ = ["emit_span", "to_json"]


def emit_span(kind: str, name: str, attributes: dict[str, Any], *, propagate: bool, error: str | None = None) -> Any:
    """Record a zero-length span in the active trace context, or describe it when ``propagate`` is false.

    With ``propagate=True`` (the default of every emitter) this needs an active trace context, else it
    raises ``RuntimeError``. With ``propagate=False`` nothing is recorded: the span is returned as
    :class:`SpanCoreFields`, which a rollout function may return for the runner to store.
    """
    if not propagate:
        core = TraceStatus(status_code="ERROR", description=error) if error is not None else TraceStatus()
        return SpanCoreFields(name=name, attributes=attributes, status=core)
    tracer = get_active_tracer()
    if tracer is None:
        raise RuntimeError(
            f"No active tracer found: {kind} needs a trace context. Call it inside a rollout run by a Trainer or "
            "runner, or inside `with tracer.trace_context(...)`, or pass propagate=False to get the span back "
            "without recording it."
        )
    if error is None:
        return tracer.create_span(name, attributes=attributes)
    from opentelemetry.trace import Status, StatusCode

    return tracer.create_span(name, attributes=attributes, status=Status(StatusCode.ERROR, error))


def to_json(value: Any) -> str:
    """JSON for span attributes: pydantic models and dataclasses included; anything else by ``repr``."""
    try:
        return json.dumps(value, default=json_default, ensure_ascii=False)
    except (TypeError, ValueError):
        return json.dumps(repr(value), ensure_ascii=False)


def check_number(value: Any, what: str) -> float:
    """``value`` as a finite float; ``TypeError`` for non-numbers, ``ValueError`` for NaN and infinities."""
    if isinstance(value, bool):
        return float(value)
    if not isinstance(value, (int, float)):
        try:
            import numbers

            if isinstance(value, numbers.Real):  # numpy scalars and friends
                value = float(value)
            else:
                raise TypeError
        except TypeError:
            raise TypeError(f"{what} must be a number (int or float), got {type(value).__name__}: {value!r}") from None
    result = float(value)
    if not math.isfinite(result):
        raise ValueError(f"{what} must be a finite number, got {result!r}")
    return result
