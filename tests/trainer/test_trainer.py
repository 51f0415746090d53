"""The trainer runs an agent over a dataset with several concurrent runners sharing one store."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from opentelemetry import trace as trace_api

import agentlightning as agl
from agentlightning.tracer.otel import OtelTracer

user_tracer = trace_api.get_tracer("user.code")
RESOURCES = {"main_llm": agl.LLM(endpoint="http://127.0.0.1:9/v1", model="m")}
N = 200


def _check_no_cross_talk(trainer: agl.Trainer, rollouts: list[agl.Rollout], dataset: list[dict[str, int]]) -> None:
    assert len(rollouts) == len(dataset)
    assert [r.input for r in rollouts] == dataset
    assert all(r.status == "succeeded" for r in rollouts)
    for rollout in rollouts:
        spans = trainer.store_query_spans(rollout.rollout_id)
        task_id = rollout.input["id"]
        assert agl.find_final_reward(spans) == task_id / N  # its own reward
        owners = {s.attributes["task"] for s in spans if "task" in s.attributes}
        assert owners == {task_id}  # and only its own spans
        assert len({s.attempt_id for s in spans}) == 1


def test_dev_with_four_runners_sync_agent(store: agl.LightningStore, tracer: OtelTracer) -> None:
    @agl.rollout
    def agent(task: dict[str, int], llm: agl.LLM) -> float:
        with user_tracer.start_as_current_span("work") as span:
            span.set_attribute("task", task["id"])
        return task["id"] / N

    dataset = [{"id": i} for i in range(N)]
    trainer = agl.Trainer(n_runners=4, store=store, tracer=tracer, initial_resources=RESOURCES)
    rollouts = trainer.dev(agent, dataset)
    _check_no_cross_talk(trainer, rollouts, dataset)
    workers = {asyncio.run(store.get_latest_attempt(r.rollout_id)).worker_id for r in rollouts}  # type: ignore[union-attr]
    assert len(workers) > 1  # the work was shared


def test_dev_with_four_runners_async_agent(store: agl.LightningStore, tracer: OtelTracer) -> None:
    @agl.rollout
    async def agent(task: dict[str, int], llm: agl.LLM) -> None:
        with user_tracer.start_as_current_span("work") as span:
            span.set_attribute("task", task["id"])
            await asyncio.sleep(0)
        agl.emit_reward(task["id"] / N)

    dataset = [{"id": i} for i in range(N)]
    trainer = agl.Trainer(n_runners=4, store=store, tracer=tracer, initial_resources=RESOURCES)
    _check_no_cross_talk(trainer, trainer.dev(agent, dataset), dataset)


def test_fit_runs_the_algorithm_against_the_store(store: agl.LightningStore, tracer: OtelTracer) -> None:
    seen: dict[str, Any] = {}

    @agl.algo
    async def algorithm(store: agl.LightningStore, train_dataset: Any, initial_resources: Any) -> None:
        seen["resources"] = initial_resources
        ids = [(await store.enqueue_rollout(input=t, mode="train")).rollout_id for t in train_dataset]
        done = await store.wait_for_rollouts(ids, timeout=30)
        seen["rewards"] = sorted([agl.find_final_reward(await store.query_spans(r.rollout_id)) for r in done])

    @agl.rollout
    def agent(task: int, llm: agl.LLM) -> float:
        return float(task)

    trainer = agl.Trainer(n_runners=2, store=store, tracer=tracer, algorithm=algorithm, initial_resources=RESOURCES)
    rollouts = trainer.fit(agent, [3, 1, 2])
    assert seen["rewards"] == [1.0, 2.0, 3.0]
    assert seen["resources"] == RESOURCES
    assert sorted(r.input for r in rollouts) == [1, 2, 3]


def test_agent_gets_the_dataset_objects_whatever_the_store_keeps(store: agl.LightningStore, tracer: OtelTracer) -> None:
    from dataclasses import dataclass

    @dataclass
    class MathTask:
        question: str
        answer: int

    @agl.rollout
    def agent(task: MathTask, llm: agl.LLM) -> float:
        assert isinstance(task, MathTask)  # not the JSON dict a SQLite store keeps
        return float(task.answer)

    dataset = [MathTask("1+1", 2), MathTask("2+2", 4)]
    trainer = agl.Trainer(n_runners=2, store=store, tracer=tracer, initial_resources=RESOURCES)
    rollouts = trainer.dev(agent, dataset)
    assert [r.status for r in rollouts] == ["succeeded", "succeeded"]
    assert [agl.find_final_reward(trainer.store_query_spans(r.rollout_id)) for r in rollouts] == [2.0, 4.0]


def test_each_hook_sees_its_own_last_trace(store: agl.LightningStore, tracer: OtelTracer) -> None:
    mismatches: list[str] = []

    class Check(agl.Hook):
        async def on_trace_end(self, *, agent, runner, tracer, rollout):  # type: ignore[no-untyped-def]
            await asyncio.sleep(0)  # let the other runners close their contexts meanwhile
            if any(s.rollout_id != rollout.rollout_id for s in tracer.get_last_trace()):
                mismatches.append(rollout.rollout_id)

    @agl.rollout
    async def agent(task: int, llm: agl.LLM) -> float:
        await asyncio.sleep(0)
        return 1.0

    trainer = agl.Trainer(n_runners=4, store=store, tracer=tracer, initial_resources=RESOURCES, hooks=[Check()])
    assert len(trainer.dev(agent, list(range(40)))) == 40
    assert mismatches == []


def test_dev_rejects_a_plain_function_with_a_clear_error(store: agl.LightningStore) -> None:
    def agent(task: int, llm: agl.LLM) -> float:
        return 1.0

    trainer = agl.Trainer(store=store)
    with pytest.raises(TypeError, match=r"decorate the function with @agl.rollout"):
        trainer.dev(agent, [1])  # type: ignore[arg-type]


def test_a_run_leaves_queued_rollouts_of_other_runs_alone_and_says_so(
    store: agl.LightningStore, tracer: OtelTracer, caplog: pytest.LogCaptureFixture
) -> None:
    left = asyncio.run(store.enqueue_rollout(input="left over", run_id="run-killed"))
    seen: list[Any] = []

    @agl.rollout
    def agent(task: Any, llm: agl.LLM) -> float:
        seen.append(task)
        return 1.0

    trainer = agl.Trainer(store=store, tracer=tracer, initial_resources=RESOURCES)
    rollouts = trainer.dev(agent, [1, 2])
    assert seen == [1, 2] or seen == [2, 1]  # never the other run's task
    assert [r.input for r in rollouts] == [1, 2] and {r.run_id for r in rollouts} == {trainer.run_id}
    assert trainer.run_id is not None and trainer.run_id != "run-killed"
    assert (asyncio.run(store.get_rollout_by_id(left.rollout_id))).status == "queuing"  # type: ignore[union-attr]
    assert "holds 1 unfinished rollouts of other runs (run-killed" in caplog.text
    assert "This run will not take them" in caplog.text
