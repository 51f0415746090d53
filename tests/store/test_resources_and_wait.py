"""Resources round trips, and ``wait_for_rollouts`` waking on completion (every backend)."""

from __future__ import annotations

import asyncio
import re
import threading
import time

import pytest

from agentlightning.store import LightningStore
from agentlightning.types import LLM, PromptTemplate, ProxyLLM, RolloutConfig

from ._helpers import running_rollout

# ---- resources -------------------------------------------------------------------------------------


def _resources() -> dict[str, LLM | ProxyLLM | PromptTemplate]:
    return {
        "llm": LLM(endpoint="http://localhost:8000/v1", model="m", sampling_parameters={"temperature": 0.2}),
        "proxy": ProxyLLM(endpoint="http://localhost:9000/v1", model="p", api_key="k"),
        "prompt": PromptTemplate(template="Solve {task}", engine="f-string"),
    }


async def test_resources_round_trip_keep_their_classes(store: LightningStore) -> None:
    assert await store.get_latest_resources() is None
    added = await store.add_resources(_resources())  # type: ignore[arg-type]
    assert re.fullmatch(r"rs-[0-9a-f]{12}", added.resources_id)
    assert added.version == 1
    for got in (await store.get_resources_by_id(added.resources_id), await store.get_latest_resources()):
        assert got is not None
        assert got == added
        assert type(got.resources["llm"]) is LLM
        assert type(got.resources["proxy"]) is ProxyLLM
        assert type(got.resources["prompt"]) is PromptTemplate
        assert list(got.resources) == ["llm", "proxy", "prompt"]  # insertion order matters for injection
        proxy_url = got.resources["proxy"].get_base_url("ro-1", "at-1")
        assert proxy_url == "http://localhost:9000/rollout/ro-1/attempt/at-1/v1"
    assert await store.get_resources_by_id("rs-unknown") is None


async def test_resources_accept_plain_dicts(store: LightningStore) -> None:
    added = await store.add_resources({"p": {"resource_type": "prompt_template", "template": "{x}"}})  # type: ignore[dict-item]
    got = await store.get_resources_by_id(added.resources_id)
    assert got is not None and isinstance(got.resources["p"], PromptTemplate)
    with pytest.raises(ValueError):
        await store.add_resources({"bad": {"resource_type": "nope"}})  # type: ignore[dict-item]


async def test_update_resources_creates_then_bumps_version(store: LightningStore) -> None:
    created = await store.update_resources("rs-mine", {"llm": LLM(endpoint="http://a", model="a")})
    assert (created.resources_id, created.version) == ("rs-mine", 1)
    other = await store.add_resources({"llm": LLM(endpoint="http://b", model="b")})
    latest = await store.get_latest_resources()
    assert latest is not None and latest.resources_id == other.resources_id

    time.sleep(0.01)
    updated = await store.update_resources("rs-mine", {"llm": LLM(endpoint="http://c", model="c")})
    assert updated.version == 2
    assert updated.create_time == created.create_time and updated.update_time > created.update_time
    latest = await store.get_latest_resources()
    assert latest is not None and latest.resources_id == "rs-mine" and latest.resources["llm"].model == "c"
    assert (await store.get_resources_by_id(other.resources_id)) == other


async def test_stored_resources_are_not_aliased(store: LightningStore) -> None:
    llm = LLM(endpoint="http://a", model="a")
    added = await store.add_resources({"llm": llm})
    llm.model = "changed by caller"
    added.resources["llm"].model = "changed too"
    got = await store.get_resources_by_id(added.resources_id)
    assert got is not None and got.resources["llm"].model == "a"


# ---- wait_for_rollouts -----------------------------------------------------------------------------


async def test_wait_returns_at_once_for_finished_rollouts(store: LightningStore) -> None:
    rid, aid = await running_rollout(store)
    await store.update_attempt(rid, aid, status="succeeded")
    [done] = await store.wait_for_rollouts([rid, rid], timeout=0)
    assert done.rollout_id == rid and done.status == "succeeded"
    assert await store.wait_for_rollouts([], timeout=None) == []
    assert await store.wait_for_rollouts(["ro-unknown"], timeout=None) == []  # unknown ids are not waited for


async def test_wait_wakes_when_another_task_completes(store: LightningStore) -> None:
    rid, aid = await running_rollout(store)
    other_rid, _ = await running_rollout(store)

    async def complete() -> None:
        await asyncio.sleep(0.05)
        await store.update_attempt(rid, aid, status="succeeded")
        await store.update_rollout(other_rid, status="cancelled")

    task = asyncio.create_task(complete())
    started = time.monotonic()
    done = await store.wait_for_rollouts([rid, other_rid], timeout=10)
    assert time.monotonic() - started < 5  # woke on completion: nowhere near the timeout
    assert [(r.rollout_id, r.status) for r in done] == [(rid, "succeeded"), (other_rid, "cancelled")]
    await task


async def test_wait_wakes_when_another_thread_completes(store: LightningStore) -> None:
    rid, aid = await running_rollout(store)

    def complete() -> None:
        time.sleep(0.05)
        asyncio.run(store.update_attempt(rid, aid, status="failed"))  # another thread, another loop

    thread = threading.Thread(target=complete)
    thread.start()
    started = time.monotonic()
    [done] = await store.wait_for_rollouts([rid], timeout=10)
    assert time.monotonic() - started < 5
    assert done.status == "failed"
    thread.join()


async def test_waiters_on_several_loops_all_wake(store: LightningStore) -> None:
    rid, aid = await running_rollout(store)
    results: list[list[str]] = []

    def wait_in_thread() -> None:
        found = asyncio.run(store.wait_for_rollouts([rid], timeout=10))
        results.append([r.status for r in found])

    threads = [threading.Thread(target=wait_in_thread) for _ in range(3)]
    for thread in threads:
        thread.start()
    await asyncio.sleep(0.1)
    await store.update_attempt(rid, aid, status="succeeded")
    for thread in threads:
        thread.join(timeout=5)
    assert results == [["succeeded"]] * 3


async def test_wait_returns_the_finished_part_on_timeout(store: LightningStore) -> None:
    finished_rid, finished_aid = await running_rollout(store)
    pending_rid, _ = await running_rollout(store)
    await store.update_attempt(finished_rid, finished_aid, status="succeeded")
    started = time.monotonic()
    done = await store.wait_for_rollouts([pending_rid, finished_rid], timeout=0.2)
    assert time.monotonic() - started >= 0.2
    assert [r.rollout_id for r in done] == [finished_rid]


async def test_wait_notices_a_timeout_while_waiting(store: LightningStore) -> None:
    rid, _ = await running_rollout(store, config=RolloutConfig(timeout_seconds=0.1))
    started = time.monotonic()
    [done] = await store.wait_for_rollouts([rid], timeout=10)
    assert time.monotonic() - started < 5
    assert done.status == "failed"
    attempt = await store.get_latest_attempt(rid)
    assert attempt is not None and attempt.status == "timeout"


async def test_requeuing_is_not_finished(store: LightningStore) -> None:
    rid, aid = await running_rollout(store, config=RolloutConfig(max_attempts=2, retry_condition=["failed"]))
    await store.update_attempt(rid, aid, status="failed")
    assert await store.wait_for_rollouts([rid], timeout=0.05) == []
