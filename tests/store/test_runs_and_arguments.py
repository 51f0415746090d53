"""Run isolation (``run_id``), list arguments, dict configs and cancelling a rollout (every backend)."""

from __future__ import annotations

import pytest

from agentlightning.store import LightningStore
from agentlightning.types import RolloutConfig


async def test_dequeue_with_run_id_takes_only_that_runs_rollouts(store: LightningStore) -> None:
    a1 = await store.enqueue_rollout("a1", run_id="run-a")
    b1 = await store.enqueue_rollout("b1", run_id="run-b")
    a2 = await store.enqueue_rollout("a2", run_id="run-a")
    untagged = await store.enqueue_rollout("none")
    assert a1.run_id == "run-a" and untagged.run_id is None

    taken = await store.dequeue_rollout(worker_id="w", run_id="run-b")
    assert taken is not None and taken.rollout_id == b1.rollout_id and taken.run_id == "run-b"
    assert await store.dequeue_rollout(run_id="run-b") is None  # run-a's rollouts stay queued for run-a
    got = [await store.dequeue_rollout(run_id="run-a") for _ in range(2)]
    assert [r.rollout_id for r in got if r is not None] == [a1.rollout_id, a2.rollout_id]
    assert await store.dequeue_rollout(run_id="run-a") is None
    left = await store.dequeue_rollout()  # no run id: anything still queued
    assert left is not None and left.rollout_id == untagged.rollout_id


async def test_start_rollout_carries_run_id_and_query_filters_by_it(store: LightningStore) -> None:
    started = await store.start_rollout("s", run_id="run-a")
    assert started.run_id == "run-a"
    await store.enqueue_rollout("b", run_id="run-b")
    queued_a = await store.enqueue_rollout("a", run_id="run-a")
    assert [r.rollout_id for r in await store.query_rollouts(run_id="run-a")] == [
        started.rollout_id,
        queued_a.rollout_id,
    ]
    assert [r.input for r in await store.query_rollouts(run_id="run-b", status_in=["queuing"])] == ["b"]
    assert len(await store.query_rollouts()) == 3
    stored = await store.get_rollout_by_id(queued_a.rollout_id)
    assert stored is not None and stored.run_id == "run-a"


async def test_a_requeued_rollout_goes_back_to_its_own_run(store: LightningStore) -> None:
    config = RolloutConfig(max_attempts=2, retry_condition=["failed"])
    rollout = await store.enqueue_rollout("a", run_id="run-a", config=config)
    first = await store.dequeue_rollout(run_id="run-a")
    assert first is not None
    await store.update_attempt(rollout.rollout_id, first.attempt.attempt_id, status="failed")
    assert await store.dequeue_rollout(run_id="run-b") is None
    second = await store.dequeue_rollout(run_id="run-a")
    assert second is not None and second.attempt.sequence_id == 2


@pytest.mark.parametrize("name", ["status_in", "rollout_id_in", "mode_in"])
async def test_query_rollouts_rejects_a_string_for_a_list(store: LightningStore, name: str) -> None:
    rollout = await store.enqueue_rollout("x", mode="train")
    value = {"status_in": "queuing", "rollout_id_in": rollout.rollout_id, "mode_in": "train"}[name]
    with pytest.raises(TypeError, match=rf"{name} must be a list.*pass \['"):
        await store.query_rollouts(**{name: value})  # type: ignore[arg-type]
    # the list form finds it
    assert [r.rollout_id for r in await store.query_rollouts(**{name: [value]})] == [rollout.rollout_id]  # type: ignore[arg-type]


async def test_wait_for_rollouts_rejects_a_string_for_a_list(store: LightningStore) -> None:
    rollout = await store.enqueue_rollout("x")
    await store.update_rollout(rollout.rollout_id, status="cancelled")
    with pytest.raises(TypeError, match=r"rollout_ids must be a list"):
        await store.wait_for_rollouts(rollout.rollout_id, timeout=0)
    assert [r.rollout_id for r in await store.wait_for_rollouts([rollout.rollout_id], timeout=0)] == [
        rollout.rollout_id
    ]


async def test_enqueue_accepts_a_config_dict_and_validates_it(store: LightningStore) -> None:
    rollout = await store.enqueue_rollout("x", config={"timeout_seconds": 5, "max_attempts": 2})
    assert rollout.config == RolloutConfig(timeout_seconds=5, max_attempts=2)
    started = await store.start_rollout("y", config={"retry_condition": ["timeout"]})
    assert started.config.retry_condition == ["timeout"]
    updated = await store.update_rollout(rollout.rollout_id, config={"max_attempts": 3})
    assert updated.config.max_attempts == 3
    with pytest.raises(ValueError, match=r"unknown keys 'timeout'"):
        await store.enqueue_rollout("x", config={"timeout": 5})
    with pytest.raises(ValueError, match=r"timeout_seconds must be a positive number"):
        await store.enqueue_rollout("x", config={"timeout_seconds": -1})
    with pytest.raises(TypeError, match=r"config must be an agentlightning RolloutConfig or a dict"):
        await store.enqueue_rollout("x", config=[("max_attempts", 2)])  # type: ignore[arg-type]
    assert len(await store.query_rollouts()) == 2  # nothing was stored by the refused calls


async def test_cancelling_a_running_rollout_ends_its_attempt(store: LightningStore) -> None:
    rollout = await store.enqueue_rollout("x", config=RolloutConfig(max_attempts=3, retry_condition=["failed"]))
    attempted = await store.dequeue_rollout(worker_id="w")
    assert attempted is not None
    await store.update_attempt(rollout.rollout_id, attempted.attempt.attempt_id, status="running")
    cancelled = await store.update_rollout(rollout.rollout_id, status="cancelled")
    assert cancelled.status == "cancelled" and cancelled.end_time is not None
    attempt = await store.get_latest_attempt(rollout.rollout_id)
    assert attempt is not None and attempt.status == "failed" and attempt.end_time is not None
    # the runner finishing late changes nothing: the rollout stays cancelled, never retried
    await store.update_attempt(rollout.rollout_id, attempted.attempt.attempt_id, status="failed")
    assert (await store.get_rollout_by_id(rollout.rollout_id)).status == "cancelled"  # type: ignore[union-attr]
    assert await store.dequeue_rollout() is None
