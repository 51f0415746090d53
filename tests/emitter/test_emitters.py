"""Emitters record what the agent says about itself: rewards, messages, objects, exceptions, operations."""

from __future__ import annotations

import asyncio
import math

import pytest

import agentlightning as agl
from agentlightning.tracer.otel import OtelTracer


def _trace(tracer: OtelTracer, body) -> list[agl.Span]:  # type: ignore[no-untyped-def]
    """The spans ``body`` made in a trace context (without the context's root span, which they all nest under)."""
    with tracer.trace_context("emitters"):
        body()
    root, *spans = tracer.get_last_trace()  # a store-less context numbers its spans in start order
    assert root.name == "agentlightning.rollout"
    assert {s.trace_id for s in spans} <= {root.trace_id}
    return spans


def _names_of_last_trace(tracer: OtelTracer) -> list[str]:
    return [s.name for s in tracer.get_last_trace()]


def test_emit_reward_float_writes_primary_reward(tracer: OtelTracer) -> None:
    (span,) = _trace(tracer, lambda: agl.emit_reward(0.75))
    assert span.name == "agentlightning.annotation"
    assert span.attributes["agentlightning.reward.0.name"] == "primary"
    assert span.attributes["agentlightning.reward.0.value"] == 0.75
    assert agl.get_reward_value(span) == 0.75


@pytest.mark.parametrize("value", [1, True, 0])
def test_emit_reward_ints_and_bools_become_floats(tracer: OtelTracer, value: object) -> None:
    (span,) = _trace(tracer, lambda: agl.emit_reward(value))  # type: ignore[arg-type]
    assert span.attributes["agentlightning.reward.0.value"] == float(value)  # type: ignore[arg-type]
    assert isinstance(span.attributes["agentlightning.reward.0.value"], float)


def test_emit_reward_dict_puts_primary_key_first(tracer: OtelTracer) -> None:
    (span,) = _trace(tracer, lambda: agl.emit_reward({"cost": 0.2, "accuracy": 1.0}, primary_key="accuracy"))
    attrs = span.attributes
    assert (attrs["agentlightning.reward.0.name"], attrs["agentlightning.reward.0.value"]) == ("accuracy", 1.0)
    assert (attrs["agentlightning.reward.1.name"], attrs["agentlightning.reward.1.value"]) == ("cost", 0.2)
    assert agl.get_reward_value(span) == 1.0


@pytest.mark.parametrize("bad", ["0.5", None, [1.0], object()])
def test_emit_reward_rejects_non_numbers_with_type_error(tracer: OtelTracer, bad: object) -> None:
    with tracer.trace_context("x"), pytest.raises(TypeError, match="must be a number"):
        agl.emit_reward(bad)  # type: ignore[arg-type]


def test_emit_reward_rejects_nan_and_bad_dicts(tracer: OtelTracer) -> None:
    with tracer.trace_context("x"):
        with pytest.raises(ValueError, match="finite"):
            agl.emit_reward(math.nan)
        with pytest.raises(ValueError, match="primary_key"):
            agl.emit_reward({"a": 1.0})
        with pytest.raises(ValueError, match="'b' is not one of"):
            agl.emit_reward({"a": 1.0}, primary_key="b")
        with pytest.raises(TypeError, match="reward 'a' must be a number"):
            agl.emit_reward({"a": "high"}, primary_key="a")
    assert _names_of_last_trace(tracer) == ["agentlightning.rollout"]  # nothing half-written


def test_emitters_outside_a_trace_context_raise_runtime_error() -> None:
    for call in (
        lambda: agl.emit_reward(1.0),
        lambda: agl.emit_message("hi"),
        lambda: agl.emit_object({"a": 1}),
        lambda: agl.emit_exception(ValueError("x")),
    ):
        with pytest.raises(RuntimeError, match="No active tracer found"):
            call()


def test_propagate_false_returns_span_without_recording(tracer: OtelTracer) -> None:
    with tracer.trace_context("x"):
        core = agl.emit_reward(2.0, propagate=False)
    assert isinstance(core, agl.SpanCoreFields)
    assert core.attributes["agentlightning.reward.0.value"] == 2.0
    assert _names_of_last_trace(tracer) == ["agentlightning.rollout"]
    assert agl.emit_message("m", propagate=False).name == "agentlightning.message"  # works outside a context too


def test_message_object_exception_spans(tracer: OtelTracer) -> None:
    def body() -> None:
        agl.emit_message("thinking")
        agl.emit_object({"plan": [1, 2], "model": agl.LLM(endpoint="http://x/v1", model="m")})
        try:
            raise KeyError("missing")
        except KeyError as exc:
            agl.emit_exception(exc)

    message, obj, exc = _trace(tracer, body)
    assert message.attributes["agentlightning.message.body"] == "thinking"
    assert obj.attributes["agentlightning.object.type"] == "dict"
    assert '"plan": [1, 2]' in obj.attributes["agentlightning.object.json"]
    assert '"model": "m"' in obj.attributes["agentlightning.object.json"]
    assert exc.status.status_code == "ERROR"
    assert exc.attributes["exception.type"] == "KeyError"
    assert "raise KeyError" in exc.attributes["exception.stacktrace"]
    with pytest.raises(TypeError):
        agl.emit_message(42)  # type: ignore[arg-type]


def test_operation_decorator_sync_and_async_nest_and_record_io(tracer: OtelTracer) -> None:
    @agl.operation
    def add(a: int, b: int = 2) -> int:
        agl.emit_message("adding")
        return a + b

    @agl.operation(name="twice", stage="x")
    async def twice(x: int) -> int:
        return add(x) * 2

    def body() -> None:
        assert asyncio.run(twice(1)) == 6

    spans = _trace(tracer, body)
    outer = next(s for s in spans if s.attributes.get("agentlightning.operation.name") == "twice")
    inner = next(s for s in spans if s.attributes.get("agentlightning.operation.name") == "add")
    message = next(s for s in spans if s.name == "agentlightning.message")
    assert inner.parent_id == outer.span_id and message.parent_id == inner.span_id
    assert outer.attributes["stage"] == "x"
    assert inner.attributes["agentlightning.operation.input"] == '{"a": 1, "b": 2}'
    assert inner.attributes["agentlightning.operation.output"] == "3"


def test_operation_outside_context_runs_untraced_and_errors_propagate(tracer: OtelTracer) -> None:
    @agl.operation
    def boom() -> None:
        raise ValueError("bad")

    with pytest.raises(ValueError, match="bad"):
        boom()  # no context: still just the function

    def body() -> None:
        with pytest.raises(ValueError, match="bad"):
            boom()
        with agl.operation("block", step=1) as span:
            span.set_attribute("extra", True)

    failed, block = _trace(tracer, body)
    assert failed.status.status_code == "ERROR"
    assert block.attributes["agentlightning.operation.name"] == "block"
    assert block.attributes["step"] == 1 and block.attributes["extra"] is True


def test_one_operation_object_used_by_concurrent_tasks_and_nested(tracer: OtelTracer) -> None:
    step = agl.operation("step")

    async def work(i: int) -> None:
        with step:
            await asyncio.sleep(0)  # the other task enters the same object meanwhile
            with step:
                agl.emit_message(f"inner {i}")
            await asyncio.sleep(0)

    async def main() -> None:
        await asyncio.gather(work(1), work(2))

    spans = _trace(tracer, lambda: asyncio.run(main()))
    steps = [s for s in spans if s.name == "agentlightning.operation"]
    messages = [s for s in spans if s.name == "agentlightning.message"]
    assert len(steps) == 4 and len(messages) == 2
    by_id = {s.span_id: s for s in spans}
    for message in messages:
        inner = by_id[message.parent_id]  # type: ignore[index]
        outer = by_id[inner.parent_id]  # type: ignore[index]
        assert inner.name == outer.name == "agentlightning.operation"
        assert outer.parent_id not in by_id  # each task's outer step is a root of its own
