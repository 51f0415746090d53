"""``agentlightning worker`` processes serving a ``Trainer(n_runners=0)``: real processes, a real store.

The agent module is written into a temporary folder (the workers' working directory) and imported by
``--agent workeragent:agent``. Its tasks are dicts: ``{"n": i}`` is answered with reward ``n``; with
``"sleep": s`` the agent first writes its pid and attempt number into ``started-<n>-<attempt>`` and sleeps
``s`` seconds, on its first attempt only.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import textwrap
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

import agentlightning as agl
from agentlightning.store.sqlite import SqliteLightningStore

from ._helpers import CLI

AGENT = textwrap.dedent(
    """
    import os, pathlib, time
    import agentlightning as agl

    @agl.rollout
    def agent(task, llm, rollout):
        attempt = rollout.attempt.sequence_id
        if task.get("sleep") and attempt == 1:
            marker = pathlib.Path(f"started-{task['n']}-{attempt}")
            marker.write_text(str(os.getpid()))
            time.sleep(task["sleep"])
        return float(task["n"])

    not_an_agent = 42
    """
)

RESOURCES = {"llm": agl.LLM(endpoint="http://127.0.0.1:9/v1", model="m")}


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AGENTLIGHTNING_"))}
    env["AGENTLIGHTNING_AUTO_INSTRUMENT"] = "0"
    return env


def _worker(folder: Path, store: str, *extra: str) -> subprocess.Popen[str]:
    (folder / "workeragent.py").write_text(AGENT)
    return subprocess.Popen(
        [CLI, "worker", "--store", store, "--agent", "workeragent:agent", *extra],
        cwd=folder,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(path_glob: Path, pattern: str, timeout: float = 60) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = sorted(path_glob.glob(pattern))
        if found:
            return found[0]
        time.sleep(0.05)
    raise AssertionError(f"nothing matched {pattern} in {path_glob}")


def _trainer_dev(store: Any, tasks: list[dict[str, Any]], **config: Any) -> list[agl.Rollout]:
    trainer = agl.Trainer(n_runners=0, store=store, initial_resources=RESOURCES, progress=False, run_id="exp-1")
    return trainer.dev(agl.rollout(lambda task, llm: 0.0), tasks, rollout_config=config or None)


def _rewards(store: Any, rollouts: list[agl.Rollout]) -> list[float | None]:
    return [agl.find_final_reward(asyncio.run(store.query_spans(r.rollout_id))) for r in rollouts]


def _fresh_database(postgres_server: Any) -> str:
    import psycopg

    name = f"w_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server.dsn(), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return str(postgres_server.dsn(name))


@pytest.fixture(params=["sqlite", "postgres"])
def shared_store(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where the workers and the test meet: a SQLite file, or a fresh database of the session's PostgreSQL."""
    if request.param == "sqlite":
        return str(tmp_path / "store.db")
    return _fresh_database(request.getfixturevalue("postgres_server"))


@pytest.mark.slow
def test_trainer_with_no_runners_is_served_by_two_worker_processes(tmp_path: Path) -> None:
    db = str(tmp_path / "store.db")
    worker = _worker(tmp_path, db, "-n", "2", "--run-id", "exp-1")
    try:
        with SqliteLightningStore(db) as store:
            rollouts = _trainer_dev(store, [{"n": i} for i in range(8)])
            assert [r.status for r in rollouts] == ["succeeded"] * 8
            assert _rewards(store, rollouts) == [float(i) for i in range(8)]
            workers = {a.worker_id for r in rollouts for a in asyncio.run(store.query_attempts(r.rollout_id))}
            assert all(w is not None and w.startswith(f"{os.uname().nodename}-{worker.pid}-") for w in workers)
    finally:
        worker.send_signal(signal.SIGTERM)
        _, err = worker.communicate(timeout=60)
    assert worker.returncode == 0, err


@pytest.mark.slow
def test_sigterm_lets_the_current_attempt_finish_and_exits_0(tmp_path: Path, shared_store: str) -> None:
    db = shared_store
    with agl.store.open_store(db) as store:
        asyncio.run(store.add_resources(RESOURCES))
        rollout = asyncio.run(store.enqueue_rollout({"n": 5, "sleep": 2}, run_id="r"))
        queued = asyncio.run(store.enqueue_rollout({"n": 6}, run_id="r"))
        worker = _worker(tmp_path, db, "--run-id", "r")
        try:
            _wait_for(tmp_path, "started-5-1")
        finally:
            worker.send_signal(signal.SIGTERM)
            _, err = worker.communicate(timeout=60)
        assert worker.returncode == 0, err
        finished = asyncio.run(store.get_rollout_by_id(rollout.rollout_id))
        assert finished is not None and finished.status == "succeeded"
        assert _rewards(store, [finished]) == [5.0]
        left = asyncio.run(store.get_rollout_by_id(queued.rollout_id))
        assert left is not None and left.status == "queuing"  # no new rollout taken after the signal


@pytest.mark.slow
def test_a_second_sigterm_abandons_the_attempt_which_is_then_found_unresponsive(tmp_path: Path) -> None:
    db = str(tmp_path / "store.db")
    config = {"unresponsive_seconds": 0.5}
    with SqliteLightningStore(db) as store:
        asyncio.run(store.add_resources(RESOURCES))
        rollout = asyncio.run(store.enqueue_rollout({"n": 1, "sleep": 3600}, config=config))
        worker = _worker(tmp_path, db)
        try:
            _wait_for(tmp_path, "started-1-1")
        finally:
            worker.send_signal(signal.SIGTERM)
            time.sleep(0.5)
            worker.send_signal(signal.SIGTERM)
            _, err = worker.communicate(timeout=60)
        assert worker.returncode == 130, err
        done = asyncio.run(store.wait_for_rollouts([rollout.rollout_id], timeout=30))
        assert [r.status for r in done] == ["failed"]  # no retry in its config
        assert [a.status for a in asyncio.run(store.query_attempts(rollout.rollout_id))] == ["unresponsive"]


@pytest.mark.slow
def test_a_worker_killed_mid_rollout_is_found_unresponsive_and_another_worker_retries(
    tmp_path: Path, shared_store: str
) -> None:
    db = shared_store
    folder_a, folder_b = tmp_path / "host-a", tmp_path / "host-b"
    folder_a.mkdir()
    folder_b.mkdir()
    config = {"unresponsive_seconds": 1.0, "max_attempts": 2, "retry_condition": ["unresponsive"]}
    with agl.store.open_store(db) as store:
        asyncio.run(store.add_resources(RESOURCES))
        slow = asyncio.run(store.enqueue_rollout({"n": 3, "sleep": 3600}, config=config, run_id="r"))
        host_a = _worker(folder_a, db)
        try:
            pid = int(_wait_for(folder_a, "started-3-1").read_text())
            os.kill(pid, signal.SIGKILL)  # the runner process with the rollout, mid-rollout
            _, err = host_a.communicate(timeout=60)  # its only runner gone, the command ends by itself
        finally:
            if host_a.poll() is None:  # the runner was not found, or the command did not end: do not leave it
                host_a.kill()
                host_a.communicate(timeout=60)
        assert host_a.returncode == 1 and "signal 9" in err, err
        host_b = _worker(folder_b, db)
        try:
            done = asyncio.run(store.wait_for_rollouts([slow.rollout_id], timeout=60))
            assert [r.status for r in done] == ["succeeded"]
            attempts = asyncio.run(store.query_attempts(slow.rollout_id))
            assert [a.status for a in attempts] == ["unresponsive", "succeeded"]
            assert attempts[0].worker_id != attempts[1].worker_id
            assert _rewards(store, done) == [3.0]
        finally:
            host_b.send_signal(signal.SIGTERM)
            _, err = host_b.communicate(timeout=60)
        assert host_b.returncode == 0, err


def test_postgres_trainer_and_workers_on_one_database(tmp_path: Path, postgres_server: Any) -> None:
    url = _fresh_database(postgres_server)
    worker = _worker(tmp_path, url, "-n", "2")  # no --run-id: takes any run's rollouts
    try:
        store = agl.store.open_store(url)
        try:
            rollouts = _trainer_dev(store, [{"n": i} for i in range(6)])
            assert [r.status for r in rollouts] == ["succeeded"] * 6
            assert _rewards(store, rollouts) == [float(i) for i in range(6)]
        finally:
            store.close()
    finally:
        worker.send_signal(signal.SIGTERM)
        _, err = worker.communicate(timeout=60)
    assert worker.returncode == 0, err


@pytest.mark.parametrize(
    ("agent", "message"),
    [
        ("workeragent", "give it as module:attr"),
        ("nosuchmodule:agent", "no module named 'nosuchmodule'"),
        ("workeragent:missing", "has no attribute 'missing'"),
        ("workeragent:not_an_agent", "is a int, not an agent"),
    ],
)
def test_bad_agent_is_one_line_and_exit_2(tmp_path: Path, agent: str, message: str) -> None:
    (tmp_path / "workeragent.py").write_text(AGENT)
    result = subprocess.run(
        [CLI, "worker", "--store", str(tmp_path / "s.db"), "--agent", agent],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result
    assert len(result.stderr.strip().splitlines()) == 1 and message in result.stderr, result.stderr


def test_bad_store_is_one_line_and_exit_2(tmp_path: Path) -> None:
    (tmp_path / "workeragent.py").write_text(AGENT)
    (tmp_path / "junk.db").write_bytes(b"not a database at all" * 100)
    for store, message in [(str(tmp_path / "junk.db"), "cannot open the store"), ("ftp://x/y", "unsupported")]:
        result = subprocess.run(
            [CLI, "worker", "--store", store, "--agent", "workeragent:agent"],
            cwd=tmp_path,
            env=_env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 2, result
        assert len(result.stderr.strip().splitlines()) == 1 and message in result.stderr, result.stderr


def test_trainer_with_no_runners_refuses_an_in_memory_store() -> None:
    trainer = agl.Trainer(n_runners=0, store=agl.InMemoryLightningStore(), progress=False)
    with pytest.raises(ValueError, match="in-memory store"):
        trainer.dev(agl.rollout(lambda task, llm: 0.0), [1])


def test_run_id_from_the_keyword_or_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTLIGHTNING_RUN_ID", "from-env")
    assert agl.Trainer(n_runners=0).run_id == "from-env"
    assert agl.Trainer(n_runners=0, run_id="kw").run_id == "kw"
    with pytest.raises(ValueError, match="n_runners"):
        agl.Trainer(n_runners=-1)
