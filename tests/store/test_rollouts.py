"""Rollouts and the queue: enqueue, dequeue, start, query, update (every backend)."""

from __future__ import annotations

import re

import pytest

from agentlightning.store import LightningStore
from agentlightning.types import LLM, UNSET, AttemptedRollout, Rollout, RolloutConfig


async def test_enqueue_creates_a_queuing_rollout(store: LightningStore) -> None:
    rollout = await store.enqueue_rollout({"q": [1, 2, {"deep": None}]}, mode="train", metadata={"k": "v"})
    assert re.fullmatch(r"ro-[0-9a-f]{12}", rollout.rollout_id)
    assert rollout.status == "queuing"
    assert rollout.end_time is None
    assert rollout.mode == "train"
    stored = await store.get_rollout_by_id(rollout.rollout_id)
    assert stored == rollout
    assert stored is not None and stored.input == {"q": [1, 2, {"deep": None}]}
    assert await store.query_attempts(rollout.rollout_id) == []
    assert await store.get_latest_attempt(rollout.rollout_id) is None


async def test_dequeue_on_empty_queue_returns_none(store: LightningStore) -> None:
    assert await store.dequeue_rollout() is None
    await store.start_rollout("not queued")
    assert await store.dequeue_rollout() is None


async def test_dequeue_is_fifo_and_creates_first_attempt(store: LightningStore) -> None:
    ids = [(await store.enqueue_rollout(i)).rollout_id for i in range(3)]
    got = []
    for _ in ids:
        attempted = await store.dequeue_rollout(worker_id="w-1")
        assert isinstance(attempted, AttemptedRollout)
        assert attempted.status == "preparing"
        assert attempted.attempt.status == "preparing"
        assert attempted.attempt.sequence_id == 1
        assert attempted.attempt.worker_id == "w-1"
        assert attempted.attempt.rollout_id == attempted.rollout_id
        assert re.fullmatch(r"at-[0-9a-f]{8}", attempted.attempt.attempt_id)
        got.append(attempted.rollout_id)
    assert got == ids
    assert await store.dequeue_rollout() is None
    rollout = await store.get_rollout_by_id(ids[0])
    assert rollout is not None and rollout.status == "preparing"


async def test_start_rollout_creates_rollout_and_first_attempt_preparing(store: LightningStore) -> None:
    attempted = await store.start_rollout({"x": 1}, mode="val", config=RolloutConfig(max_attempts=3))
    assert attempted.status == "preparing"
    assert attempted.attempt.status == "preparing"
    assert attempted.attempt.sequence_id == 1
    assert attempted.config.max_attempts == 3
    [attempt] = await store.query_attempts(attempted.rollout_id)
    assert attempt == attempted.attempt
    assert await store.get_latest_attempt(attempted.rollout_id) == attempted.attempt


async def test_start_attempt_adds_attempt_n_plus_one(store: LightningStore) -> None:
    first = await store.start_rollout("t")
    await store.update_attempt(first.rollout_id, "latest", status="failed")
    second = await store.start_attempt(first.rollout_id)
    assert second.attempt.sequence_id == 2
    assert second.attempt.attempt_id != first.attempt.attempt_id
    assert second.status == "preparing"
    assert second.end_time is None
    assert [a.sequence_id for a in await store.query_attempts(first.rollout_id)] == [1, 2]
    latest = await store.get_latest_attempt(first.rollout_id)
    assert latest is not None and latest.attempt_id == second.attempt.attempt_id


async def test_start_attempt_on_a_queued_rollout_takes_it_off_the_queue(store: LightningStore) -> None:
    rollout = await store.enqueue_rollout("t")
    await store.start_attempt(rollout.rollout_id)
    assert await store.dequeue_rollout() is None


async def test_enqueue_defaults_to_the_latest_resources(store: LightningStore) -> None:
    assert (await store.enqueue_rollout("t")).resources_id is None
    update = await store.add_resources({"llm": LLM(endpoint="http://localhost/v1", model="m")})
    assert (await store.enqueue_rollout("t")).resources_id == update.resources_id
    assert (await store.start_rollout("t")).resources_id == update.resources_id
    assert (await store.enqueue_rollout("t", resources_id="rs-explicit")).resources_id == "rs-explicit"


async def test_get_rollout_by_id_unknown_returns_none(store: LightningStore) -> None:
    assert await store.get_rollout_by_id("ro-000000000000") is None


async def test_query_rollouts_filters_limit_offset(store: LightningStore) -> None:
    train = [(await store.enqueue_rollout(i, mode="train")).rollout_id for i in range(4)]
    val = (await store.enqueue_rollout("v", mode="val")).rollout_id
    started = (await store.start_rollout("s")).rollout_id
    everything = [*train, val, started]

    assert [r.rollout_id for r in await store.query_rollouts()] == everything  # creation order
    assert [r.rollout_id for r in await store.query_rollouts(status_in=["queuing"])] == [*train, val]
    assert [r.rollout_id for r in await store.query_rollouts(status_in=["preparing"])] == [started]
    assert [r.rollout_id for r in await store.query_rollouts(mode_in=["val"])] == [val]
    assert [r.rollout_id for r in await store.query_rollouts(rollout_id_in=[started, train[1]])] == [train[1], started]
    assert await store.query_rollouts(status_in=[]) == []
    assert await store.query_rollouts(rollout_id_in=["ro-unknown"]) == []
    combined = await store.query_rollouts(status_in=["queuing"], mode_in=["train"], rollout_id_in=[train[0], val])
    assert [r.rollout_id for r in combined] == [train[0]]
    assert [r.rollout_id for r in await store.query_rollouts(limit=2)] == train[:2]
    assert [r.rollout_id for r in await store.query_rollouts(limit=2, offset=3)] == [train[3], val]
    assert [r.rollout_id for r in await store.query_rollouts(offset=5)] == [started]
    assert [r.rollout_id for r in await store.query_rollouts(mode_in=["train"], limit=-1, offset=1)] == train[1:]
    assert await store.query_rollouts(limit=0) == []


async def test_update_rollout_unset_leaves_fields_and_none_clears_them(store: LightningStore) -> None:
    rollout = await store.enqueue_rollout("t", mode="train", resources_id="rs-1", metadata={"a": 1})
    updated = await store.update_rollout(rollout.rollout_id, metadata={"b": 2})
    assert (updated.mode, updated.resources_id, updated.status) == ("train", "rs-1", "queuing")
    assert updated.metadata == {"b": 2}
    updated = await store.update_rollout(rollout.rollout_id, mode=None, resources_id=UNSET)
    assert (updated.mode, updated.resources_id) == (None, "rs-1")
    updated = await store.update_rollout(rollout.rollout_id, resources_id=None, input={"new": True})
    assert (updated.resources_id, updated.input) == (None, {"new": True})
    assert await store.get_rollout_by_id(rollout.rollout_id) == updated
    assert await store.update_rollout(rollout.rollout_id) == updated  # nothing given: nothing changes


async def test_update_rollout_config_and_validation(store: LightningStore) -> None:
    rollout = await store.enqueue_rollout("t")
    config = RolloutConfig(timeout_seconds=30, max_attempts=2, retry_condition=["timeout"])
    assert (await store.update_rollout(rollout.rollout_id, config=config)).config == config
    with pytest.raises(ValueError):
        await store.update_rollout(rollout.rollout_id, status="bogus")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        await store.update_rollout(rollout.rollout_id, mode="production")  # type: ignore[arg-type]
    stored = await store.get_rollout_by_id(rollout.rollout_id)
    assert stored is not None and stored.status == "queuing" and stored.mode is None


async def test_update_rollout_cancelled_is_terminal_and_leaves_the_queue(store: LightningStore) -> None:
    first = await store.enqueue_rollout("first")
    second = await store.enqueue_rollout("second")
    cancelled = await store.update_rollout(first.rollout_id, status="cancelled")
    assert cancelled.status == "cancelled"
    assert cancelled.end_time is not None and cancelled.end_time >= cancelled.start_time
    attempted = await store.dequeue_rollout()
    assert attempted is not None and attempted.rollout_id == second.rollout_id
    assert await store.dequeue_rollout() is None


async def test_update_rollout_back_to_queuing_requeues_at_the_back(store: LightningStore) -> None:
    first = await store.start_rollout("started")
    waiting = await store.enqueue_rollout("waiting")
    back = await store.update_rollout(first.rollout_id, status="queuing")
    assert back.status == "queuing" and back.end_time is None
    order = [(await store.dequeue_rollout()), (await store.dequeue_rollout())]
    assert [a.rollout_id for a in order if a is not None] == [waiting.rollout_id, first.rollout_id]
    assert order[1] is not None and order[1].attempt.sequence_id == 2


async def test_returned_objects_are_copies(store: LightningStore) -> None:
    rollout = await store.enqueue_rollout("t", metadata={"k": 1})
    rollout.metadata["k"] = 2
    rollout.status = "succeeded"
    stored = await store.get_rollout_by_id(rollout.rollout_id)
    assert stored is not None and stored.metadata == {"k": 1} and stored.status == "queuing"


async def test_unknown_rollout_ids_raise_value_error_naming_the_id(store: LightningStore) -> None:
    missing = "ro-doesnotexist"
    with pytest.raises(ValueError, match=missing):
        await store.update_rollout(missing, status="cancelled")
    with pytest.raises(ValueError, match=missing):
        await store.start_attempt(missing)
    with pytest.raises(ValueError, match=missing):
        await store.update_attempt(missing, "latest", status="failed")
    with pytest.raises(ValueError, match=missing):
        await store.get_next_span_sequence_id(missing, "at-00000000")
    assert await store.query_attempts(missing) == []
    assert await store.get_latest_attempt(missing) is None
    assert await store.query_spans(missing) == []


async def test_rollout_models_round_trip(store: LightningStore) -> None:
    config = RolloutConfig(timeout_seconds=1.5, unresponsive_seconds=None, max_attempts=4, retry_condition=["failed"])
    rollout = await store.enqueue_rollout([1, "two", 3.0, True], mode="test", config=config, metadata={"n": [1]})
    stored = await store.get_rollout_by_id(rollout.rollout_id)
    assert isinstance(stored, Rollout)
    assert stored.model_dump() == rollout.model_dump()


async def test_close_is_idempotent(store: LightningStore) -> None:
    await store.enqueue_rollout("t")
    store.close()
    store.close()  # and the fixture closes it once more
