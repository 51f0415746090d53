"""Attempts and the state machine, time-outs and unresponsiveness included (every backend)."""

from __future__ import annotations

import asyncio
import time

import pytest

from agentlightning.store import LightningStore
from agentlightning.types import RolloutConfig

from ._helpers import make_span, running_rollout


async def _status(store: LightningStore, rollout_id: str) -> tuple[str, list[str]]:
    rollout = await store.get_rollout_by_id(rollout_id)
    assert rollout is not None
    return rollout.status, [a.status for a in await store.query_attempts(rollout_id)]


async def test_first_span_moves_attempt_and_rollout_to_running(store: LightningStore) -> None:
    rid, aid = await running_rollout(store)
    assert await _status(store, rid) == ("preparing", ["preparing"])
    await store.add_span(make_span(rid, aid, 1))
    assert await _status(store, rid) == ("running", ["running"])
    attempt = await store.get_latest_attempt(rid)
    assert attempt is not None and attempt.last_heartbeat_time is not None
    assert attempt.last_heartbeat_time >= attempt.start_time


async def test_succeeded_attempt_finishes_the_rollout(store: LightningStore) -> None:
    rid, aid = await running_rollout(store)
    attempt = await store.update_attempt(rid, aid, status="succeeded")
    assert attempt.status == "succeeded" and attempt.end_time is not None
    rollout = await store.get_rollout_by_id(rid)
    assert rollout is not None and rollout.status == "succeeded" and rollout.end_time is not None


async def test_failed_attempt_without_retry_fails_the_rollout(store: LightningStore) -> None:
    await store.enqueue_rollout("t")
    attempted = await store.dequeue_rollout()
    assert attempted is not None
    await store.update_attempt(attempted.rollout_id, "latest", status="failed")
    assert await _status(store, attempted.rollout_id) == ("failed", ["failed"])
    assert await store.dequeue_rollout() is None


async def test_retry_requeues_then_second_attempt_succeeds(store: LightningStore) -> None:
    config = RolloutConfig(max_attempts=2, retry_condition=["failed"])
    rollout = await store.enqueue_rollout("t", config=config)
    first = await store.dequeue_rollout()
    assert first is not None and first.attempt.sequence_id == 1
    await store.update_attempt(rollout.rollout_id, first.attempt.attempt_id, status="failed")
    requeued = await store.get_rollout_by_id(rollout.rollout_id)
    assert requeued is not None and requeued.status == "requeuing" and requeued.end_time is None

    second = await store.dequeue_rollout(worker_id="w-2")
    assert second is not None and second.rollout_id == rollout.rollout_id
    assert second.attempt.sequence_id == 2 and second.status == "preparing"
    await store.update_attempt(rollout.rollout_id, "latest", status="succeeded")
    assert await _status(store, rollout.rollout_id) == ("succeeded", ["failed", "succeeded"])


async def test_retries_run_out_after_max_attempts(store: LightningStore) -> None:
    rollout = await store.enqueue_rollout("t", config=RolloutConfig(max_attempts=2, retry_condition=["failed"]))
    for _ in range(2):
        attempted = await store.dequeue_rollout()
        assert attempted is not None
        await store.update_attempt(rollout.rollout_id, "latest", status="failed")
    assert await _status(store, rollout.rollout_id) == ("failed", ["failed", "failed"])
    assert await store.dequeue_rollout() is None


async def test_status_not_in_retry_condition_fails(store: LightningStore) -> None:
    rollout = await store.enqueue_rollout("t", config=RolloutConfig(max_attempts=3, retry_condition=["timeout"]))
    await store.dequeue_rollout()
    await store.update_attempt(rollout.rollout_id, "latest", status="failed")
    assert (await _status(store, rollout.rollout_id))[0] == "failed"


async def test_non_terminal_attempt_status_propagates_to_the_rollout(store: LightningStore) -> None:
    rid, aid = await running_rollout(store)
    await store.update_attempt(rid, aid, status="running")
    assert await _status(store, rid) == ("running", ["running"])


async def test_only_the_latest_attempt_moves_the_rollout(store: LightningStore) -> None:
    rid, old = await running_rollout(store)
    await store.start_attempt(rid)
    await store.update_attempt(rid, old, status="succeeded")
    assert await _status(store, rid) == ("preparing", ["succeeded", "preparing"])


async def test_cancelled_rollout_stays_cancelled(store: LightningStore) -> None:
    rid, aid = await running_rollout(store)
    await store.update_rollout(rid, status="cancelled")
    await store.update_attempt(rid, aid, status="succeeded")
    assert await _status(store, rid) == ("cancelled", ["succeeded"])


async def test_update_attempt_fields_unset_and_none(store: LightningStore) -> None:
    await store.enqueue_rollout("t")
    attempted = await store.dequeue_rollout(worker_id="w-1")
    assert attempted is not None
    rid = attempted.rollout_id
    updated = await store.update_attempt(rid, "latest", metadata={"m": 1}, last_heartbeat_time=123.0)
    assert (updated.worker_id, updated.metadata, updated.last_heartbeat_time) == ("w-1", {"m": 1}, 123.0)
    updated = await store.update_attempt(rid, attempted.attempt.attempt_id, worker_id=None)
    assert (updated.worker_id, updated.metadata, updated.status) == (None, {"m": 1}, "preparing")
    assert await store.get_latest_attempt(rid) == updated
    with pytest.raises(ValueError):
        await store.update_attempt(rid, "latest", status="done")  # type: ignore[arg-type]


async def test_update_attempt_unknown_ids_raise_value_error(store: LightningStore) -> None:
    rid, _ = await running_rollout(store)
    with pytest.raises(ValueError, match="at-missing0"):
        await store.update_attempt(rid, "at-missing0", status="failed")
    queued = await store.enqueue_rollout("no attempt yet")
    with pytest.raises(ValueError, match=queued.rollout_id):
        await store.update_attempt(queued.rollout_id, "latest", status="failed")


async def test_timeout_is_detected_and_fails_the_rollout(store: LightningStore) -> None:
    rid, aid = await running_rollout(store, config=RolloutConfig(timeout_seconds=0.1))
    await store.add_span(make_span(rid, aid, 1))
    await asyncio.sleep(0.25)
    rollout = await store.get_rollout_by_id(rid)
    assert rollout is not None and rollout.status == "failed" and rollout.end_time is not None
    attempt = await store.get_latest_attempt(rid)
    assert attempt is not None and attempt.status == "timeout" and attempt.end_time is not None


async def test_timeout_with_retry_is_requeued_and_dequeued_again(store: LightningStore) -> None:
    config = RolloutConfig(timeout_seconds=0.1, max_attempts=2, retry_condition=["timeout"])
    rollout = await store.enqueue_rollout("t", config=config)
    assert await store.dequeue_rollout() is not None
    await asyncio.sleep(0.25)
    [listed] = await store.query_rollouts(rollout_id_in=[rollout.rollout_id])
    assert listed.status == "requeuing"
    again = await store.dequeue_rollout()
    assert again is not None and again.rollout_id == rollout.rollout_id and again.attempt.sequence_id == 2
    assert await _status(store, rollout.rollout_id) == ("preparing", ["timeout", "preparing"])


async def test_dequeue_itself_detects_timeouts(store: LightningStore) -> None:
    config = RolloutConfig(timeout_seconds=0.1, max_attempts=2, retry_condition=["timeout"])
    rollout = await store.enqueue_rollout("t", config=config)
    await store.dequeue_rollout()
    await asyncio.sleep(0.25)
    again = await store.dequeue_rollout()  # no read in between: dequeue checks time limits first
    assert again is not None and again.rollout_id == rollout.rollout_id


async def test_unresponsive_without_any_heartbeat(store: LightningStore) -> None:
    rid, _ = await running_rollout(store, config=RolloutConfig(unresponsive_seconds=0.1))
    await asyncio.sleep(0.25)
    assert await _status(store, rid) == ("failed", ["unresponsive"])


async def test_heartbeats_keep_an_attempt_responsive(store: LightningStore) -> None:
    config = RolloutConfig(unresponsive_seconds=0.5, max_attempts=2, retry_condition=["unresponsive"])
    rid, aid = await running_rollout(store, config=config)
    await asyncio.sleep(0.3)
    await store.add_span(make_span(rid, aid, 1))
    await asyncio.sleep(0.3)  # 0.6 s since start, 0.3 s since the span
    assert await _status(store, rid) == ("running", ["running"])
    await asyncio.sleep(0.6)
    assert await _status(store, rid) == ("requeuing", ["unresponsive"])


async def test_explicit_heartbeat_counts(store: LightningStore) -> None:
    rid, aid = await running_rollout(store, config=RolloutConfig(unresponsive_seconds=0.4))
    await asyncio.sleep(0.25)
    await store.update_attempt(rid, aid, last_heartbeat_time=time.time())
    await asyncio.sleep(0.25)  # 0.5 s since start, 0.25 s since the heartbeat
    assert (await _status(store, rid))[1] == ["preparing"]


async def test_a_span_revives_an_unresponsive_attempt(store: LightningStore) -> None:
    config = RolloutConfig(unresponsive_seconds=0.2, max_attempts=2, retry_condition=["unresponsive"])
    rid, aid = await running_rollout(store, config=config)
    await asyncio.sleep(0.35)
    assert await _status(store, rid) == ("requeuing", ["unresponsive"])
    await store.add_span(make_span(rid, aid, 1))  # the worker was slow, not dead
    rollout = await store.get_rollout_by_id(rid)
    attempt = await store.get_latest_attempt(rid)
    assert rollout is not None and attempt is not None
    assert (rollout.status, attempt.status, attempt.end_time) == ("running", "running", None)
    assert await store.dequeue_rollout() is None  # no longer waiting for a retry


@pytest.mark.parametrize("ending", ["timeout", "failed"])
async def test_a_late_span_of_an_ended_attempt_does_not_steal_the_retry(store: LightningStore, ending: str) -> None:
    # The tracer of a timed-out (or failed) worker flushes its last span after the store requeued the rollout.
    timeout = 0.1 if ending == "timeout" else None
    config = RolloutConfig(timeout_seconds=timeout, max_attempts=2, retry_condition=[ending])  # type: ignore[list-item]
    rollout = await store.enqueue_rollout("t", config=config)
    first = await store.dequeue_rollout(worker_id="w-1")
    assert first is not None
    if ending == "timeout":
        await asyncio.sleep(0.25)
    else:
        await store.update_attempt(rollout.rollout_id, first.attempt.attempt_id, status="failed")
    assert await _status(store, rollout.rollout_id) == ("requeuing", [ending])

    await store.add_span(make_span(rollout.rollout_id, first.attempt.attempt_id, 1, "late"))
    assert [span.name for span in await store.query_spans(rollout.rollout_id)] == ["late"]  # kept
    assert await _status(store, rollout.rollout_id) == ("requeuing", [ending])  # and nothing else

    second = await store.dequeue_rollout(worker_id="w-2")
    assert second is not None and second.rollout_id == rollout.rollout_id and second.attempt.sequence_id == 2
    await store.update_attempt(rollout.rollout_id, "latest", status="succeeded")
    [done] = await store.wait_for_rollouts([rollout.rollout_id], timeout=10)
    assert done.status == "succeeded"


async def test_a_late_span_of_a_superseded_unresponsive_attempt_changes_nothing(store: LightningStore) -> None:
    config = RolloutConfig(max_attempts=2, retry_condition=["unresponsive"])
    rollout = await store.enqueue_rollout("t", config=config)
    first = await store.dequeue_rollout()
    assert first is not None
    await store.update_attempt(rollout.rollout_id, "latest", status="unresponsive")
    second = await store.dequeue_rollout()
    assert second is not None and second.attempt.sequence_id == 2
    await store.add_span(make_span(rollout.rollout_id, first.attempt.attempt_id, 1))  # the old worker speaks
    assert await _status(store, rollout.rollout_id) == ("preparing", ["unresponsive", "preparing"])


async def test_a_span_does_not_revive_an_unresponsive_attempt_of_a_failed_rollout(store: LightningStore) -> None:
    rid, aid = await running_rollout(store)
    await store.update_attempt(rid, aid, status="unresponsive")  # no retry: the rollout fails
    assert await _status(store, rid) == ("failed", ["unresponsive"])
    await store.add_span(make_span(rid, aid, 1))
    assert await _status(store, rid) == ("failed", ["unresponsive"])
    assert len(await store.query_spans(rid)) == 1


# The store skips its time-limit scan while no watched attempt can be due: whatever brings a deadline closer
# must still be noticed by the next read.


async def test_a_short_time_limit_started_after_long_ones_is_still_applied(store: LightningStore) -> None:
    long_rid, _ = await running_rollout(store, config=RolloutConfig(unresponsive_seconds=300))
    assert await _status(store, long_rid) == ("preparing", ["preparing"])  # a read: nothing due for 5 min
    short_rid, _ = await running_rollout(store, config=RolloutConfig(timeout_seconds=0.1))
    await asyncio.sleep(0.25)
    assert await _status(store, short_rid) == ("failed", ["timeout"])
    assert await _status(store, long_rid) == ("preparing", ["preparing"])


async def test_a_time_limit_shortened_by_update_rollout_is_applied(store: LightningStore) -> None:
    rid, _ = await running_rollout(store, config=RolloutConfig(unresponsive_seconds=300))
    assert await _status(store, rid) == ("preparing", ["preparing"])
    await store.update_rollout(rid, config=RolloutConfig(timeout_seconds=0.1))
    await asyncio.sleep(0.25)
    assert await _status(store, rid) == ("failed", ["timeout"])


async def test_a_heartbeat_time_set_in_the_past_makes_the_attempt_unresponsive(store: LightningStore) -> None:
    rid, aid = await running_rollout(store, config=RolloutConfig(unresponsive_seconds=300))
    assert await _status(store, rid) == ("preparing", ["preparing"])
    await store.update_attempt(rid, aid, last_heartbeat_time=time.time() - 301)
    assert await _status(store, rid) == ("failed", ["unresponsive"])


async def test_a_revived_attempt_past_its_timeout_times_out(store: LightningStore) -> None:
    rid, aid = await running_rollout(store, config=RolloutConfig(timeout_seconds=1.0, unresponsive_seconds=0.1))
    await asyncio.sleep(0.3)
    assert await _status(store, rid) == ("failed", ["unresponsive"])
    await asyncio.sleep(0.8)  # past the time-out, counted from the attempt's start
    await store.update_rollout(rid, status="running")  # the rollout is open again...
    await store.add_span(make_span(rid, aid, 1))  # ...so the attempt that speaks again is revived
    assert await _status(store, rid) == ("failed", ["timeout"])


async def test_waiting_for_many_rollouts_sees_each_finish(store: LightningStore) -> None:
    ids = [(await store.enqueue_rollout(i)).rollout_id for i in range(20)]

    async def work() -> None:
        while (attempted := await store.dequeue_rollout()) is not None:
            status = "succeeded" if int(attempted.input) % 2 else "failed"
            await store.update_attempt(attempted.rollout_id, attempted.attempt.attempt_id, status=status)
            await asyncio.sleep(0)

    task = asyncio.create_task(work())
    done = await store.wait_for_rollouts(ids, timeout=30)
    await task
    assert [r.rollout_id for r in done] == ids
    assert [r.status for r in done] == ["failed", "succeeded"] * 10
    again = await store.update_rollout(ids[0], status="queuing")  # back on the queue: waited for again
    assert again.status == "queuing"
    assert await store.wait_for_rollouts(ids[:2], timeout=0.1) == [done[1]]
