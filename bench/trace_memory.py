"""Memory and time per span with a SQLite store attached: one long trace context, then RSS over many calls.

    uv run python bench/trace_memory.py [--spans 10000] [--calls 100000]

Part 2 (``--calls``, 0 to skip): the process's resident set size (RSS, from ``/proc/self/statm``) while it
makes ``--calls`` traced calls (an ``@agl.operation`` function, i.e. one span with its arguments and result,
plus an ``emit_reward`` every 100 calls) in 100-call rollouts, each a trace context of its own, all into one
``SqliteLightningStore``. RSS is sampled every 10% after a 5,000-call warm-up; the figure that matters is the
growth from the first sample to the last (the SQLite page cache is capped by SQLite itself).

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
import os
import tempfile
import time
import tracemalloc
from pathlib import Path

from opentelemetry import trace as trace_api

import agentlightning as agl
from agentlightning.store.sqlite import SqliteLightningStore
from agentlightning.tracer.otel import OtelTracer


def _rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


@agl.operation
def _traced_call(i: int) -> int:
    return i * 2


def rss_over_calls(calls: int) -> None:
    per_rollout = 100
    warmup = 5000
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteLightningStore(Path(tmp) / "store.db")
        tracer = OtelTracer()
        samples: list[tuple[int, float]] = []
        done = 0
        wall = time.perf_counter()
        with tracer.lifespan(store):
            while done < warmup + calls:
                rollout = asyncio.run(store.start_rollout(input=done))
                with tracer.trace_context(rollout_id=rollout.rollout_id, attempt_id=rollout.attempt.attempt_id):
                    for _ in range(per_rollout):
                        _traced_call(done)
                        done += 1
                    agl.emit_reward(1.0)
                measured = done - warmup
                if measured >= 0 and measured % max(1, calls // 10) == 0:
                    gc.collect()
                    samples.append((measured, _rss_mib()))
        wall = time.perf_counter() - wall
        count = asyncio.run(store.query_rollouts())
        last_spans = asyncio.run(store.query_spans(count[-1].rollout_id))
        store.close()
    print(f"\n{calls} traced calls after {warmup} warm-up, {per_rollout} per rollout, SQLite store")
    for measured, rss in samples:
        print(f"  after {measured:>7} calls   RSS {rss:7.1f} MiB")
    first, last = samples[0][1], samples[-1][1]
    print(f"RSS growth over the {calls} calls: {last - first:+.1f} MiB ({wall:.1f} s wall; {len(count)} rollouts,")
    print(f"  the last one with {len(last_spans)} spans: {per_rollout} calls, a reward, the root)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--spans", type=int, default=10000)
    parser.add_argument("--calls", type=int, default=100_000)
    args = parser.parse_args()
    n = args.spans
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
    if args.calls:
        rss_over_calls(args.calls)


if __name__ == "__main__":
    main()
