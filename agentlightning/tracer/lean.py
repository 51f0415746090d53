"""Lean spans: the spans of our plugins, made without the SDK's general per-span work.

The OpenTelemetry SDK's ``Tracer.start_span`` is written for any caller: it asks the sampler (a chain of
calls ending in "record and sample" for the always-on samplers a rollout needs), copies the sampler's
attributes, cleans every attribute value through a recursive type check, and on ``end()`` hands processors
a fresh ``ReadableSpan`` copy. For the spans our plugins open, all of that is known in advance: the sampler
is always-on, the values are plain ``str``/``int``/``float``/``bool`` (or tuples of them, built by us).

:func:`lean_start` makes the same span with less work. It is still an SDK span (:class:`LeanSpan` is a
subclass of the SDK's own ``Span``, started and ended through the provider's span processors, so every
other processor and exporter sees what it always sees) with the same ids, flags, trace state, parent,
resource, scope, limits and attributes as ``start_span`` would have given. It differs only in:

- attribute values whose type is exactly ``str``/``bool``/``int``/``float`` are stored without the SDK's
  cleaning (it would return them unchanged); any other value goes through the SDK's own cleaning;
- ``on_end`` receives the ended span itself rather than a ``ReadableSpan`` copy (an ended span refuses
  every change, as the copy would).

It is used only where its result is provably the SDK's (:func:`lean_start` returns ``None`` otherwise and
the caller uses ``start_span``): an SDK tracer that is enabled, an always-on sampler (``ALWAYS_ON``, or
``ParentBased`` whose sampled branches are ``ALWAYS_ON``) and a parent that is absent or sampled, no
attribute-length limit, and an SDK whose ``Span`` has exactly the fields this module sets (checked once
against a span the SDK constructs; a newer SDK that adds a field turns the lean path off, with a debug line).
"""

from __future__ import annotations

import logging
import threading
from time import time_ns
from typing import TYPE_CHECKING, Any

from opentelemetry import trace as trace_api
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk import trace as sdk_trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import sampling
from opentelemetry.sdk.util import BoundedList
from opentelemetry.trace import SpanContext, TraceFlags
from opentelemetry.trace.status import Status, StatusCode

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.trace import SpanKind

logger = logging.getLogger(__name__)

__all__ = ["LeanSpan", "lean_start"]

_PLAIN = frozenset((str, bool, int, float))
_UNSET = Status(StatusCode.UNSET)
_SAMPLED = TraceFlags.SAMPLED
_RANDOM: int = getattr(TraceFlags, "RANDOM_TRACE_ID", 0)  # W3C trace context level 2 (newer SDKs set it)
_CHILD_FLAGS = {0: TraceFlags(_SAMPLED), _RANDOM: TraceFlags(_SAMPLED | _RANDOM)}  # by the parent's random bit
_get_current_span = trace_api.get_current_span
_Lock = threading.Lock


class LeanSpan(sdk_trace._Span):
    """An SDK span whose plain attribute values skip the SDK's cleaning, and whose ``on_end`` gets itself."""

    def _bounded(self) -> BoundedAttributes:
        attributes: Any = self._attributes  # always a BoundedAttributes in a span (typed as a Mapping)
        return attributes  # type: ignore[no-any-return]

    def set_attributes(self, attributes: Any) -> None:
        with self._lock:
            if self._end_time is not None:
                logger.warning("Setting attribute on ended span.")
                return
            _put_all(self._bounded(), attributes)

    def set_attribute(self, key: str, value: Any) -> None:
        with self._lock:
            if self._end_time is not None:
                logger.warning("Setting attribute on ended span.")
                return
            _put_all(self._bounded(), {key: value})

    def end(self, end_time: int | None = None) -> None:
        with self._lock:
            if self._start_time is None:
                raise RuntimeError("Calling end() on a not started span.")
            if self._end_time is not None:
                logger.warning("Calling end() on an ended span.")
                return
            self._end_time = end_time if end_time is not None else time_ns()
            self._bounded()._immutable = True
        record_end_metrics = self.__dict__.get("_record_end_metrics")
        if record_end_metrics:
            record_end_metrics()
        processor = self._span_processor
        on_ending = getattr(processor, "_on_ending", None)
        if on_ending is not None:
            on_ending(self)
        processor.on_end(self)


def _put_all(bounded: BoundedAttributes, attributes: Any) -> None:
    """``bounded._set_items(attributes)``, storing plain values directly (same result, same order)."""
    store = bounded._dict
    maxlen = bounded.maxlen
    if bounded.max_value_len is not None or (maxlen is not None and len(store) + len(attributes) > maxlen):
        bounded._set_items(attributes)  # limits to apply: the SDK's own way
        return
    plain = _PLAIN
    for key, value in attributes.items():
        # a value the SDK's cleaning would return as it is (and that needs no copy to stay immutable);
        # written out here, not a function: a call per attribute cost more than the check
        kind = type(value)
        if (kind in plain or (kind is tuple and plain.issuperset(map(type, value)))) and type(key) is str and key:
            if key in store:
                del store[key]  # a re-set key moves to the end, as the SDK does
            store[key] = value
        else:
            bounded[key] = value  # cleaned (or refused) by the SDK


def _bounded(maxlen: int | None, max_value_len: int | None, attributes: Any) -> BoundedAttributes:
    """``BoundedAttributes(maxlen, attributes, immutable=False, max_value_len=max_value_len)``."""
    bounded = BoundedAttributes.__new__(BoundedAttributes)
    bounded._dict = {}
    bounded.maxlen = maxlen
    bounded.dropped = 0
    bounded.max_value_len = max_value_len
    bounded._lock = _Lock()
    bounded._immutable = False
    if attributes:
        _put_all(bounded, attributes)
    return bounded


# ---- which tracers get lean spans -----------------------------------------------------------------


class _Plan:
    """What a lean span of one SDK tracer needs, read once."""

    __slots__ = (
        "events", "ids", "limits", "links", "max_attributes", "max_length", "metrics", "processor", "root_flags",
        "sampler", "tracer",
    )  # fmt: skip

    def __init__(self, tracer: sdk_trace.Tracer) -> None:
        self.tracer = tracer
        self.sampler = tracer.sampler
        self.processor = tracer.span_processor
        self.ids = tracer.id_generator
        self.limits = tracer._span_limits
        self.events = self.limits.max_events
        self.links = self.limits.max_links
        self.max_attributes = self.limits.max_span_attributes
        self.max_length = self.limits.max_span_attribute_length
        self.metrics = getattr(tracer, "_tracer_metrics", None)
        is_random = getattr(self.ids, "is_trace_id_random", None)
        random_root = _RANDOM if _RANDOM and is_random is not None and is_random() else 0
        self.root_flags = TraceFlags(_SAMPLED | random_root)


_SPAN_FIELDS = frozenset(
    (
        "_name", "_context", "_kind", "_instrumentation_info", "_instrumentation_scope", "_parent",
        "_start_time", "_end_time", "_attributes", "_events", "_links", "_resource", "_status", "_sampler",
        "_trace_config", "_record_exception", "_set_status_on_exception", "_span_processor", "_limits", "_lock",
        "_record_end_metrics",
    )
)  # fmt: skip
_BOUNDED_FIELDS = frozenset(("_dict", "maxlen", "dropped", "max_value_len", "_lock", "_immutable"))
_sdk_checked: bool | None = None


def _sdk_matches() -> bool:
    """Whether this SDK's span and attribute map have exactly the fields a lean span sets (checked once)."""
    global _sdk_checked
    if _sdk_checked is None:
        try:
            probe = sdk_trace._Span("probe", trace_api.INVALID_SPAN_CONTEXT, resource=Resource.get_empty())
            fields = set(vars(probe)) | {"_record_end_metrics"}
            bounded = set(vars(BoundedAttributes(None, None, immutable=False)))
            _sdk_checked = fields == _SPAN_FIELDS and bounded == _BOUNDED_FIELDS
        except Exception:
            _sdk_checked = False
        if not _sdk_checked:
            logger.debug("agentlightning: this OpenTelemetry SDK's Span differs from the known one; no lean spans")
    return _sdk_checked


def _always_on(sampler: Any) -> bool:
    if sampler is sampling.ALWAYS_ON:
        return True
    if type(sampler) is not sampling.ParentBased:
        return False
    delegates = (
        getattr(sampler, "_root", None),
        getattr(sampler, "_remote_parent_sampled", None),
        getattr(sampler, "_local_parent_sampled", None),
    )
    return all(delegate is sampling.ALWAYS_ON for delegate in delegates)


_PLANS: dict[int, tuple[Any, _Plan | None]] = {}


def _plan(tracer: Any) -> _Plan | None:
    """The plan for ``tracer`` (an SDK tracer, or a proxy that resolved to one), or ``None``: no lean spans."""
    entry = _PLANS.get(id(tracer))
    if entry is not None and entry[0] is tracer:
        return entry[1]
    real = tracer
    if isinstance(tracer, trace_api.ProxyTracer):
        real = getattr(tracer, "_real_tracer", None)
        if real is None:
            return None  # not resolved yet (no provider set): ask again next time
    plan = None
    if type(real) is sdk_trace.Tracer and _always_on(real.sampler) and _sdk_matches():
        plan = _Plan(real)
    if len(_PLANS) >= 1024:  # tracers made per call would otherwise pile up here
        _PLANS.clear()
    _PLANS[id(tracer)] = (tracer, plan)
    return plan


def lean_start(
    tracer: Any, name: str, context: Context | None, kind: SpanKind, attributes: Any
) -> sdk_trace.Span | None:
    """A started :class:`LeanSpan`, exactly what ``tracer.start_span(...)`` would give; ``None``: use that."""
    plan = _plan(tracer)
    if plan is None:
        return None
    sdk_tracer = plan.tracer
    if sdk_tracer.sampler is not plan.sampler:
        return None
    config = getattr(sdk_tracer, "_tracer_config", None)
    if config is not None and not config.is_enabled:
        return None
    parent: SpanContext | None = _get_current_span(context).get_span_context()
    if parent is not None and parent.is_valid:
        flags = parent.trace_flags
        if not flags & _SAMPLED:
            return None  # the sampler would drop it: the SDK makes its non-recording span
        trace_id = parent.trace_id
        trace_state = parent.trace_state
        flags = _CHILD_FLAGS[flags & _RANDOM]
    else:
        parent = None
        trace_id = plan.ids.generate_trace_id()
        trace_state = None
        flags = plan.root_flags
    span_context = SpanContext(
        trace_id, plan.ids.generate_span_id(), is_remote=False, trace_flags=flags, trace_state=trace_state
    )
    metrics = plan.metrics
    record_end_metrics = (
        metrics.start_span(parent, sampling.Decision.RECORD_AND_SAMPLE) if metrics is not None else None
    )
    span: LeanSpan = object.__new__(LeanSpan)  # set up below, field by field (see _SPAN_FIELDS)
    fields = span.__dict__
    fields["_name"] = name
    fields["_context"] = span_context
    fields["_kind"] = kind
    fields["_instrumentation_info"] = sdk_tracer.instrumentation_info
    fields["_instrumentation_scope"] = sdk_tracer._instrumentation_scope
    fields["_parent"] = parent
    fields["_start_time"] = None
    fields["_end_time"] = None
    fields["_attributes"] = _bounded(plan.max_attributes, plan.max_length, attributes)
    fields["_events"] = BoundedList(plan.events)
    fields["_links"] = BoundedList(plan.links)
    fields["_resource"] = sdk_tracer.resource
    fields["_status"] = _UNSET
    fields["_sampler"] = plan.sampler
    fields["_trace_config"] = None
    fields["_record_exception"] = True
    fields["_set_status_on_exception"] = True
    fields["_span_processor"] = plan.processor
    fields["_limits"] = plan.limits
    fields["_lock"] = _Lock()
    fields["_record_end_metrics"] = record_end_metrics
    fields["_start_time"] = time_ns()
    plan.processor.on_start(span, parent_context=context)
    return span
