"""Memory and time per span inside one long trace context with a SQLite store attached.

    uv run python bench/trace_memory.py [--spans 10000]

One trace context, ``--spans`` user spans (each with a 200-byte attribute) written by the tracer's background
writer to a ``SqliteLightningStore`` in a temporary directory. Prints the Python heap growth per span
(``tracemalloc``, after the writer flushed and a garbage collection), the peak, and the caller's cost per
span (wall time and this process's CPU time, all threads, so the writer counts). Benchmarks print numbers;
nothing here is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import tempfile
import time
import tracemalloc
from pathlib import Path

from opentelemetry import trace as trace_api

from agentlightning.store.sqlite import SqliteLightningStore
from agentlightning.tracer.otel import OtelTracer


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--spans", type=int, default=10000)
    n = parser.parse_args().spans
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteLightningStore(Path(tmp) / "store.db")
        tracer = OtelTracer()
        user = trace_api.get_tracer("bench")
        with tracer.lifespan(store):
            rollout = asyncio.run(store.start_rollout(input=1))
            with tracer.trace_context("bench", rollout_id=rollout.rollout_id, attempt_id=rollout.attempt.attempt_id):
                for _ in range(200):  # warm-up: the writer thread, the store's statements
                    with user.start_as_current_span("warm-up"):
                        pass
                tracer.flush()
                gc.collect()
                tracemalloc.start()
                base = tracemalloc.get_traced_memory()[0]
                wall, cpu = time.perf_counter(), time.process_time()
                for _ in range(n):
                    with user.start_as_current_span("step") as span:
                        span.set_attribute("payload", "x" * 200)
                tracer.flush()
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                gc.collect()
                current, peak = tracemalloc.get_traced_memory()
                tracemalloc.stop()
            stored = len(tracer.get_last_trace())
        store.close()
    print(f"{n} spans in one trace context, SQLite store; {stored} spans read back by get_last_trace()")
    print(f"heap growth per span   {(current - base) / n:8.1f} B   (peak {(peak - base) / 2**20:.1f} MiB)")
    print(f"time per span          {wall / n * 1e6:8.1f} µs wall, {cpu / n * 1e6:.1f} µs CPU (with tracemalloc on)")


if __name__ == "__main__":
    main()
