"""Spans as the store keeps them: an OpenTelemetry span plus the rollout, attempt and sequence it belongs to.

Ids are lowercase hex (32 digits for traces, 16 for spans), times are float seconds since the epoch.
"""

from __future__ import annotations

import json.encoder
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field
from pydantic_core import to_json

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


_NO_TRACE_ID = "0" * 32
_NO_SPAN_ID = "0" * 16
_NO_CONTEXT: dict[str, Any] = {"trace_id": _NO_TRACE_ID, "span_id": _NO_SPAN_ID, "is_remote": False, "trace_state": {}}


def _context(ctx: Any) -> dict[str, Any]:
    state = ctx.trace_state
    return {
        "trace_id": format(ctx.trace_id, "032x"),
        "span_id": format(ctx.span_id, "016x"),
        "is_remote": bool(ctx.is_remote),
        "trace_state": dict(state) if state else {},
    }


# The resource is one object shared by every span of a provider: its stored form is made once, and shared by
# the records of its spans (records are read-only: they are encoded or validated into new objects).
_resource_cache: tuple[Any, dict[str, Any]] = (None, {"attributes": {}, "schema_url": ""})


def _resource(resource: Any) -> dict[str, Any]:
    global _resource_cache
    cached = _resource_cache
    if cached[0] is resource:
        return cached[1]
    record = {"attributes": _attrs(resource.attributes), "schema_url": resource.schema_url or ""}
    _resource_cache = (resource, record)  # one tuple assignment: safe without a lock
    return record


def span_record(src: ReadableSpan, rollout_id: str, attempt_id: str) -> dict[str, Any]:
    """The stored form of a finished OpenTelemetry span: a plain dict of :class:`Span`'s fields, JSON types only.

    Everything but ``sequence_id`` (the store allocates it): ``Span.model_validate({**record,
    "sequence_id": n})`` is the :class:`Span`, and the record's JSON is the model's JSON. No pydantic
    runs here, which is what lets the tracer's writer keep up with a busy program (see
    ``agentlightning.tracer._writer``).
    """
    ctx = src.context
    context = _context(ctx) if ctx is not None else dict(_NO_CONTEXT, trace_state={})
    parent_ctx = src.parent
    parent = _context(parent_ctx) if parent_ctx is not None else None
    status = src.status
    start, end = src.start_time, src.end_time
    events = src.events
    links = src.links
    return {
        "rollout_id": rollout_id,
        "attempt_id": attempt_id,
        "trace_id": context["trace_id"],
        "span_id": context["span_id"],
        "parent_id": parent["span_id"] if parent is not None else None,
        "name": src.name,
        "status": {"status_code": status.status_code.name, "description": status.description},
        "attributes": _attrs(src.attributes),
        "events": _events_record(events) if events else [],
        "links": _links_record(links) if links else [],
        "start_time": start / 1e9 if start is not None else None,
        "end_time": end / 1e9 if end is not None else None,
        "context": context,
        "parent": parent,
        "resource": _resource(src.resource),
    }


_json_str: Any = getattr(json.encoder, "c_encode_basestring", None) or json.encoder.py_encode_basestring
_json_resource: tuple[Any, str] = (None, '{"attributes":{},"schema_url":""}')


def _json_value(value: Any, inf_nan: Literal["null", "constants"] = "null") -> str:
    return to_json(value, inf_nan_mode=inf_nan).decode()


_json_parent: tuple[Any, str] = (None, "null")


def _json_context(ctx: Any) -> tuple[str, str]:
    """``(the context's JSON, its '"trace_id":...,"span_id":...' part)``."""
    trace_id, span_id, is_remote, _, state = ctx[:5]  # SpanContext is a tuple; its properties cost a call each
    ids = f'"trace_id":"{trace_id:032x}","span_id":"{span_id:016x}"'
    remote = "true" if is_remote else "false"
    return f'{{{ids},"is_remote":{remote},"trace_state":{_json_value(dict(state)) if state else "{}"}}}', ids


def _json_parent_context(ctx: Any) -> str:
    """The parent's JSON, made once for the siblings that share the parent's (immutable) SpanContext."""
    global _json_parent
    cached = _json_parent
    if cached[0] is ctx:
        return cached[1]
    made = _json_context(ctx)[0]
    _json_parent = (ctx, made)  # one tuple assignment: safe without a lock
    return made


def _raw_parts(src: Any) -> tuple[Any, Any, Any]:
    """``(attributes, events, links)`` of a span, read without the SDK properties' copies where possible.

    ``ReadableSpan.attributes`` wraps the attributes in a read-only proxy, ``.events`` and ``.links`` copy
    their lists into tuples (under a lock): per span, that costs more than encoding it. The SDK's own spans
    keep them in ``_attributes`` (a ``BoundedAttributes``, whose ``_dict`` is a plain dict), ``_events`` and
    ``_links``; a span of another shape is read through the public properties. The attributes may hold
    tuples: pydantic-core encodes them as JSON arrays, as it does lists. Only for encoding: the caller must
    not change what it gets.
    """
    try:
        attributes, events, links = src._attributes, src._events, src._links
    except AttributeError:
        return _attrs(src.attributes), src.events, src.links
    if type(attributes) is not dict:
        attributes = getattr(attributes, "_dict", None) if attributes is not None else {}
        if type(attributes) is not dict:
            attributes = _attrs(src.attributes)
    if events is None or links is None:
        return attributes, src.events, src.links
    return attributes, events, links


def span_json(
    src: ReadableSpan, rollout_id: str, attempt_id: str, *, inf_nan: Literal["null", "constants"] = "null"
) -> str:
    """The JSON of :func:`span_record`, written straight from the span: what SQLite stores.

    It makes next to no Python containers (so no garbage-collector work): the span's attributes go to
    pydantic-core's encoder in one copy, ids and times are formatted in place, and the resource's JSON is
    made once per resource. ``Span.model_validate_json`` of it (with ``sequence_id`` added) is the same
    :class:`Span` as :meth:`Span.from_opentelemetry`. NaN and infinity in attributes become ``null`` as in
    ``model_dump_json`` (strict JSON, for SQLite's JSON functions), or stay ``NaN``/``Infinity`` with
    ``inf_nan="constants"`` (pydantic reads them back as floats).
    """
    global _json_resource
    ctx = src.context
    parent_ctx = src.parent
    status = src.status
    description = status.description
    start, end = src.start_time, src.end_time
    attributes, events, links = _raw_parts(src)
    resource = src.resource
    cached = _json_resource
    if cached[0] is resource:
        resource_json = cached[1]
    else:
        resource_json = _json_value(_resource(resource))
        _json_resource = (resource, resource_json)
    if ctx is not None:
        context_json, ids = _json_context(ctx)
    else:
        context_json = _json_value(_NO_CONTEXT)
        ids = f'"trace_id":"{_NO_TRACE_ID}","span_id":"{_NO_SPAN_ID}"'
    if parent_ctx is not None:
        parent_json = _json_parent_context(parent_ctx)
        parent_id = f'"{parent_ctx[1]:016x}"'
    else:
        parent_json = parent_id = "null"
    return (
        f'{{"rollout_id":{_json_str(rollout_id)},"attempt_id":{_json_str(attempt_id)},{ids},'
        f'"parent_id":{parent_id},"name":{_json_str(src.name)},'
        f'"status":{{"status_code":"{status.status_code.name}",'
        f'"description":{"null" if description is None else _json_str(description)}}},'
        f'"attributes":{_json_value(attributes, inf_nan) if attributes else "{}"},'
        f'"events":{_json_value(_events_record(events), inf_nan) if events else "[]"},'
        f'"links":{_json_value(_links_record(links), inf_nan) if links else "[]"},'
        f'"start_time":{"null" if start is None else repr(start / 1e9)},'
        f'"end_time":{"null" if end is None else repr(end / 1e9)},'
        f'"context":{context_json},"parent":{parent_json},"resource":{resource_json}}}'
    )


def _events_record(events: Any) -> list[dict[str, Any]]:
    return [
        {
            "name": e.name,
            "attributes": _attrs(e.attributes),
            "timestamp": e.timestamp / 1e9 if e.timestamp is not None else None,
        }
        for e in events
    ]


def _links_record(links: Any) -> list[dict[str, Any]]:
    return [{"context": _context(link.context), "attributes": _attrs(link.attributes)} for link in links]


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

        Builds the stored form (:func:`span_record`, plain dicts) and validates it in one pydantic-core call,
        which is faster than constructing the nested models one by one.
        """
        record = span_record(src, rollout_id, attempt_id)
        record["sequence_id"] = sequence_id
        return cls.model_validate(record)
