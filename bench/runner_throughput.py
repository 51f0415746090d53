"""Runner throughput: rollouts per second of a trivial agent, 4 runners, SQLite store, end to end.

    uv run --all-packages python bench/runner_throughput.py [N]

Each rollout is enqueued, dequeued by one of 4 runners, run inside its trace context (one user span and
a reward span, plus the runner's root span), its spans written to SQLite, its attempt closed; ``dev``
returns when all are done.

Printed per store and agent kind: rollouts/s (wall clock: noisy on a shared machine), CPU ms per rollout
(``time.process_time``: every thread of the process, so the span writer and sync agents' threads count
too; steadier than the wall clock), and for SQLite the SQL statements per rollout (every statement the
store's connection runs, ``BEGIN``/``COMMIT`` and each row of an ``executemany`` included), counted in a
second run of the same size through ``sqlite3.Connection.set_trace_callback`` so that the counting costs
nothing in the timed run.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

from opentelemetry import trace

import agentlightning as agl

tracer = trace.get_tracer("bench")
LLM = agl.LLM(endpoint="http://127.0.0.1:1/v1", model="m")


@agl.rollout
def sync_agent(task: int, llm: agl.LLM) -> float:
    with tracer.start_as_current_span("work"):
        pass
    return float(task % 2)


@agl.rollout
async def async_agent(task: int, llm: agl.LLM) -> float:
    with tracer.start_as_current_span("work"):
        pass
    return float(task % 2)


def run(agent: agl.LitAgent, n: int, store_kind: str, count_sql: bool = False) -> tuple[float, float, int]:  # type: ignore[type-arg]
    """``(rollouts/s, CPU seconds, SQL statements)`` of one ``dev`` run over ``n`` tasks."""
    with tempfile.TemporaryDirectory() as tmp:
        store: agl.LightningStore
        statements: list[str] = []
        if store_kind == "sqlite":
            store = agl.SqliteLightningStore(os.path.join(tmp, "store.db"))
            if count_sql:
                store._conn.set_trace_callback(statements.append)
        else:
            store = agl.InMemoryLightningStore()
        trainer = agl.Trainer(n_runners=4, store=store, initial_resources={"llm": LLM}, progress=False)
        start, cpu = time.perf_counter(), time.process_time()
        rollouts = trainer.dev(agent, list(range(n)))
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
        assert len(rollouts) == n and all(r.status == "succeeded" for r in rollouts)
        store.close()
        return n / elapsed, cpu, len(statements)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    print(f"{n} rollouts, 4 runners, trivial agent (1 span + reward)")
    for store_kind in ("sqlite", "memory"):
        for label, agent in (("sync agent", sync_agent), ("async agent", async_agent)):
            rate, cpu, _ = run(agent, n, store_kind)
            line = f"  {store_kind:6s} {label:12s} {rate:8.0f} rollouts/s {cpu / n * 1000:7.2f} CPU ms/rollout"
            if store_kind == "sqlite":
                line += f" {run(agent, n, store_kind, count_sql=True)[2] / n:6.1f} SQL statements/rollout"
            print(line, flush=True)


if __name__ == "__main__":
    main()
