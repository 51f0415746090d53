"""Reward helpers: reading rewards back out of spans, in every form agent-lightning users have written them."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentlightning.emitter.reward_helpers import (
    find_final_reward,
    find_reward_spans,
    get_reward_value,
    is_reward_span,
)
from agentlightning.types import Span


def make_span(
    name: str, attributes: dict[str, Any] | None = None, *, start: float | None = 1.0, seq: int = 0, sid: str = "s"
) -> Span:
    return Span(
        rollout_id="ro-1",
        attempt_id="at-1",
        sequence_id=seq,
        trace_id="0" * 32,
        span_id=sid,
        name=name,
        attributes=attributes or {},
        start_time=start,
        end_time=None if start is None else start + 0.1,
    )


def annotation(*dims: tuple[str, Any], **kw: Any) -> Span:
    attrs: dict[str, Any] = {}
    for i, (name, value) in enumerate(dims):
        attrs[f"agentlightning.reward.{i}.name"] = name
        attrs[f"agentlightning.reward.{i}.value"] = value
    return make_span("agentlightning.annotation", attrs, **kw)


def test_emit_reward_annotation_gives_its_value() -> None:
    span = annotation(("primary", 0.75))
    assert get_reward_value(span) == 0.75
    assert is_reward_span(span)


def test_dict_reward_reads_primary_key_written_first_even_if_another_is_named_primary() -> None:
    # emit_reward({"accuracy": 1.0, "primary": 0.2}, primary_key="accuracy") writes accuracy at index 0.
    assert get_reward_value(annotation(("accuracy", 1.0), ("primary", 0.2))) == 1.0
    assert get_reward_value(annotation(("task", 1.0), ("cost", 0.5))) == 1.0


def test_dimension_named_primary_used_when_dimension_zero_has_no_number() -> None:
    span = annotation(("accuracy", "n/a"), ("primary", 0.9))
    assert get_reward_value(span) == 0.9


def test_annotation_without_reward_keys_is_not_a_reward() -> None:
    span = make_span("agentlightning.annotation", {"agentlightning.tag": "x"})
    assert get_reward_value(span) is None
    assert not is_reward_span(span)


def test_reward_keys_on_an_ordinary_span_are_not_a_reward() -> None:
    span = make_span(
        "chat gpt-4o-mini", {"agentlightning.reward.0.name": "primary", "agentlightning.reward.0.value": 1.0}
    )
    assert get_reward_value(span) is None


@pytest.mark.parametrize("key", ["agentops.task.output", "agentops.entity.output"])
def test_agentops_json_payload(key: str) -> None:
    span = make_span("reward.task", {key: json.dumps({"type": "reward", "value": 0.5})})
    assert get_reward_value(span) == 0.5


def test_agentops_dict_payload_and_int_value() -> None:
    span = make_span("any", {"agentops.task.output": {"type": "reward", "value": 1}})
    value = get_reward_value(span)
    assert value == 1.0 and isinstance(value, float)


@pytest.mark.parametrize(
    "payload",
    [
        json.dumps({"type": "reward", "value": None}),
        json.dumps({"type": "message", "value": 0.5}),
        "not json {",
        json.dumps("HELLO"),
        json.dumps({"type": "reward", "value": True}),
    ],
)
def test_agentops_payloads_that_are_not_rewards(payload: str) -> None:
    span = make_span("task", {"agentops.task.output": payload})
    assert get_reward_value(span) is None
    assert not is_reward_span(span)


def test_legacy_agentlightning_reward_span() -> None:
    assert get_reward_value(make_span("agentlightning.reward", {"reward": 0.3})) == 0.3
    assert get_reward_value(make_span("reward", {"value": "0.25"})) == 0.25
    assert get_reward_value(make_span("something.else", {"reward": 0.3})) is None


def test_duck_typed_span_with_no_attributes() -> None:
    assert get_reward_value(SimpleNamespace(name="agentlightning.annotation", attributes=None)) is None


def test_opentelemetry_readable_spans() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("chat m"):
        pass
    with tracer.start_as_current_span(
        "agentlightning.annotation",
        attributes={"agentlightning.reward.0.name": "primary", "agentlightning.reward.0.value": 0.4},
    ):
        pass
    with tracer.start_as_current_span(
        "agentlightning.annotation",
        attributes={"agentlightning.reward.0.name": "primary", "agentlightning.reward.0.value": 0.9},
    ):
        pass
    provider.shutdown()
    spans = list(exporter.get_finished_spans())
    assert [is_reward_span(s) for s in spans] == [False, True, True]
    assert find_reward_spans(spans) == spans[1:]
    assert find_final_reward(spans) == 0.9


def test_find_reward_spans_keeps_input_order() -> None:
    a, b = annotation(("primary", 1.0), sid="a"), annotation(("primary", 2.0), sid="b")
    other = make_span("chat m", sid="c")
    assert find_reward_spans([b, other, a]) == [b, a]


def test_final_reward_is_the_last_in_time_not_in_list_order() -> None:
    early = annotation(("primary", 0.1), start=5.0, seq=9, sid="early")
    late = annotation(("primary", 0.7), start=9.0, seq=3, sid="late")
    assert find_final_reward([late, early]) == 0.7


def test_final_reward_same_time_breaks_tie_by_sequence_id() -> None:
    a = annotation(("primary", 0.1), start=5.0, seq=2, sid="a")
    b = annotation(("primary", 0.2), start=5.0, seq=1, sid="b")
    assert find_final_reward([a, b]) == 0.1


def test_final_reward_without_times_uses_list_order() -> None:
    a = annotation(("primary", 0.1), start=None, sid="a")
    b = annotation(("primary", 0.2), start=None, sid="b")
    assert find_final_reward([a, b]) == 0.2
    assert find_final_reward([b, a]) == 0.1


def test_final_reward_none_when_no_reward() -> None:
    assert find_final_reward([make_span("chat m")]) is None
    assert find_final_reward([]) is None
