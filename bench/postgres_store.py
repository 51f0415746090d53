"""PostgreSQL store throughput: spans/s next to SQLite, and claims/s and rollouts/s for 1, 4 and 8 processes.

Run from the repository root (needs the PostgreSQL server programs; a throw-away server is started)::

    uv run python bench/postgres_store.py
    uv run python bench/postgres_store.py --rollouts 4000 --spans 20000 --dsn postgresql://...

What is measured:

- ``spans/s``: ``add_otel_spans`` in batches (as the tracer's background writer calls it: conversion,
  sequence-id allocation, one transaction per batch), four rollouts interleaved, into PostgreSQL and into a
  fresh SQLite file, one process each.
- ``claims/s``: ``--rollouts`` rollouts are enqueued, then 1, 4 or 8 processes call ``dequeue_rollout``
  until the queue is empty; the clock runs from a common start signal to the last process's empty
  dequeue (each claim: a row taken with ``FOR UPDATE SKIP LOCKED``, attempt 1 created, one commit).
- ``rollouts/s``: the same with a trivial agent's store traffic per rollout: dequeue, two spans, attempt
  ``succeeded`` (no LLM, no tracer: the store's share of a worker's loop).

The server uses a Unix socket on this machine and ``fsync=off`` (see ``agentlightning.testing.postgres``);
numbers for a networked server are lower by the round trips. The machine's cores are shared by all
processes, the server's included: on 2 cores, 8 processes measure contention, not scaling.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider

from agentlightning.store import LightningStore, SqliteLightningStore
from agentlightning.store.postgres import PostgresLightningStore
from agentlightning.testing.postgres import TemporaryPostgres

_TRACER = TracerProvider(shutdown_on_exit=False).get_tracer("bench")


def _otel_spans(n: int) -> list[ReadableSpan]:
    spans = []
    for i in range(n):
        span = _TRACER.start_span(
            "chat gpt-4o-mini",
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": "gpt-4o-mini",
                "gen_ai.response.id": f"chatcmpl-{i:012d}",
                "gen_ai.usage.input_tokens": 100 + i % 50,
                "gen_ai.usage.output_tokens": 20 + i % 30,
            },
        )
        span.end()
        assert isinstance(span, ReadableSpan)
        spans.append(span)
    return spans


async def _ingest(store: LightningStore, n: int, batch: int) -> float:
    ids = []
    for _ in range(4):
        attempted = await store.start_rollout({"task": "bench"})
        ids.append((attempted.rollout_id, attempted.attempt.attempt_id))
    spans = _otel_spans(n)
    items = [(*ids[i % len(ids)], span) for i, span in enumerate(spans)]
    start = time.perf_counter()
    for offset in range(0, n, batch):
        await store.add_otel_spans(items[offset : offset + batch])
    return n / (time.perf_counter() - start)


def _worker(dsn: str, schema: str, full: bool, ready: Any, go: Any, done: Any) -> None:
    async def main() -> None:
        with PostgresLightningStore(dsn, schema=schema, max_connections=1) as store:
            ready.put(None)
            go.wait()
            spans = _otel_spans(2)
            count = 0
            while (attempted := await store.dequeue_rollout(worker_id="bench")) is not None:
                count += 1
                if full:
                    rid, aid = attempted.rollout_id, attempted.attempt.attempt_id
                    await store.add_otel_spans([(rid, aid, span) for span in spans])
                    await store.update_attempt(rid, aid, status="succeeded")
            done.put((time.perf_counter(), count))

    asyncio.run(main())


def _claims(dsn: str, processes: int, rollouts: int, full: bool) -> float:
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    with PostgresLightningStore(dsn, schema=schema) as store:

        async def fill() -> None:
            for i in range(rollouts):
                await store.enqueue_rollout({"task": i})

        asyncio.run(fill())
    ctx = mp.get_context("spawn")
    ready, go, done = ctx.Queue(), ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(dsn, schema, full, ready, go, done)) for _ in range(processes)]
    for proc in procs:
        proc.start()
    for _ in procs:  # every process has imported and connected before the clock starts
        ready.get(timeout=120)
    start = time.perf_counter()
    go.set()
    results = [done.get(timeout=600) for _ in procs]
    for proc in procs:
        proc.join()
    assert sum(count for _, count in results) == rollouts, results
    return rollouts / (max(end for end, _ in results) - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--dsn", help="an existing PostgreSQL database (default: start a throw-away server)")
    parser.add_argument("--rollouts", type=int, default=4000)
    parser.add_argument("--spans", type=int, default=20000)
    parser.add_argument("--batch", type=int, default=200)
    args = parser.parse_args()
    server = None if args.dsn else TemporaryPostgres().start()
    dsn = args.dsn or server.dsn()  # type: ignore[union-attr]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            sqlite = SqliteLightningStore(Path(tmp) / "store.db")
            postgres = PostgresLightningStore(dsn, schema=f"bench_{uuid.uuid4().hex[:12]}")
            try:
                for name, store in (("postgres", postgres), ("sqlite", sqlite)):
                    rate = asyncio.run(_ingest(store, args.spans, args.batch))
                    print(f"spans/s    {name:<9} {rate:>9,.0f}   ({args.spans} spans, batches of {args.batch})")
            finally:
                sqlite.close()
                postgres.close()
        for full, label in ((False, "claims/s  "), (True, "rollouts/s")):
            for processes in (1, 4, 8):
                rate = _claims(dsn, processes, args.rollouts, full)
                print(f"{label} {processes} process{'es' if processes > 1 else '  '} {rate:>9,.0f}   ({args.rollouts})")
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
