"""The writer process of test_crash_kill9.py, in a module of its own that imports only the store (no pytest), so
the forkserver preloads it and each writer it forks starts writing at once."""

from __future__ import annotations

import asyncio
import random
from multiprocessing.connection import Connection

from agentlightning.store import SqliteLightningStore
from agentlightning.types import Span


def _writer(db: str, tag: str, seed: int, acks: Connection) -> None:
    """A child process: rollouts and spans, forever; each acknowledgement is sent after the store call returned."""
    rng = random.Random(seed)
    store = SqliteLightningStore(db)

    def span(rid: str, aid: str, seq: int, name: str) -> Span:
        return Span(
            rollout_id=rid,
            attempt_id=aid,
            sequence_id=seq,
            trace_id=format(seq, "032x"),
            span_id=format(rng.getrandbits(63) | 1, "016x"),
            name=name,
            attributes={"n": name},
        )

    async def main() -> None:
        n = 0
        while True:
            attempted = await store.start_rollout({"tag": tag})
            rid, aid = attempted.rollout_id, attempted.attempt.attempt_id
            acks.send(("R", rid, []))
            for _ in range(rng.randint(1, 6)):
                count = 1 if rng.random() < 0.5 else rng.randint(2, 40)
                names = [f"{tag}-{n + i}" for i in range(count)]
                n += count
                spans = [span(rid, aid, await store.get_next_span_sequence_id(rid, aid), name) for name in names]
                if count == 1:
                    await store.add_span(spans[0])
                else:
                    await store.add_many_spans(spans)
                acks.send(("S", rid, names))
            await store.update_attempt(rid, aid, status="succeeded")
            acks.send(("D", rid, []))

    asyncio.run(main())
