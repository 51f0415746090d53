"""Runner throughput: rollouts per second of a trivial agent, 4 runners, SQLite store, end to end.

    uv run python bench/runner_throughput.py [N]

Each rollout is enqueued, dequeued by one of 4 runners, run inside its trace context (one user span and
a reward span, plus the runner's root span), its spans written to SQLite, its attempt closed; ``dev``
returns when all are done.
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


def run(agent: agl.LitAgent, n: int, store_kind: str) -> float:  # type: ignore[type-arg]
    with tempfile.TemporaryDirectory() as tmp:
        store: agl.LightningStore
        if store_kind == "sqlite":
            store = agl.SqliteLightningStore(os.path.join(tmp, "store.db"))
        else:
            store = agl.InMemoryLightningStore()
        trainer = agl.Trainer(n_runners=4, store=store, initial_resources={"llm": LLM}, progress=False)
        start = time.perf_counter()
        rollouts = trainer.dev(agent, list(range(n)))
        elapsed = time.perf_counter() - start
        assert len(rollouts) == n and all(r.status == "succeeded" for r in rollouts)
        store.close()
        return n / elapsed


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    print(f"{n} rollouts, 4 runners, trivial agent (1 span + reward)")
    for store_kind in ("sqlite", "memory"):
        for label, agent in (("sync agent", sync_agent), ("async agent", async_agent)):
            print(f"  {store_kind:6s} {label:12s} {run(agent, n, store_kind):8.0f} rollouts/s")


if __name__ == "__main__":
    main()
