"""The data model: ids, the UNSET sentinel, resources, rollouts and spans converted from OpenTelemetry."""

from __future__ import annotations

import json
import pickle
import re

import pytest
from opentelemetry import trace as trace_api
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanContext, Status, StatusCode, TraceFlags, TraceState
from pydantic import TypeAdapter, ValidationError

import agentlightning as agl
from agentlightning.types import (
    UNSET,
    Attempt,
    AttemptedRollout,
    NamedResources,
    Span,
    new_attempt_id,
    new_resources_id,
    new_rollout_id,
)
from agentlightning.types.tracer import span_json, span_record


def test_id_formats() -> None:
    assert re.fullmatch(r"ro-[0-9a-f]{12}", new_rollout_id())
    assert re.fullmatch(r"at-[0-9a-f]{8}", new_attempt_id())
    assert re.fullmatch(r"rs-[0-9a-f]{12}", new_resources_id())
    assert len({new_rollout_id() for _ in range(1000)}) == 1000


def test_unset_is_a_falsy_singleton_that_survives_pickling() -> None:
    assert UNSET is not None and not UNSET and repr(UNSET) == "UNSET"
    assert pickle.loads(pickle.dumps(UNSET)) is UNSET
    assert type(UNSET)() is UNSET


def test_rollout_config_validates() -> None:
    config = agl.RolloutConfig(max_attempts=3, retry_condition=["failed", "timeout"])
    assert config.timeout_seconds is None and config.unresponsive_seconds is None
    with pytest.raises(ValidationError):
        agl.RolloutConfig(max_attempts=0)
    with pytest.raises(ValidationError):
        agl.RolloutConfig(retry_condition=["succeeded-ish"])  # type: ignore[list-item]


def test_rollout_defaults_and_attempted_rollout_must_match() -> None:
    rollout = agl.Rollout(rollout_id="ro-1", input={"q": 1})
    assert rollout.status == "queuing" and rollout.end_time is None and rollout.start_time > 0
    attempt = Attempt(rollout_id="ro-1", attempt_id="at-1", sequence_id=1)
    assert attempt.status == "preparing"
    attempted = AttemptedRollout(**rollout.model_dump(), attempt=attempt)
    assert attempted.attempt.attempt_id == "at-1"
    with pytest.raises(ValidationError, match="belongs to rollout 'ro-other'"):
        AttemptedRollout(**rollout.model_dump(), attempt=attempt.model_copy(update={"rollout_id": "ro-other"}))


def test_proxy_llm_base_url() -> None:
    proxy = agl.ProxyLLM(endpoint="http://host:8000/v1", model="m")
    assert proxy.get_base_url() == "http://host:8000/v1"
    assert proxy.get_base_url("ro-1", "at-1") == "http://host:8000/rollout/ro-1/attempt/at-1/v1"
    assert agl.ProxyLLM(endpoint="http://host/api/", model="m").get_base_url("ro-1", "at-1") == (
        "http://host/api/rollout/ro-1/attempt/at-1"
    )
    with pytest.raises(ValueError, match="both rollout_id and attempt_id"):
        proxy.get_base_url("ro-1", None)
    attempted = AttemptedRollout(
        rollout_id="ro-1", input=None, attempt=Attempt(rollout_id="ro-1", attempt_id="at-1", sequence_id=1)
    )
    plain = proxy.with_attempted_rollout(attempted)
    assert type(plain) is agl.LLM
    assert plain.endpoint == "http://host:8000/rollout/ro-1/attempt/at-1/v1" and plain.model == "m"


def test_prompt_template_formats_and_rejects_unknown_engines() -> None:
    assert agl.PromptTemplate(template="Hi {name}").format(name="Ada") == "Hi Ada"
    with pytest.raises(NotImplementedError, match="poml"):
        agl.PromptTemplate(template="x", engine="poml").format()


def test_named_resources_round_trip_through_json_keeps_their_classes() -> None:
    resources = {
        "proxy": agl.ProxyLLM(endpoint="http://h/v1", model="a"),
        "llm": agl.LLM(endpoint="http://h/v1", model="b", sampling_parameters={"temperature": 0.2}),
        "prompt": agl.PromptTemplate(template="{x}"),
    }
    adapter = TypeAdapter(NamedResources)
    back = adapter.validate_json(adapter.dump_json(resources))  # type: ignore[arg-type]
    assert [type(v) for v in back.values()] == [agl.ProxyLLM, agl.LLM, agl.PromptTemplate]
    assert back == resources


def test_span_from_opentelemetry_converts_everything() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("parent") as parent:
        link = Link(parent.get_span_context(), {"why": "because"})
        with tracer.start_as_current_span("child", attributes={"k": "v", "seq": (1, 2)}, links=[link]) as child:
            child.add_event("hello", {"n": 1})
            child.set_status(Status(StatusCode.ERROR, "bad"))
    readable = next(s for s in exporter.get_finished_spans() if s.name == "child")
    span = Span.from_opentelemetry(readable, "ro-1", "at-1", 7)
    assert (span.rollout_id, span.attempt_id, span.sequence_id) == ("ro-1", "at-1", 7)
    assert span.trace_id == format(readable.context.trace_id, "032x") and len(span.trace_id) == 32
    assert span.span_id == format(readable.context.span_id, "016x") and len(span.span_id) == 16
    assert span.parent_id == format(parent.get_span_context().span_id, "016x")
    assert span.parent is not None and span.parent.span_id == span.parent_id
    assert span.attributes == {"k": "v", "seq": [1, 2]}
    assert span.status.status_code == "ERROR" and span.status.description == "bad"
    assert span.events[0].name == "hello" and span.events[0].attributes == {"n": 1}
    assert span.links[0].context.span_id == span.parent_id and span.links[0].attributes == {"why": "because"}
    assert span.start_time == readable.start_time / 1e9 and span.end_time == readable.end_time / 1e9  # type: ignore[operator]
    assert span.resource.attributes["telemetry.sdk.name"] == "opentelemetry"
    assert Span.model_validate_json(span.model_dump_json()) == span


@pytest.mark.parametrize("field", ["timeout_seconds", "unresponsive_seconds"])
@pytest.mark.parametrize("value", [-1, 0, float("nan")])
def test_rollout_config_rejects_non_positive_time_limits(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=rf"{field} must be a positive number of seconds, or None"):
        agl.RolloutConfig(**{field: value})
    assert getattr(agl.RolloutConfig(**{field: 0.5}), field) == 0.5


def _finished_spans() -> list[ReadableSpan]:
    """Spans that exercise every field of the stored form: parents, links, events, statuses, odd values."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "svc", "ünï": "cödé"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("t")
    state = TraceState([("vendor", "value")])
    remote = SpanContext(0xABC, 0xDEF, is_remote=True, trace_flags=TraceFlags(1), trace_state=state)
    with tracer.start_as_current_span('parent "quoted" \\ ünïcode 😀') as parent:
        link = Link(remote, {"why": "because"})
        attributes = {"k": "v", "seq": (1, 2), "nan": float("nan"), "inf": float("-inf"), "b": True, "f": 0.1}
        with tracer.start_as_current_span("child\n", attributes=attributes, links=[link]) as child:
            child.add_event("hello", {"n": 1, "t": ("a", "b")})
            child.set_status(Status(StatusCode.ERROR, 'bad "thing"\n'))
        with tracer.start_as_current_span("ok") as ok:
            ok.set_status(Status(StatusCode.OK))
        parent.set_attribute("big", "x" * 10_000)
    bare = tracer.start_span("bare", start_time=1, context=trace_api.set_span_in_context(trace_api.INVALID_SPAN))
    bare.end(end_time=1_700_000_000_123_456_789)
    return list(exporter.get_finished_spans())


def test_the_json_sqlite_stores_is_the_model_json_of_the_converted_span() -> None:
    for readable in _finished_spans():
        converted = Span.from_opentelemetry(readable, "ro-1", 'at-"1"', 5)
        expected = Span.model_validate_json(converted.model_dump_json())  # what the model path stored (NaN: null)
        data = span_json(readable, "ro-1", 'at-"1"')
        assert "sequence_id" not in json.loads(data)
        assert Span.model_validate_json(f'{{"sequence_id":5,{data[1:]}') == expected
        assert json.loads(data) == json.loads(converted.model_dump_json(exclude={"sequence_id"}))


def test_the_stored_record_validates_to_the_converted_span() -> None:
    for readable in _finished_spans():
        record = span_record(readable, "ro-1", "at-1")
        validated = Span.model_validate({**record, "sequence_id": 3})
        assert validated.model_dump_json() == Span.from_opentelemetry(readable, "ro-1", "at-1", 3).model_dump_json()
