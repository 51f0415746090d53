"""A long trace context with a store attached does not hold its spans in memory (issue 7 item 4)."""

from __future__ import annotations

import gc
import tracemalloc
from pathlib import Path

from opentelemetry import trace as trace_api
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentlightning.store.sqlite import SqliteLightningStore
from agentlightning.tracer.otel import OtelTracer

user_tracer = trace_api.get_tracer("user.code")
N_SPANS = 3000


async def test_heap_does_not_grow_with_the_spans_of_one_context(
    tmp_path: Path, span_exporter: InMemorySpanExporter
) -> None:
    store = SqliteLightningStore(tmp_path / "store.db")  # on disk: the store itself keeps nothing in memory
    tracer = OtelTracer()
    try:
        with tracer.lifespan(store):
            rollout = await store.start_rollout(input=1)
            async with tracer.trace_context(
                "long", rollout_id=rollout.rollout_id, attempt_id=rollout.attempt.attempt_id
            ):
                for _ in range(100):  # warm-up: the writer thread, the store's statements
                    with user_tracer.start_as_current_span("warm-up"):
                        pass
                tracer.flush()
                span_exporter.clear()  # the test session's exporter keeps every span it sees: not ours to count
                gc.collect()
                tracemalloc.start()
                try:
                    base = tracemalloc.get_traced_memory()[0]
                    for _ in range(N_SPANS):
                        with user_tracer.start_as_current_span("step") as span:
                            span.set_attribute("payload", "x" * 200)
                    tracer.flush()
                    span_exporter.clear()
                    gc.collect()
                    grown = tracemalloc.get_traced_memory()[0] - base
                finally:
                    tracemalloc.stop()
            spans = tracer.get_last_trace()  # still works: read back from the store
    finally:
        store.close()
    # Holding each stored span cost ~4 KiB; what is left is an 8-byte id per span (and allocator noise).
    assert grown / N_SPANS < 256, f"{grown / N_SPANS:.0f} bytes per span"
    assert len(spans) == N_SPANS + 100 + 1  # and the context's root span
    assert [s.sequence_id for s in spans] == sorted(s.sequence_id for s in spans)
