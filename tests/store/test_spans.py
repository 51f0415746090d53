"""Spans: sequence ids, OpenTelemetry conversion, queries, batches, concurrency (every backend)."""

from __future__ import annotations

import asyncio
import threading

import pytest
from opentelemetry.sdk.trace import Tracer

from agentlightning.store import LightningStore
from agentlightning.types import Span

from ._helpers import finished_span, make_span, running_rollout


async def test_sequence_ids_strictly_increase_and_skip_past_explicit_ones(store: LightningStore) -> None:
    rid, aid = await running_rollout(store)
    assert await store.get_next_span_sequence_id(rid, aid) == 1
    assert await store.get_next_span_sequence_id(rid, aid) == 2
    await store.add_span(make_span(rid, aid, 10))
    assert await store.get_next_span_sequence_id(rid, aid) == 11
    await store.add_span(make_span(rid, aid, 5))  # an explicit lower id never moves the counter back
    assert await store.get_next_span_sequence_id(rid, aid) == 12


async def test_sequence_ids_are_per_rollout(store: LightningStore) -> None:
    rid_a, aid_a = await running_rollout(store)
    rid_b, aid_b = await running_rollout(store)
    assert await store.get_next_span_sequence_id(rid_a, aid_a) == 1
    assert await store.get_next_span_sequence_id(rid_a, aid_a) == 2
    assert await store.get_next_span_sequence_id(rid_b, aid_b) == 1


async def test_add_otel_span_converts_and_numbers(store: LightningStore, otel_tracer: Tracer) -> None:
    rid, aid = await running_rollout(store)
    readable = finished_span(otel_tracer, "chat gpt-4o-mini", **{"gen_ai.usage.input_tokens": 7, "tags": ("a", "b")})
    span = await store.add_otel_span(rid, aid, readable)
    assert (span.rollout_id, span.attempt_id, span.sequence_id, span.name) == (rid, aid, 1, "chat gpt-4o-mini")
    explicit = await store.add_otel_span(rid, aid, finished_span(otel_tracer, "second"), sequence_id=7)
    assert explicit.sequence_id == 7
    third = await store.add_otel_span(rid, aid, finished_span(otel_tracer, "third"))
    assert third.sequence_id == 8

    [stored, *_] = await store.query_spans(rid)
    assert stored.attributes == {"gen_ai.usage.input_tokens": 7, "tags": ["a", "b"]}
    assert stored.trace_id == format(readable.context.trace_id, "032x")
    assert stored.span_id == format(readable.context.span_id, "016x")
    assert stored.start_time == pytest.approx(readable.start_time / 1e9)
    assert await store.get_next_span_sequence_id(rid, aid) == 9


async def test_add_otel_spans_batch_numbers_each_rollout_in_order(store: LightningStore, otel_tracer: Tracer) -> None:
    rid_a, aid_a = await running_rollout(store)
    rid_b, aid_b = await running_rollout(store)
    await store.add_span(make_span(rid_b, aid_b, 3))
    items = [
        (rid_a, aid_a, finished_span(otel_tracer, "a0")),
        (rid_b, aid_b, finished_span(otel_tracer, "b0")),
        (rid_a, aid_a, finished_span(otel_tracer, "a1")),
        (rid_b, aid_b, finished_span(otel_tracer, "b1")),
        (rid_a, aid_a, finished_span(otel_tracer, "a2")),
    ]
    stored = await store.add_otel_spans(items)
    assert [(s.name, s.sequence_id) for s in stored] == [("a0", 1), ("b0", 4), ("a1", 2), ("b1", 5), ("a2", 3)]
    assert [s.name for s in await store.query_spans(rid_a)] == ["a0", "a1", "a2"]
    assert [s.sequence_id for s in await store.query_spans(rid_b)] == [3, 4, 5]
    for rid in (rid_a, rid_b):
        rollout = await store.get_rollout_by_id(rid)
        assert rollout is not None and rollout.status == "running"
    assert await store.add_otel_spans([]) == []


async def test_query_spans_by_attempt_and_latest(store: LightningStore) -> None:
    rid, first = await running_rollout(store)
    await store.add_many_spans([make_span(rid, first, 1, "one"), make_span(rid, first, 2, "two")])
    assert [s.name for s in await store.query_spans(rid, "latest")] == ["one", "two"]
    second = (await store.start_attempt(rid)).attempt.attempt_id
    seq = await store.get_next_span_sequence_id(rid, second)
    await store.add_span(make_span(rid, second, seq, "three"))

    assert [s.name for s in await store.query_spans(rid)] == ["one", "two", "three"]
    assert [s.name for s in await store.query_spans(rid, None)] == ["one", "two", "three"]
    assert [s.name for s in await store.query_spans(rid, first)] == ["one", "two"]
    assert [s.name for s in await store.query_spans(rid, second)] == ["three"]
    assert [s.name for s in await store.query_spans(rid, "latest")] == ["three"]
    assert await store.query_spans(rid, "at-unknown0") == []
    queued = await store.enqueue_rollout("no attempts")
    assert await store.query_spans(queued.rollout_id, "latest") == []


async def test_query_spans_is_ordered_by_sequence_id(store: LightningStore) -> None:
    rid, aid = await running_rollout(store)
    await store.add_many_spans([make_span(rid, aid, seq, f"s{seq}") for seq in (5, 1, 4)])
    await store.add_span(make_span(rid, aid, 2, "s2"))
    await store.add_span(make_span(rid, aid, 3, "s3"))
    spans = await store.query_spans(rid)
    assert [s.sequence_id for s in spans] == [1, 2, 3, 4, 5]
    assert [s.name for s in spans] == ["s1", "s2", "s3", "s4", "s5"]


async def test_spans_round_trip_unchanged(store: LightningStore, otel_tracer: Tracer) -> None:
    rid, aid = await running_rollout(store)
    with otel_tracer.start_as_current_span("parent") as parent:
        parent.add_event("evt", {"k": "v"})
        child = otel_tracer.start_span("child", attributes={"n": 1.5, "flag": True, "none": "x"})
        child.end()
    [child_span, parent_span] = await store.add_otel_spans([(rid, aid, child), (rid, aid, parent)])  # type: ignore[list-item]
    stored = {s.name: s for s in await store.query_spans(rid)}
    assert stored["child"].model_dump() == child_span.model_dump()
    assert stored["parent"].model_dump() == parent_span.model_dump()
    assert stored["child"].parent_id == stored["parent"].span_id
    assert stored["parent"].events[0].name == "evt"
    assert isinstance(stored["child"], Span)


async def test_unknown_ids_in_spans_raise_and_store_nothing(store: LightningStore, otel_tracer: Tracer) -> None:
    rid, aid = await running_rollout(store)
    with pytest.raises(ValueError, match="ro-unknown"):
        await store.add_span(make_span("ro-unknown", aid, 1))
    with pytest.raises(ValueError, match="at-unknown"):
        await store.add_many_spans([make_span(rid, aid, 1), make_span(rid, "at-unknown", 2)])
    with pytest.raises(ValueError, match="at-unknown"):
        good, bad = finished_span(otel_tracer, "ok"), finished_span(otel_tracer, "x")
        await store.add_otel_spans([(rid, aid, good), (rid, "at-unknown", bad)])
    with pytest.raises(ValueError, match="at-unknown"):
        await store.get_next_span_sequence_id(rid, "at-unknown")
    assert await store.query_spans(rid) == []
    assert await store.get_next_span_sequence_id(rid, aid) == 1
    attempt = await store.get_latest_attempt(rid)
    assert attempt is not None and attempt.status == "preparing"  # the rejected batch beat no heart


async def test_span_of_an_attempt_of_another_rollout_is_rejected(store: LightningStore) -> None:
    rid_a, _ = await running_rollout(store)
    _, aid_b = await running_rollout(store)
    with pytest.raises(ValueError, match=aid_b):
        await store.add_span(make_span(rid_a, aid_b, 1))


async def test_concurrent_writers_in_threads_and_loops(store: LightningStore, otel_tracer: Tracer) -> None:
    rid, aid = await running_rollout(store)
    per_thread, batches = 50, 8
    errors: list[BaseException] = []

    def writer(tag: int) -> None:
        async def run() -> None:
            for b in range(batches):
                spans = [finished_span(otel_tracer, f"{tag}-{b}-{i}") for i in range(per_thread)]
                await store.add_otel_spans([(rid, aid, s) for s in spans])

        try:
            asyncio.run(run())  # its own event loop, like the tracer's background writer
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(tag,)) for tag in range(3)]
    for thread in threads:
        thread.start()
    for _ in range(batches):  # and this loop writes at the same time
        await store.add_many_spans([make_span(rid, aid, await store.get_next_span_sequence_id(rid, aid), "main")])
        await asyncio.sleep(0)
    for thread in threads:
        thread.join()
    assert not errors
    spans = await store.query_spans(rid)
    seqs = [s.sequence_id for s in spans]
    assert len(spans) == 3 * per_thread * batches + batches
    assert len(set(seqs)) == len(seqs) and seqs == sorted(seqs)
    for tag in range(3):  # each writer's spans kept the order it wrote them in
        mine = [s.name for s in spans if s.name.startswith(f"{tag}-")]
        assert mine == [f"{tag}-{b}-{i}" for b in range(batches) for i in range(per_thread)]
