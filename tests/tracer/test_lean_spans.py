"""Lean spans (``agentlightning.instrumentation._lean``) are the SDK's spans: same fields to every exporter."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, SpanLimits, TracerProvider, sampling
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, TraceFlags, TraceState

from agentlightning.tracer.lean import LeanSpan, lean_start

ATTRIBUTES: dict[str, Any] = {
    "s": "text",
    "i": 3,
    "f": 0.5,
    "b": True,
    "t": ("a", "b"),
    "list": [1, 2],  # a list becomes a tuple (the SDK's cleaning)
    "none": None,
    "obj": object(),  # an invalid value: the SDK's own handling (str() or dropped)
    "nested": {"k": [1]},
}


def _pipeline(**provider: Any) -> tuple[trace.Tracer, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    tp = TracerProvider(**provider)
    tp.add_span_processor(SimpleSpanProcessor(exporter))
    return tp.get_tracer("test", "1.0"), exporter


def _view(span: ReadableSpan) -> dict[str, Any]:
    ctx = span.context
    assert ctx is not None
    return {
        "name": span.name,
        "kind": span.kind,
        "parent": span.parent,
        "flags": ctx.trace_flags,
        "trace_state": ctx.trace_state,
        "remote": ctx.is_remote,
        "attributes": dict(span.attributes or {}),
        "dropped": span.dropped_attributes,
        "resource": span.resource,
        "scope": span.instrumentation_scope,
        "status": (span.status.status_code, span.status.description),
        "events": [(e.name, dict(e.attributes or {})) for e in span.events],
        "links": len(span.links),
    }


def _both(tracer: trace.Tracer, exporter: InMemorySpanExporter, context: Any, **later: Any) -> list[dict[str, Any]]:
    lean = lean_start(tracer, "chat m", context, SpanKind.CLIENT, ATTRIBUTES)
    assert isinstance(lean, LeanSpan)
    sdk = tracer.start_span("chat m", context=context, kind=SpanKind.CLIENT, attributes=ATTRIBUTES)
    assert not isinstance(sdk, LeanSpan)
    for span in (lean, sdk):
        if "attributes" in later:
            span.set_attributes(later["attributes"])
            span.set_attribute("single", 7)
        if "error" in later:
            span.record_exception(later["error"])
            span.set_status(trace.Status(trace.StatusCode.ERROR, "boom"))
        span.end()
    exported = exporter.get_finished_spans()
    assert len(exported) == 2
    if context is not None:  # a child keeps its parent's trace
        assert exported[0].context.trace_id == exported[1].context.trace_id  # type: ignore[union-attr]
    return [_view(span) for span in exported]


@pytest.mark.parametrize("sampler", [sampling.ALWAYS_ON, sampling.ParentBased(sampling.ALWAYS_ON)])
def test_root_span_matches_the_sdk(sampler: Any) -> None:
    tracer, exporter = _pipeline(sampler=sampler)
    lean, sdk = _both(tracer, exporter, None, attributes={"s": "again", "late": ("x",)})
    assert lean == sdk
    assert list(lean["attributes"])[-3:] == ["s", "late", "single"]  # a re-set key moves to the end, as in the SDK


def test_child_of_a_remote_parent_keeps_its_trace_state() -> None:
    tracer, exporter = _pipeline()
    parent = SpanContext(0xABC, 0xDEF, is_remote=True, trace_flags=TraceFlags(1), trace_state=TraceState([("k", "v")]))
    context = trace.set_span_in_context(NonRecordingSpan(parent))
    lean, sdk = _both(tracer, exporter, context, error=ValueError("no"))
    assert lean == sdk
    assert lean["parent"] == parent and lean["trace_state"] == TraceState([("k", "v")])


def test_current_parent_and_limits_match_the_sdk() -> None:
    limits = SpanLimits(max_span_attributes=4, max_span_attribute_length=2)
    tracer, exporter = _pipeline(span_limits=limits)
    with tracer.start_as_current_span("outer"):
        lean, sdk = _both(tracer, exporter, otel_context.get_current(), attributes={"s": "long text"})
    assert lean == sdk
    assert lean["dropped"] > 0 and all(len(v) <= 2 for v in lean["attributes"].values() if isinstance(v, str))


def test_lean_spans_refuse_changes_once_ended(caplog: pytest.LogCaptureFixture) -> None:
    tracer, exporter = _pipeline()
    span = lean_start(tracer, "chat m", None, SpanKind.CLIENT, {"a": 1})
    assert span is not None
    span.end()
    with caplog.at_level(logging.WARNING):
        span.set_attribute("a", 2)
        span.end()
    assert exporter.get_finished_spans()[0].attributes == {"a": 1}
    assert "ended span" in caplog.text


@pytest.mark.parametrize(
    "case",
    ["sampler drops roots", "parent not sampled", "custom sampler", "no SDK provider"],
)
def test_no_lean_span_where_the_sdk_would_decide_otherwise(case: str) -> None:
    context = None
    if case == "sampler drops roots":
        tracer, _ = _pipeline(sampler=sampling.ParentBased(sampling.ALWAYS_OFF))
    elif case == "parent not sampled":
        tracer, _ = _pipeline()
        context = trace.set_span_in_context(NonRecordingSpan(SpanContext(1, 2, is_remote=False)))
    elif case == "custom sampler":
        tracer, _ = _pipeline(sampler=sampling.TraceIdRatioBased(0.5))
    else:
        tracer = trace.NoOpTracer()
    assert lean_start(tracer, "chat m", context, SpanKind.CLIENT, None) is None
