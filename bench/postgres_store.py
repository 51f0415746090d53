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

Each claims/rollouts line also prints the CPU time per rollout of the client processes (their own clock
over the run) and of the server's backends (from ``/proc``, throw-away server only). On a machine with
few cores the wall rate is capped by them (clients and server share the cores); the CPU columns show
whether the work per claim grows with the number of processes (it would with lock waits, notification
storms or dead queue rows scanned), which is what decides scaling on a bigger machine.

The server settings are printed first: the throw-away server uses a Unix socket on this machine,
``fsync=off`` and ``full_page_writes=off`` (see ``agentlightning.testing.postgres``; ``synchronous_commit``
is left on). Numbers for a durable, networked server are lower by the fsyncs and round trips. For the
rate of real ``agentlightning worker`` processes, see ``bench/worker_throughput.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
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


def _worker(dsn: str, schema: str, full: bool, ready: Any, go: Any, done: Any, leave: Any) -> None:
    async def main() -> None:
        with PostgresLightningStore(dsn, schema=schema, max_connections=1) as store:
            spans = _otel_spans(2)
            ready.put(None)
            go.wait()
            cpu = time.process_time()
            count = 0
            while (attempted := await store.dequeue_rollout(worker_id="bench")) is not None:
                count += 1
                if full:
                    rid, aid = attempted.rollout_id, attempted.attempt.attempt_id
                    await store.add_otel_spans([(rid, aid, span) for span in spans])
                    await store.update_attempt(rid, aid, status="succeeded")
            done.put((time.perf_counter(), count, time.process_time() - cpu))
            leave.wait()  # the server's CPU is read while every backend is still there

    asyncio.run(main())


def _claims(dsn: str, processes: int, rollouts: int, full: bool, postmaster: int | None) -> tuple[float, float, float]:
    """Rate, and CPU seconds per claim of the client processes and of the server's backends."""
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    with PostgresLightningStore(dsn, schema=schema) as store:

        async def fill() -> None:
            for i in range(rollouts):
                await store.enqueue_rollout({"task": i})

        asyncio.run(fill())
    ctx = mp.get_context("spawn")
    ready, go, done, leave = ctx.Queue(), ctx.Event(), ctx.Queue(), ctx.Event()
    procs = [ctx.Process(target=_worker, args=(dsn, schema, full, ready, go, done, leave)) for _ in range(processes)]
    for proc in procs:
        proc.start()
    for _ in procs:  # every process has imported and connected before the clock starts
        ready.get(timeout=120)
    server_cpu = _server_cpu(postmaster)
    start = time.perf_counter()
    go.set()
    results = [done.get(timeout=600) for _ in procs]
    server_cpu = _server_cpu(postmaster) - server_cpu
    leave.set()
    for proc in procs:
        proc.join()
    assert sum(count for _, count, _ in results) == rollouts, results
    client_cpu = sum(cpu for _, _, cpu in results)
    return rollouts / (max(end for end, _, _ in results) - start), client_cpu / rollouts, server_cpu / rollouts


def _server_cpu(postmaster: int | None) -> float:
    """CPU seconds used so far by the live backends of the server (``nan`` for a server not started here)."""
    if postmaster is None:
        return float("nan")
    try:
        children = Path(f"/proc/{postmaster}/task/{postmaster}/children").read_text().split()
    except OSError:
        return float("nan")
    total = 0
    for pid in children:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def _server_settings(dsn: str) -> str:
    names = ["server_version", "fsync", "synchronous_commit", "full_page_writes", "shared_buffers"]
    with psycopg.connect(dsn) as conn:
        values = [conn.execute(f"SHOW {name}").fetchone()[0] for name in names]  # type: ignore[index]
    return ", ".join(f"{n}={v}" for n, v in zip(names, values, strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--dsn", help="an existing PostgreSQL database (default: start a throw-away server)")
    parser.add_argument("--rollouts", type=int, default=4000)
    parser.add_argument("--spans", type=int, default=20000)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--processes", default="1,4,8", type=lambda text: [int(n) for n in text.split(",")])
    parser.add_argument("--only", choices=["spans", "claims"], help="run one part only")
    args = parser.parse_args()
    server = None if args.dsn else TemporaryPostgres().start()
    dsn = args.dsn or server.dsn()  # type: ignore[union-attr]
    postmaster = None if server is None else int((server.data_dir / "postmaster.pid").read_text().split()[0])
    try:
        print(f"cores {os.cpu_count()}, load average {os.getloadavg()[0]:.1f} at start")
        print(f"PostgreSQL: {_server_settings(dsn)}" + (", Unix socket" if server is not None else ""))
        with tempfile.TemporaryDirectory() as tmp:
            sqlite = SqliteLightningStore(Path(tmp) / "store.db")
            postgres = PostgresLightningStore(dsn, schema=f"bench_{uuid.uuid4().hex[:12]}")
            try:
                for name, store in (("postgres", postgres), ("sqlite", sqlite)) if args.only != "claims" else ():
                    rate = asyncio.run(_ingest(store, args.spans, args.batch))
                    print(f"spans/s    {name:<9} {rate:>9,.0f}   ({args.spans} spans, batches of {args.batch})")
            finally:
                sqlite.close()
                postgres.close()
        for full, label in ((False, "claims/s  "), (True, "rollouts/s")) if args.only != "spans" else ():
            for processes in args.processes:
                rate, client, server_ms = _claims(dsn, processes, args.rollouts, full, postmaster)
                print(
                    f"{label} {processes} process{'es' if processes > 1 else '  '} {rate:>9,.0f}   "
                    f"CPU ms per rollout: clients {client * 1e3:.3f}, server {server_ms * 1e3:.3f}   ({args.rollouts})"
                )
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
