"""10,000 rollouts written at once from 16 threads, each running asyncio tasks, into one SQLite store (issue 15).

Every span names the rollout and attempt it was written for in its attributes; afterwards each rollout holds
exactly its own spans: none misattributed, lost or duplicated, and sequence ids unique per rollout.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from agentlightning.store import SqliteLightningStore
from agentlightning.types import Span

ROLLOUTS = 10_000
THREADS = 16
TASKS_PER_THREAD = 8
SPANS_PER_ROLLOUT = 3


def _span(rid: str, aid: str, seq: int, index: int) -> Span:
    return Span(
        rollout_id=rid,
        attempt_id=aid,
        sequence_id=seq,
        trace_id=format(abs(hash(rid)) % (1 << 64) + 1, "032x"),
        span_id=format(seq, "016x"),
        name=f"step-{index}",
        attributes={"for_rollout": rid, "for_attempt": aid, "index": index},
    )


@pytest.mark.slow
async def test_ten_thousand_rollouts_over_threads_and_tasks_keep_their_spans(tmp_path: Path) -> None:
    store = SqliteLightningStore(tmp_path / "store.db")
    written: dict[str, str] = {}  # rollout -> attempt
    lock = threading.Lock()
    errors: list[BaseException] = []

    async def one(n: int) -> None:
        attempted = await store.start_rollout({"n": n})
        rid, aid = attempted.rollout_id, attempted.attempt.attempt_id
        with lock:
            written[rid] = aid
        if n % 2:  # half one span at a time, half as one batch
            for index in range(SPANS_PER_ROLLOUT):
                await store.add_span(_span(rid, aid, await store.get_next_span_sequence_id(rid, aid), index))
                await asyncio.sleep(0)  # let this thread's other rollouts interleave
        else:
            seqs = [await store.get_next_span_sequence_id(rid, aid) for _ in range(SPANS_PER_ROLLOUT)]
            await store.add_many_spans([_span(rid, aid, seq, index) for index, seq in enumerate(seqs)])
        await store.update_attempt(rid, aid, status="succeeded")

    def thread_main(number: int) -> None:
        mine = list(range(number, ROLLOUTS, THREADS))

        async def main() -> None:
            queue: asyncio.Queue[int] = asyncio.Queue()
            for n in mine:
                queue.put_nowait(n)

            async def worker() -> None:
                while not queue.empty():
                    await one(queue.get_nowait())

            await asyncio.gather(*(worker() for _ in range(TASKS_PER_THREAD)))

        try:
            asyncio.run(main())
        except BaseException as exc:
            errors.append(exc)

    try:
        threads = [threading.Thread(target=thread_main, args=(i,)) for i in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors, errors[:3]
        assert len(written) == ROLLOUTS

        total = 0
        for rid, aid in written.items():
            spans = await store.query_spans(rid)
            total += len(spans)
            assert sorted(s.attributes["index"] for s in spans) == list(range(SPANS_PER_ROLLOUT)), rid
            assert {(s.attributes["for_rollout"], s.attributes["for_attempt"]) for s in spans} == {(rid, aid)}
            assert {(s.rollout_id, s.attempt_id) for s in spans} == {(rid, aid)}
            assert len({s.sequence_id for s in spans}) == SPANS_PER_ROLLOUT
        assert total == ROLLOUTS * SPANS_PER_ROLLOUT
    finally:
        store.close()
