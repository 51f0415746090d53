"""200 asyncio tasks and 16 threads at once, each in its own trace context and rollout: nothing lost, nothing mixed."""

from __future__ import annotations

import asyncio
import threading

from opentelemetry import trace as trace_api

import agentlightning as agl
from agentlightning.tracer.otel import OtelTracer

user_tracer = trace_api.get_tracer("user.code")
N_TASKS = 200
N_THREADS = 16
DEPTH = 3  # nested spans per context, plus one reward and the context's root span


def _nested(label: str, depth: int) -> None:
    if depth == 0:
        return
    with user_tracer.start_as_current_span(f"{label}/{depth}") as span:
        span.set_attribute("owner", label)
        _nested(label, depth - 1)


async def _task_body(tracer: OtelTracer, rid: str, aid: str, reward: float) -> None:
    async with tracer.trace_context(rid, rollout_id=rid, attempt_id=aid):
        await asyncio.sleep(0)  # interleave with the other tasks
        with user_tracer.start_as_current_span(f"{rid}/3") as span:
            span.set_attribute("owner", rid)
            await asyncio.sleep(0)
            _nested(rid, DEPTH - 1)
        agl.emit_reward(reward)


def _thread_body(tracer: OtelTracer, rid: str, aid: str, reward: float, barrier: threading.Barrier) -> None:
    barrier.wait()
    with tracer.trace_context(rid, rollout_id=rid, attempt_id=aid):
        _nested(rid, DEPTH)
        agl.emit_reward(reward)


async def test_concurrent_contexts_keep_their_spans_apart(store: agl.LightningStore, tracer: OtelTracer) -> None:
    rollouts = [await store.start_rollout(input=i) for i in range(N_TASKS + N_THREADS)]
    expected_reward = {r.rollout_id: float(i) for i, r in enumerate(rollouts)}
    barrier = threading.Barrier(N_THREADS)
    threads = [
        threading.Thread(
            target=_thread_body,
            args=(tracer, r.rollout_id, r.attempt.attempt_id, expected_reward[r.rollout_id], barrier),
        )
        for r in rollouts[N_TASKS:]
    ]
    for thread in threads:
        thread.start()
    await asyncio.gather(
        *(
            _task_body(tracer, r.rollout_id, r.attempt.attempt_id, expected_reward[r.rollout_id])
            for r in rollouts[:N_TASKS]
        )
    )
    for thread in threads:
        await asyncio.to_thread(thread.join)

    total = 0
    for r in rollouts:
        spans = await store.query_spans(r.rollout_id)
        total += len(spans)
        names = sorted(s.name for s in spans)
        expected = [f"{r.rollout_id}/{d}" for d in range(1, DEPTH + 1)]
        assert names == sorted([*expected, "agentlightning.annotation", "agentlightning.rollout"])
        assert all(s.attributes.get("owner", r.rollout_id) == r.rollout_id for s in spans)
        assert all(s.attempt_id == r.attempt.attempt_id for s in spans)
        assert agl.find_final_reward(spans) == expected_reward[r.rollout_id]
        seq = [s.sequence_id for s in spans]
        assert seq == sorted(set(seq))
        # one tree per rollout: the context's root span is the only one without a parent in the rollout
        ids = {s.span_id for s in spans}
        assert [s.name for s in spans if s.parent_id not in ids] == ["agentlightning.rollout"]
        assert len({s.trace_id for s in spans}) == 1
    assert total == (N_TASKS + N_THREADS) * (DEPTH + 2)
