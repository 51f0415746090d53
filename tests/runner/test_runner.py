"""The runner executes one agent over rollouts from the store and records the outcome of every attempt."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from opentelemetry import trace as trace_api

import agentlightning as agl
from agentlightning.runner import LitAgentRunner
from agentlightning.tracer.otel import OtelTracer

user_tracer = trace_api.get_tracer("user.code")
LLM = agl.LLM(endpoint="http://127.0.0.1:9/v1", model="test-model")


async def _run_one(store: agl.LightningStore, tracer: OtelTracer, agent: Any, task: Any = "t", **kwargs: Any):
    await store.add_resources({"main_llm": LLM})
    rollout = await store.enqueue_rollout(input=task, **kwargs)
    runner = LitAgentRunner(tracer)
    runner.init(agent)
    runner.init_worker(0, store)
    assert await runner.iter() >= 1
    final = await store.get_rollout_by_id(rollout.rollout_id)
    assert final is not None
    return final, await store.query_spans(rollout.rollout_id)


async def test_float_return_becomes_reward_span(store: agl.LightningStore, tracer: OtelTracer) -> None:
    @agl.rollout
    def agent(task: str, llm: agl.LLM) -> float:
        assert llm.model == "test-model"
        return 0.25

    rollout, spans = await _run_one(store, tracer, agent)
    assert rollout.status == "succeeded" and rollout.end_time is not None
    assert agl.find_final_reward(spans) == 0.25
    root = next(s for s in spans if s.name == "agentlightning.rollout")
    reward = next(s for s in spans if s.name == "agentlightning.annotation")
    assert reward.parent_id == root.span_id


async def test_none_keeps_traced_spans(store: agl.LightningStore, tracer: OtelTracer) -> None:
    @agl.rollout
    async def agent(task: str, llm: agl.LLM) -> None:
        with user_tracer.start_as_current_span("tool call"):
            await asyncio.sleep(0)
        agl.emit_reward(1.0)

    rollout, spans = await _run_one(store, tracer, agent)
    assert rollout.status == "succeeded"
    assert {s.name for s in spans} == {"agentlightning.rollout", "tool call", "agentlightning.annotation"}
    assert agl.find_final_reward(spans) == 1.0


async def test_exception_fails_attempt_and_is_recorded(store: agl.LightningStore, tracer: OtelTracer) -> None:
    @agl.rollout
    def agent(task: str, llm: agl.LLM) -> float:
        raise RuntimeError("model unreachable")

    rollout, spans = await _run_one(store, tracer, agent)
    assert rollout.status == "failed"
    (attempt,) = await store.query_attempts(rollout.rollout_id)
    assert attempt.status == "failed"
    root = next(s for s in spans if s.name == "agentlightning.rollout")
    assert root.status.status_code == "ERROR"
    assert "model unreachable" in (root.status.description or "")
    (event,) = [e for e in root.events if e.name == "exception"]
    assert event.attributes["exception.type"] == "RuntimeError"


async def test_failed_attempt_is_retried_then_succeeds(store: agl.LightningStore, tracer: OtelTracer) -> None:
    @agl.rollout
    def agent(task: str, llm: agl.LLM, rollout: agl.AttemptedRollout) -> float:
        if rollout.attempt.sequence_id == 1:
            raise ValueError("flaky")
        return 1.0

    config = agl.RolloutConfig(max_attempts=2, retry_condition=["failed"])
    rollout, _ = await _run_one(store, tracer, agent, config=config)
    assert rollout.status == "succeeded"
    attempts = await store.query_attempts(rollout.rollout_id)
    assert [a.status for a in attempts] == ["failed", "succeeded"]
    latest = await store.query_spans(rollout.rollout_id, "latest")
    assert agl.find_final_reward(latest) == 1.0


async def test_timeout_ends_attempt_timeout_and_rollout_failed(store: agl.LightningStore, tracer: OtelTracer) -> None:
    @agl.rollout
    async def agent(task: str, llm: agl.LLM) -> float:
        await asyncio.sleep(30)
        return 1.0

    rollout, _ = await _run_one(store, tracer, agent, config=agl.RolloutConfig(timeout_seconds=0.2))
    assert rollout.status == "failed"
    (attempt,) = await store.query_attempts(rollout.rollout_id)
    assert attempt.status == "timeout"


async def test_sync_agent_runs_off_the_event_loop_thread(store: agl.LightningStore, tracer: OtelTracer) -> None:
    seen: dict[str, int] = {}

    @agl.rollout
    def agent(task: str, llm: agl.LLM) -> None:
        seen["agent"] = threading.get_ident()
        with user_tracer.start_as_current_span("in worker thread"):
            pass

    seen["loop"] = threading.get_ident()
    _, spans = await _run_one(store, tracer, agent)
    assert seen["agent"] != seen["loop"]
    assert "in worker thread" in {s.name for s in spans}  # the trace context followed the call into the thread


async def test_returned_spans_are_stored(store: agl.LightningStore, tracer: OtelTracer) -> None:
    @agl.rollout
    def agent(task: str, llm: agl.LLM) -> list[Any]:
        return [agl.SpanCoreFields(name="hand made", attributes={"k": "v"})]

    rollout, spans = await _run_one(store, tracer, agent)
    assert rollout.status == "succeeded"
    made = next(s for s in spans if s.name == "hand made")
    assert made.attributes["k"] == "v"


@pytest.mark.parametrize("bad", ["a string", {"reward": 1}, [object()]])
async def test_unusable_return_value_fails_the_attempt(store: agl.LightningStore, tracer: OtelTracer, bad: Any) -> None:
    @agl.rollout
    def agent(task: str, llm: agl.LLM) -> Any:
        return bad

    rollout, spans = await _run_one(store, tracer, agent)
    assert rollout.status == "failed"
    root = next(s for s in spans if s.name == "agentlightning.rollout")
    assert root.attributes["error.type"] == "TypeError"


async def test_empty_list_only_warns(
    store: agl.LightningStore, tracer: OtelTracer, caplog: pytest.LogCaptureFixture
) -> None:
    @agl.rollout
    def agent(task: str, llm: agl.LLM) -> list[Any]:
        return []

    rollout, _ = await _run_one(store, tracer, agent)
    assert rollout.status == "succeeded"
    assert "empty list of spans" in caplog.text


async def test_train_and_val_modes_route_to_their_methods(store: agl.LightningStore, tracer: OtelTracer) -> None:
    class Agent(agl.LitAgent[str]):
        def training_rollout(self, task: str, resources: Any, rollout: Any) -> float:
            return 1.0

        def validation_rollout(self, task: str, resources: Any, rollout: Any) -> float:
            return 0.0

    _, train_spans = await _run_one(store, tracer, Agent(), mode="train")
    _, val_spans = await _run_one(store, tracer, Agent(), mode="val")
    assert agl.find_final_reward(train_spans) == 1.0
    assert agl.find_final_reward(val_spans) == 0.0


async def test_hooks_are_called_in_order(store: agl.LightningStore, tracer: OtelTracer) -> None:
    calls: list[str] = []

    class Recorder(agl.Hook):
        async def on_trace_start(self, *, agent, runner, tracer, rollout):  # type: ignore[no-untyped-def]
            calls.append("trace_start")

        async def on_rollout_start(self, *, agent, runner, rollout):  # type: ignore[no-untyped-def]
            calls.append("rollout_start")

        async def on_rollout_end(self, *, agent, runner, rollout, spans):  # type: ignore[no-untyped-def]
            calls.append(f"rollout_end:{len(spans)}")

        async def on_trace_end(self, *, agent, runner, tracer, rollout):  # type: ignore[no-untyped-def]
            calls.append("trace_end")

    @agl.rollout
    def agent(task: str, llm: agl.LLM) -> float:
        return 1.0

    await store.add_resources({"main_llm": LLM})
    await store.enqueue_rollout(input="t")
    runner = LitAgentRunner(tracer)
    runner.init(agent, hooks=[Recorder()])
    runner.init_worker(0, store)
    await runner.iter()
    assert calls == ["trace_start", "rollout_start", "trace_end", "rollout_end:2"]


async def test_agents_own_timeout_error_is_a_failure_not_a_timeout(
    store: agl.LightningStore, tracer: OtelTracer
) -> None:
    @agl.rollout
    async def agent(task: str, llm: agl.LLM) -> float:
        raise TimeoutError("the model server did not answer")

    rollout, spans = await _run_one(store, tracer, agent, config=agl.RolloutConfig(timeout_seconds=30))
    (attempt,) = await store.query_attempts(rollout.rollout_id)
    assert attempt.status == "failed"
    root = next(s for s in spans if s.name == "agentlightning.rollout")
    assert root.attributes["error.type"] == "TimeoutError"
    assert any(e.name == "exception" for e in root.events)


async def test_spans_the_agent_returns_are_stored_once(store: agl.LightningStore, tracer: OtelTracer) -> None:
    @agl.rollout
    def agent(task: str, llm: agl.LLM) -> list[Any]:
        with user_tracer.start_as_current_span("tool call") as span:
            pass
        return [span, agl.emit_reward(1.0)]  # both were recorded already, inside the trace context

    _, spans = await _run_one(store, tracer, agent)
    assert sorted(s.name for s in spans) == ["agentlightning.annotation", "agentlightning.rollout", "tool call"]
    assert len(agl.find_reward_spans(spans)) == 1


async def test_returned_span_core_fields_keep_status_and_times(store: agl.LightningStore, tracer: OtelTracer) -> None:
    @agl.rollout
    def agent(task: str, llm: agl.LLM) -> list[Any]:
        return [
            agl.SpanCoreFields(
                name="judge", status={"status_code": "OK"}, attributes={"k": 1}, start_time=1000.0, end_time=1002.5
            ),
            agl.emit_exception(ValueError("handled"), propagate=False),
        ]

    _, spans = await _run_one(store, tracer, agent)
    judge = next(s for s in spans if s.name == "judge")
    assert (judge.status.status_code, judge.start_time, judge.end_time) == ("OK", 1000.0, 1002.5)
    exception = next(s for s in spans if s.name == "agentlightning.exception")
    assert exception.status.status_code == "ERROR" and exception.status.description == "handled"


async def test_sync_timeout_never_holds_up_the_next_rollout(store: agl.LightningStore, tracer: OtelTracer) -> None:
    release = threading.Event()
    ran: list[str] = []

    @agl.rollout
    def agent(task: str, llm: agl.LLM) -> float:
        ran.append(task)
        if task == "stuck":
            release.wait(30)  # far beyond the rollout's timeout
        return 1.0

    try:
        await store.add_resources({"main_llm": LLM})
        stuck = await store.enqueue_rollout(input="stuck", config=agl.RolloutConfig(timeout_seconds=0.3))
        # "fast" gets room to spare: on a loaded machine its round trips to the store alone can take 0.3 s
        fast = await store.enqueue_rollout(input="fast", config=agl.RolloutConfig(timeout_seconds=20))
        runner = LitAgentRunner(tracer)  # one runner: "fast" can only run after "stuck" is given up
        runner.init(agent)
        runner.init_worker(0, store)
        assert await runner.iter() == 2
        assert ran == ["stuck", "fast"]
        assert [a.status for a in await store.query_attempts(stuck.rollout_id)] == ["timeout"]
        assert [a.status for a in await store.query_attempts(fast.rollout_id)] == ["succeeded"]
    finally:
        release.set()
