"""Spans made inside a trace context land in that context's rollout, whoever makes them and wherever they end."""

from __future__ import annotations

import asyncio
import threading

import pytest
from opentelemetry import trace as trace_api

import agentlightning as agl
from agentlightning.tracer.otel import OtelTracer

user_tracer = trace_api.get_tracer("user.code")


async def _rollout(store: agl.LightningStore) -> tuple[str, str]:
    attempted = await store.start_rollout(input={"q": 1})
    return attempted.rollout_id, attempted.attempt.attempt_id


async def test_sync_context_stores_nested_spans_and_reward(store: agl.LightningStore, tracer: OtelTracer) -> None:
    rid, aid = await _rollout(store)
    with tracer.trace_context("t", rollout_id=rid, attempt_id=aid):
        with user_tracer.start_as_current_span("outer") as outer, user_tracer.start_as_current_span("inner"):
            agl.emit_reward(0.5)
    spans = await store.query_spans(rid)
    by_name = {s.name: s for s in spans}
    assert set(by_name) == {"agentlightning.rollout", "outer", "inner", "agentlightning.annotation"}
    root = by_name["agentlightning.rollout"]
    assert root.parent_id is None  # one tree per rollout attempt, under the context's root span
    assert root.attributes["agentlightning.rollout_id"] == rid and root.attributes["agentlightning.attempt_id"] == aid
    assert root.attributes["agentlightning.trace.name"] == "t"
    assert by_name["outer"].parent_id == root.span_id
    assert {s.trace_id for s in spans} == {root.trace_id}
    assert by_name["inner"].parent_id == format(outer.get_span_context().span_id, "016x")
    assert by_name["agentlightning.annotation"].parent_id == by_name["inner"].span_id
    assert agl.find_final_reward(spans) == 0.5
    assert [s.sequence_id for s in spans] == sorted({s.sequence_id for s in spans})
    assert all(s.attempt_id == aid for s in spans)
    assert (await store.get_rollout_by_id(rid)).status == "running"  # type: ignore[union-attr]


async def test_async_context_and_get_last_trace(store: agl.LightningStore, tracer: OtelTracer) -> None:
    rid, aid = await _rollout(store)
    async with tracer.trace_context("t", rollout_id=rid, attempt_id=aid):
        with user_tracer.start_as_current_span("step"):
            await asyncio.sleep(0)
        agl.emit_message("hello")
    last = tracer.get_last_trace()
    assert [s.name for s in last] == ["step", "agentlightning.message", "agentlightning.rollout"]  # in end order
    assert [s.sequence_id for s in last] == [s.sequence_id for s in await store.query_spans(rid)]


def test_context_without_store_keeps_spans_for_get_last_trace(tracer: OtelTracer) -> None:
    with tracer.trace_context("local"):
        with user_tracer.start_as_current_span("a"):
            pass
        agl.emit_reward(1)
    spans = tracer.get_last_trace()
    assert [s.name for s in spans] == ["agentlightning.rollout", "a", "agentlightning.annotation"]  # start order
    assert [s.sequence_id for s in spans] == [1, 2, 3]
    assert spans[1].parent_id == spans[2].parent_id == spans[0].span_id
    assert spans[0].rollout_id.startswith("ro-") and spans[0].attempt_id.startswith("at-")


def test_spans_outside_any_context_are_not_recorded(store: agl.LightningStore, tracer: OtelTracer) -> None:
    with user_tracer.start_as_current_span("stray"):
        pass
    with tracer.trace_context("x"):
        pass
    assert [s.name for s in tracer.get_last_trace()] == ["agentlightning.rollout"]  # the context's root only


async def test_span_ending_in_another_thread_lands_where_it_started(
    store: agl.LightningStore, tracer: OtelTracer
) -> None:
    rid_a, aid_a = await _rollout(store)
    rid_b, aid_b = await _rollout(store)
    async with tracer.trace_context("a", rollout_id=rid_a, attempt_id=aid_a):
        started_in_a = user_tracer.start_span("started-in-a")

    def end_in_b() -> None:
        with tracer.trace_context("b", rollout_id=rid_b, attempt_id=aid_b):
            with user_tracer.start_as_current_span("made-in-b"):
                pass
            started_in_a.end()

    thread = threading.Thread(target=end_in_b)
    thread.start()
    thread.join()
    tracer.flush()
    assert {s.name for s in await store.query_spans(rid_a)} == {"agentlightning.rollout", "started-in-a"}
    assert {s.name for s in await store.query_spans(rid_b)} == {"agentlightning.rollout", "made-in-b"}


async def test_child_span_in_plain_thread_inherits_parent_rollout(
    store: agl.LightningStore, tracer: OtelTracer
) -> None:
    """A thread that gets the OpenTelemetry parent explicitly, but not our ContextVar, still attributes right."""
    rid, aid = await _rollout(store)
    with tracer.trace_context("t", rollout_id=rid, attempt_id=aid):
        with user_tracer.start_as_current_span("parent") as parent:
            ctx = trace_api.set_span_in_context(parent)

            def work() -> None:
                with user_tracer.start_as_current_span("child", context=ctx):
                    pass

            thread = threading.Thread(target=work)  # threading.Thread does not copy contextvars
            thread.start()
            thread.join()
    assert {s.name for s in await store.query_spans(rid)} == {"agentlightning.rollout", "parent", "child"}


async def test_rollout_id_without_attempt_id_is_rejected(tracer: OtelTracer) -> None:
    with pytest.raises(ValueError, match="rollout_id and attempt_id together"):
        tracer.trace_context(rollout_id="ro-000000000000")
    with pytest.raises(ValueError, match="rollout_id and attempt_id together"):
        tracer.trace_context(attempt_id="at-00000000")


async def test_unknown_rollout_or_attempt_is_rejected_on_entry(store: agl.LightningStore, tracer: OtelTracer) -> None:
    with pytest.raises(ValueError, match="ro-doesnotexist"):
        async with tracer.trace_context(rollout_id="ro-doesnotexist", attempt_id="at-00000000"):
            pass
    rid, _ = await _rollout(store)
    with pytest.raises(ValueError, match="at-nothere"):
        with tracer.trace_context(rollout_id=rid, attempt_id="at-nothere"):
            pass


async def test_full_queue_with_max_wait_none_applies_back_pressure_and_loses_nothing(
    store: agl.LightningStore,
) -> None:
    class SlowStore(type(store)):  # type: ignore[misc]
        async def add_otel_spans(self, items):  # type: ignore[no-untyped-def]
            await asyncio.sleep(0.01)
            return await super().add_otel_spans(items)

    slow = SlowStore.__new__(SlowStore)
    slow.__dict__ = store.__dict__  # same state, slower writes
    tracer = OtelTracer(max_queue=8, max_batch=4, max_wait=None)  # wait for room as long as it takes
    tracer.init()
    rid, aid = await _rollout(store)
    with tracer.trace_context(store=slow, rollout_id=rid, attempt_id=aid):
        for i in range(100):
            with user_tracer.start_as_current_span(f"s{i}"):
                pass
    tracer.teardown()
    spans = await store.query_spans(rid)
    assert sorted(s.name for s in spans) == sorted([f"s{i}" for i in range(100)] + ["agentlightning.rollout"])
    assert tracer.dropped_spans == 0
