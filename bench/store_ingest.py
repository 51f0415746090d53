"""Store ingest throughput: spans per second into each store backend.

Run from the repository root::

    uv run python bench/store_ingest.py                 # 100k spans, batches of 1000
    uv run python bench/store_ingest.py --spans 20000 --batch 200

Two paths are measured for every backend:

- ``add_many_spans``: pre-built :class:`~agentlightning.types.Span` models (ids already assigned), the
  store's raw ingest cost;
- ``add_otel_spans``: finished OpenTelemetry SDK spans, as the tracer's background writer hands them over
  (conversion to ``Span`` and sequence-id allocation included);
- ``tracer``: end to end. Spans are made with the plain OpenTelemetry API inside ``OtelTracer.trace_context``
  (one context per rollout, in turn), ended, handed to the background writer, converted, batched and
  stored; the clock stops when the last context has exited, i.e. when every span is in the store.
  The caller's own cost (making and ending the spans, without waiting for the store) is printed too.

For every path the CPU time of the whole process (all threads: the writer's included) is printed next to
the wall time, as spans per CPU-second: on a busy machine (2 shared cores) wall time mostly measures the
neighbours. ``sdk only`` is the reference for the tracer rows: the same spans made and ended through a
bare SDK ``TracerProvider`` with no processor at all, the ceiling of any path that starts from SDK spans;
``added by us`` is the tracer's CPU per span minus that. The tracer rows use ``max_wait=None`` (the caller
waits for room in the writer's queue instead of dropping spans), so every span is stored and counted.

Spans carry realistic attributes (about ten, a few strings: a GenAI chat call) and are spread over four
rollouts interleaved within each batch, like the writer sees with concurrent runners. The SQLite store
writes to a fresh file in a temporary directory (WAL, ``synchronous=NORMAL``), so the numbers include
the commit of every batch. Building the input is not timed.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider

from agentlightning.store import InMemoryLightningStore, LightningStore, SqliteLightningStore
from agentlightning.types import Span

ROLLOUTS = 4


def _attributes(i: int) -> dict[str, str | int | float | list[str]]:
    return {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.request.temperature": 0.7,
        "gen_ai.request.max_tokens": 512,
        "gen_ai.response.id": f"chatcmpl-{i:012d}",
        "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
        "gen_ai.response.finish_reasons": ["stop"],
        "gen_ai.usage.input_tokens": 100 + i % 50,
        "gen_ai.usage.output_tokens": 20 + i % 30,
    }


def _models(ids: list[tuple[str, str]], n: int) -> list[Span]:
    spans = []
    for i in range(n):
        rid, aid = ids[i % len(ids)]
        now = 1_700_000_000.0 + i * 1e-3
        spans.append(
            Span(
                rollout_id=rid,
                attempt_id=aid,
                sequence_id=i // len(ids) + 1,
                trace_id=format(i + 1, "032x"),
                span_id=format(i + 1, "016x"),
                parent_id=format(i, "016x") if i else None,
                name="chat gpt-4o-mini",
                attributes=_attributes(i),
                start_time=now,
                end_time=now + 0.5,
            )
        )
    return spans


_TRACER = TracerProvider(shutdown_on_exit=False).get_tracer("bench")


def _otel(ids: list[tuple[str, str]], first: int, n: int) -> list[tuple[str, str, ReadableSpan]]:
    items = []
    for i in range(first, first + n):
        span = _TRACER.start_span("chat gpt-4o-mini", attributes=_attributes(i))
        span.end()
        assert isinstance(span, ReadableSpan)
        rid, aid = ids[i % len(ids)]
        items.append((rid, aid, span))
    return items


async def _rollouts(store: LightningStore) -> list[tuple[str, str]]:
    started = [await store.start_rollout({"task": n}) for n in range(ROLLOUTS)]
    return [(a.rollout_id, a.attempt.attempt_id) for a in started]


async def _run(store: LightningStore, path: str, n: int, batch: int) -> tuple[float, float]:
    """(wall seconds, CPU seconds) to ingest ``n`` spans through ``path`` in batches of ``batch``."""
    ids = await _rollouts(store)
    if path == "add_many_spans":
        models = _models(ids, n)
        chunks = [models[i : i + batch] for i in range(0, n, batch)]
        started, cpu = time.perf_counter(), time.process_time()
        for chunk in chunks:
            await store.add_many_spans(chunk)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    elif path == "tracer":
        return await _through_tracer(store, ids, n)
    else:  # OpenTelemetry spans are made batch by batch (untimed), as a live tracer would hand them over
        elapsed = cpu = 0.0
        for first in range(0, n, batch):
            items = _otel(ids, first, min(batch, n - first))
            started, cpu0 = time.perf_counter(), time.process_time()
            await store.add_otel_spans(items)
            elapsed += time.perf_counter() - started
            cpu += time.process_time() - cpu0
    stored = sum([len(await store.query_spans(rid)) for rid, _ in ids])
    assert stored == n, f"stored {stored} spans, expected {n}"
    return elapsed, cpu


def _sdk_only(n: int) -> tuple[float, float]:
    """The same spans through a bare SDK provider without any processor: the reference for the tracer rows."""
    attributes = [_attributes(i) for i in range(n)]
    started, cpu = time.perf_counter(), time.process_time()
    for attrs in attributes:
        span = _TRACER.start_span("chat gpt-4o-mini", attributes=attrs)
        span.end()
    return time.perf_counter() - started, time.process_time() - cpu


CALLER_SECONDS: dict[str, float] = {}


async def _through_tracer(store: LightningStore, ids: list[tuple[str, str]], n: int) -> tuple[float, float]:
    from opentelemetry import trace

    from agentlightning.tracer.otel import OtelTracer

    # a tight loop outruns any store: measure with nothing dropped (older versions had no max_wait: they waited)
    lossless = {"max_wait": None} if "max_wait" in inspect.signature(OtelTracer).parameters else {}
    tracer = OtelTracer(**lossless)
    tracer.init()
    tracer.init_worker(0, store)
    user = trace.get_tracer("bench.user")
    per_context = n // len(ids)
    attributes = [_attributes(i) for i in range(per_context * len(ids))]
    caller = 0.0
    started, cpu = time.perf_counter(), time.process_time()
    for i, (rid, aid) in enumerate(ids):
        async with tracer.trace_context(rollout_id=rid, attempt_id=aid):
            t0 = time.perf_counter()
            for j in range(per_context):
                span = user.start_span("chat gpt-4o-mini", attributes=attributes[i * per_context + j])
                span.end()
            caller += time.perf_counter() - t0
    elapsed = time.perf_counter() - started  # every context exited: its spans are in the store
    cpu = time.process_time() - cpu
    tracer.teardown()
    CALLER_SECONDS[type(store).__name__] = caller
    stored = sum([len(await store.query_spans(rid)) for rid, _ in ids])
    expected = (per_context + 1) * len(ids)  # each context also stores its root span, agentlightning.rollout
    assert stored == expected, f"stored {stored} spans, expected {expected}"
    assert getattr(tracer, "dropped_spans", 0) == 0, f"{tracer.dropped_spans} spans dropped: the queue was full"
    return elapsed, cpu


async def main(n: int, batch: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        backends: dict[str, Callable[[str], LightningStore]] = {
            "memory": lambda tag: InMemoryLightningStore(),
            "sqlite": lambda tag: SqliteLightningStore(Path(tmp) / f"{tag}.db"),
        }
        print(f"{n} spans, batches of {batch}, {ROLLOUTS} rollouts interleaved\n")
        print(
            f"{'store':<8} {'path':<16} {'seconds':>8} {'spans/s':>10} {'CPU s':>8} {'spans/CPU-s':>12} {'us/span':>8}"
        )
        print(f"{'-' * 8} {'-' * 16} {'-' * 8} {'-' * 10} {'-' * 8} {'-' * 12} {'-' * 8}")

        def row(name: str, path: str, elapsed: float, cpu: float) -> None:
            print(
                f"{name:<8} {path:<16} {elapsed:>8.3f} {n / elapsed:>10,.0f} {cpu:>8.3f} {n / cpu:>12,.0f} "
                f"{cpu / n * 1e6:>8.2f}"
            )

        sdk_wall, sdk_cpu = _sdk_only(n)
        row("-", "sdk only", sdk_wall, sdk_cpu)
        for name, factory in backends.items():
            for path in ("add_many_spans", "add_otel_spans", "tracer"):
                store = factory(path)
                try:
                    elapsed, cpu = await _run(store, path, n, batch)
                finally:
                    store.close()
                row(name, path, elapsed, cpu)
                if path == "tracer":
                    caller = CALLER_SECONDS[type(store).__name__]
                    print(f"{name:<8} {'  (caller side)':<16} {caller:>8.3f} {n / caller:>10,.0f}")
                    added = max(cpu - sdk_cpu, 1e-9)
                    print(
                        f"{name:<8} {'  (added by us)':<16} {'':>8} {'':>10} {added:>8.3f} {n / added:>12,.0f} "
                        f"{added / n * 1e6:>8.2f}"
                    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=100_000, help="spans per measurement (default 100000)")
    parser.add_argument("--batch", type=int, default=1000, help="spans per call (default 1000)")
    args = parser.parse_args()
    asyncio.run(main(args.spans, args.batch))
