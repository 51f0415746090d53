"""Spans as the store keeps them: an OpenTelemetry span plus the rollout, attempt and sequence it belongs to.

Ids are lowercase hex (32 digits for traces, 16 for spans), times are float seconds since the epoch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan

__all__ = [
    "Event",
    "Link",
    "OtelResource",
    "Span",
    "SpanContext",
    "SpanCoreFields",
    "TraceStatus",
]


class SpanContext(BaseModel):
    trace_id: str
    span_id: str
    is_remote: bool = False
    trace_state: dict[str, str] = Field(default_factory=dict)


class TraceStatus(BaseModel):
    status_code: str = "UNSET"
    """``UNSET``, ``OK`` or ``ERROR``."""
    description: str | None = None


class Event(BaseModel):
    name: str
    attributes: dict[str, Any] = Field(default_factory=dict)
    timestamp: float | None = None


class Link(BaseModel):
    context: SpanContext
    attributes: dict[str, Any] | None = None


class OtelResource(BaseModel):
    attributes: dict[str, Any] = Field(default_factory=dict)
    schema_url: str = ""


class SpanCoreFields(BaseModel):
    """What a user gives to make a span by hand: the store fills in ids and attribution."""

    name: str
    status: TraceStatus = Field(default_factory=TraceStatus)
    attributes: dict[str, Any] = Field(default_factory=dict)
    start_time: float | None = None
    end_time: float | None = None


def _attrs(attributes: Mapping[str, Any] | None) -> dict[str, Any]:
    """A plain-dict copy of OpenTelemetry attributes, sequences as lists (JSON's arrays).

    ``mappingproxy.copy()`` copies the SDK's dict in C; iterating the proxy item by item costs 4x more.
    """
    if not attributes:
        return {}
    copy = getattr(attributes, "copy", None)
    result: dict[str, Any] = copy() if copy is not None else dict(attributes)
    for key, value in result.items():
        if type(value) is tuple:
            result[key] = list(value)
    return result


def _context(ctx: Any) -> dict[str, Any]:
    return {
        "trace_id": format(ctx.trace_id, "032x"),
        "span_id": format(ctx.span_id, "016x"),
        "is_remote": bool(ctx.is_remote),
        "trace_state": dict(ctx.trace_state) if ctx.trace_state else {},
    }


class Span(BaseModel):
    """A finished span, attributed to a rollout and attempt, numbered by ``sequence_id`` within the rollout."""

    rollout_id: str
    attempt_id: str
    sequence_id: int
    trace_id: str
    span_id: str
    parent_id: str | None = None
    name: str
    status: TraceStatus = Field(default_factory=TraceStatus)
    attributes: dict[str, Any] = Field(default_factory=dict)
    events: list[Event] = Field(default_factory=list)
    links: list[Link] = Field(default_factory=list)
    start_time: float | None = None
    end_time: float | None = None
    context: SpanContext | None = None
    parent: SpanContext | None = None
    resource: OtelResource = Field(default_factory=OtelResource)

    @classmethod
    def from_opentelemetry(cls, src: ReadableSpan, rollout_id: str, attempt_id: str, sequence_id: int) -> Span:
        """Convert a finished OpenTelemetry SDK span. Nanosecond times become float seconds.

        This runs once per span, on the tracer's writer thread: it builds plain dicts and validates them in
        one pydantic-core call, which is faster than constructing the nested models one by one.
        """
        ctx = src.context
        context = _context(ctx) if ctx is not None else {"trace_id": "0" * 32, "span_id": "0" * 16}
        parent = _context(src.parent) if src.parent is not None else None
        status = src.status
        resource = src.resource
        start, end = src.start_time, src.end_time
        return cls.model_validate(
            {
                "rollout_id": rollout_id,
                "attempt_id": attempt_id,
                "sequence_id": sequence_id,
                "trace_id": context["trace_id"],
                "span_id": context["span_id"],
                "parent_id": parent["span_id"] if parent is not None else None,
                "name": src.name,
                "status": {"status_code": status.status_code.name, "description": status.description},
                "attributes": _attrs(src.attributes),
                "events": [
                    {
                        "name": e.name,
                        "attributes": _attrs(e.attributes),
                        "timestamp": e.timestamp / 1e9 if e.timestamp is not None else None,
                    }
                    for e in src.events
                ],
                "links": [
                    {"context": _context(link.context), "attributes": _attrs(link.attributes)} for link in src.links
                ],
                "start_time": start / 1e9 if start is not None else None,
                "end_time": end / 1e9 if end is not None else None,
                "context": context,
                "parent": parent,
                "resource": {
                    "attributes": _attrs(resource.attributes) if resource is not None else {},
                    "schema_url": (resource.schema_url or "") if resource is not None else "",
                },
            }
        )
