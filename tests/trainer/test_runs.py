"""Runs sharing a store, rollout configs and dataset checks of ``Trainer.dev``/``fit``.

The two-runs and ``kill -9`` cases run real scripts in child processes on one SQLite file.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

import agentlightning as agl
from agentlightning.store.sqlite import SqliteLightningStore
from agentlightning.tracer.otel import OtelTracer

RESOURCES = {"llm": agl.LLM(endpoint="http://127.0.0.1:9/v1", model="m")}

# A script running Trainer.dev over 20 tasks whose agent returns its own reward (argv[2]); the two copies
# meet at a barrier (files) so that their runs overlap. Prints the rewards of the rollouts dev returned.
_RUN = textwrap.dedent(
    """
    import asyncio, pathlib, sys, time
    import agentlightning as agl

    db, reward = sys.argv[1], float(sys.argv[2])
    folder = pathlib.Path(db).parent
    (folder / f"{reward}.ready").touch()
    deadline = time.monotonic() + 30
    while len(list(folder.glob("*.ready"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)

    @agl.rollout
    async def agent(task, llm):
        await asyncio.sleep(0.02)
        return reward

    store = agl.SqliteLightningStore(db)
    llm = agl.LLM(endpoint="http://127.0.0.1:1/v1", model="m")
    trainer = agl.Trainer(n_runners=2, store=store, initial_resources={"llm": llm}, progress=False)
    rollouts = trainer.dev(agent, [f"{reward}-{i}" for i in range(20)])
    assert all(r.status == "succeeded" for r in rollouts), rollouts
    rewards = [agl.find_final_reward(trainer.store_query_spans(r.rollout_id)) for r in rollouts]
    print("inputs", sorted({r.input.split("-")[0] for r in rollouts}), "rewards", sorted(set(rewards)), flush=True)
    store.close()
    """
)


@pytest.mark.slow
def test_two_runs_at_once_on_one_store_each_run_only_their_own_tasks(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    children = [
        subprocess.Popen(
            [sys.executable, "-c", _RUN, str(db), reward], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for reward in ("1.0", "2.0")
    ]
    outputs = [child.communicate(timeout=120) for child in children]
    assert [child.returncode for child in children] == [0, 0], outputs
    assert outputs[0][0].strip() == "inputs ['1.0'] rewards [1.0]", outputs[0]
    assert outputs[1][0].strip() == "inputs ['2.0'] rewards [2.0]", outputs[1]
    with SqliteLightningStore(db) as store:  # every rollout in the file got the reward of its own run's agent
        rollouts = asyncio.run(store.query_rollouts())
        assert len(rollouts) == 40 and len({r.run_id for r in rollouts}) == 2
        for rollout in rollouts:
            reward = agl.find_final_reward(asyncio.run(store.query_spans(rollout.rollout_id)))
            assert reward == float(rollout.input.split("-")[0]), rollout


# A script whose agent sleeps ``argv[2]`` seconds per task (printing "working" first) under a rollout config
# with unresponsive_seconds=0.5 and, when argv[4] is "retry", one retry on "unresponsive".
_SLEEPER = textwrap.dedent(
    """
    import sys, time
    import agentlightning as agl

    db, seconds, tasks, retry = sys.argv[1], float(sys.argv[2]), sys.argv[3].split(","), sys.argv[4] == "retry"

    @agl.rollout
    def agent(task, llm):
        print("working", task, flush=True)
        time.sleep(seconds)
        return 1.0

    store = agl.SqliteLightningStore(db)
    llm = agl.LLM(endpoint="http://127.0.0.1:1/v1", model="m")
    trainer = agl.Trainer(n_runners=1, store=store, initial_resources={"llm": llm}, progress=False)
    config = {"unresponsive_seconds": 0.5}
    if retry:
        config.update(max_attempts=2, retry_condition=["unresponsive"])
    rollouts = trainer.dev(agent, tasks, rollout_config=config)
    print("done", [r.status for r in rollouts], flush=True)
    """
)


@pytest.mark.slow
def test_heartbeats_keep_a_silent_agent_alive(tmp_path: Path) -> None:
    # The agent says nothing (no span) for 4x its unresponsive_seconds: the runner's heartbeat keeps it alive
    # (without it, the attempt would be marked unresponsive and, with no retry, the rollout failed).
    db = tmp_path / "store.db"
    done = subprocess.run(
        [sys.executable, "-c", _SLEEPER, str(db), "2.0", "quiet", "no-retry"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "done ['succeeded']" in done.stdout, (done.stdout, done.stderr)
    with SqliteLightningStore(db) as store:
        [rollout] = asyncio.run(store.query_rollouts())
        [attempt] = asyncio.run(store.query_attempts(rollout.rollout_id))
        assert attempt.status == "succeeded" and attempt.last_heartbeat_time is not None


@pytest.mark.slow
def test_after_kill_9_the_running_rollout_is_found_unresponsive_and_never_run_by_another_run(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    child = subprocess.Popen(
        [sys.executable, "-c", _SLEEPER, str(db), "3600", "killed", "retry"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert child.stdout is not None
    assert child.stdout.readline().startswith(b"working"), child.stderr.read() if child.stderr else b""
    os.kill(child.pid, signal.SIGKILL)
    child.communicate(timeout=30)  # reaps it and closes the pipes

    # The next run on the same store: it takes only its own task, and its reads let the store notice the
    # dead attempt (no heartbeat for unresponsive_seconds); the retry goes back on the queue of the dead run.
    time.sleep(0.6)  # let the dead attempt's silence exceed unresponsive_seconds (0.5 s)
    later = subprocess.run(
        [sys.executable, "-c", _SLEEPER, str(db), "0", "next", "retry"], capture_output=True, text=True, timeout=60
    )
    assert later.returncode == 0, later.stderr
    assert later.stdout.splitlines() == ["working next", "done ['succeeded']"], later.stdout
    assert "1 unfinished rollouts of other runs" in later.stderr
    with SqliteLightningStore(db) as store:
        killed = next(r for r in asyncio.run(store.query_rollouts()) if r.input == "killed")
        attempts = asyncio.run(store.query_attempts(killed.rollout_id))
        assert [a.status for a in attempts] == ["unresponsive"]
        assert killed.status == "requeuing"  # a retry, kept for its own run: nobody else ran it


def test_dev_applies_the_rollout_config_to_its_rollouts(store: agl.LightningStore, tracer: OtelTracer) -> None:
    calls: list[Any] = []

    @agl.rollout
    async def agent(task: int, llm: agl.LLM) -> float:
        calls.append(task)
        if calls.count(task) == 1:
            raise RuntimeError("first try fails")
        return 1.0

    trainer = agl.Trainer(store=store, tracer=tracer, initial_resources=RESOURCES, progress=False)
    rollouts = trainer.dev(agent, [7], rollout_config={"max_attempts": 2, "retry_condition": ["failed"]})
    assert [r.status for r in rollouts] == ["succeeded"] and calls == [7, 7]
    assert rollouts[0].config.max_attempts == 2
    assert rollouts[0].config.unresponsive_seconds == agl.trainer.trainer.DEFAULT_UNRESPONSIVE_SECONDS

    rollouts = trainer.dev(agent, [8], rollout_config=agl.RolloutConfig(unresponsive_seconds=None))
    assert rollouts[0].status == "failed" and rollouts[0].config.unresponsive_seconds is None


def test_fit_gives_the_algorithm_a_store_that_tags_its_rollouts_with_the_run(
    store: agl.LightningStore, tracer: OtelTracer
) -> None:
    other = asyncio.run(store.enqueue_rollout(input="other run's", run_id="run-other"))
    seen: dict[str, Any] = {}

    @agl.algo
    async def algorithm(store: agl.LightningStore, train_dataset: Any) -> None:
        ids = [(await store.enqueue_rollout(input=t, mode="train")).rollout_id for t in train_dataset]
        await store.wait_for_rollouts(ids, timeout=30)
        seen["visible"] = sorted(r.input for r in await store.query_rollouts())

    @agl.rollout
    def agent(task: int, llm: agl.LLM) -> float:
        return float(task)

    trainer = agl.Trainer(store=store, tracer=tracer, algorithm=algorithm, initial_resources=RESOURCES)
    rollouts = trainer.fit(agent, [1, 2], rollout_config={"timeout_seconds": 30})
    assert sorted(r.input for r in rollouts) == [1, 2]
    assert {r.run_id for r in rollouts} == {trainer.run_id}
    assert {r.config.timeout_seconds for r in rollouts} == {30}
    assert seen["visible"] == [1, 2]  # the algorithm's queries see its own run only
    assert asyncio.run(store.get_rollout_by_id(other.rollout_id)).status == "queuing"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("dataset", "hint"),
    [
        ((t for t in [1, 2]), r"got generator: pass list\(\.\.\.\) of it"),
        ({"a": 1}, r"got dict: pass list\(d\.values\(\)\)"),
        (iter([1]), r"got list_iterator"),
        (None, r"got NoneType"),
    ],
)
def test_a_dataset_that_is_not_a_list_is_refused_at_the_call(
    store: agl.LightningStore, dataset: Any, hint: str
) -> None:
    @agl.rollout
    def agent(task: int, llm: agl.LLM) -> float:
        return 1.0

    trainer = agl.Trainer(store=store, initial_resources=RESOURCES)
    with pytest.raises(TypeError, match=r"train_dataset must be a list or a Dataset .*" + hint):
        trainer.dev(agent, dataset)
    with pytest.raises(TypeError, match=r"val_dataset must be a list or a Dataset"):
        trainer.fit(agent, [1], val_dataset={"a": 1})
    assert asyncio.run(store.query_rollouts()) == []  # refused before anything was enqueued


@pytest.mark.parametrize(
    ("config", "error", "message"),
    [
        ({"timeout_seconds": -1}, ValueError, r"timeout_seconds must be a positive number"),
        ({"timeout": 5}, ValueError, r"rollout_config has unknown keys 'timeout'"),
        (5, TypeError, r"rollout_config must be an agentlightning RolloutConfig or a dict"),
    ],
)
def test_a_bad_rollout_config_is_refused_at_the_call(
    store: agl.LightningStore, config: Any, error: type[Exception], message: str
) -> None:
    @agl.rollout
    def agent(task: int, llm: agl.LLM) -> float:
        return 1.0

    trainer = agl.Trainer(store=store, initial_resources=RESOURCES)
    with pytest.raises(error, match=message):
        trainer.dev(agent, [1], rollout_config=config)
    assert asyncio.run(store.query_rollouts()) == []
