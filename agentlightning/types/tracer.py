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


def _hex_trace(value: int) -> str:
    return format(value, "032x")


def _hex_span(value: int) -> str:
    return format(value, "016x")


def _seconds(ns: int | None) -> float | None:
    return None if ns is None else ns / 1e9


def _attrs(attributes: Mapping[str, Any] | None) -> dict[str, Any]:
    if not attributes:
        return {}
    # OpenTelemetry keeps sequences as tuples; JSON wants lists. Copy so later mutation cannot leak in.
    return {k: list(v) if isinstance(v, tuple) else v for k, v in attributes.items()}


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
        """Convert a finished OpenTelemetry SDK span. Nanosecond times become float seconds."""
        ctx = src.context
        parent = src.parent
        trace_id = _hex_trace(ctx.trace_id) if ctx is not None else "0" * 32
        span_id = _hex_span(ctx.span_id) if ctx is not None else "0" * 16
        status = src.status
        resource = src.resource
        # model_construct skips re-validating what the SDK already guarantees; this runs once per span.
        return cls.model_construct(
            rollout_id=rollout_id,
            attempt_id=attempt_id,
            sequence_id=sequence_id,
            trace_id=trace_id,
            span_id=span_id,
            parent_id=_hex_span(parent.span_id) if parent is not None else None,
            name=src.name,
            status=TraceStatus.model_construct(status_code=status.status_code.name, description=status.description),
            attributes=_attrs(src.attributes),
            events=[
                Event.model_construct(name=e.name, attributes=_attrs(e.attributes), timestamp=_seconds(e.timestamp))
                for e in src.events
            ],
            links=[
                Link.model_construct(
                    context=SpanContext.model_construct(
                        trace_id=_hex_trace(link.context.trace_id),
                        span_id=_hex_span(link.context.span_id),
                        is_remote=link.context.is_remote,
                        trace_state=dict(link.context.trace_state or {}),
                    ),
                    attributes=_attrs(link.attributes),
                )
                for link in src.links
            ],
            start_time=_seconds(src.start_time),
            end_time=_seconds(src.end_time),
            context=SpanContext.model_construct(
                trace_id=trace_id,
                span_id=span_id,
                is_remote=bool(ctx.is_remote) if ctx is not None else False,
                trace_state=dict(ctx.trace_state or {}) if ctx is not None else {},
            ),
            parent=(
                SpanContext.model_construct(
                    trace_id=_hex_trace(parent.trace_id),
                    span_id=_hex_span(parent.span_id),
                    is_remote=parent.is_remote,
                    trace_state=dict(parent.trace_state or {}),
                )
                if parent is not None
                else None
            ),
            resource=OtelResource.model_construct(
                attributes=_attrs(resource.attributes) if resource is not None else {},
                schema_url=(resource.schema_url or "") if resource is not None else "",
            ),
        )
