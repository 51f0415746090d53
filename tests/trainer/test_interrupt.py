"""Ctrl-C during ``Trainer.dev``: the program stops, no rollout is left ``running``, and none is ``failed``."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from agentlightning.store.sqlite import SqliteLightningStore

CHILD = textwrap.dedent(
    """
    import asyncio, sys, time
    import agentlightning as agl

    ASYNC = sys.argv[2] == "async"

    if ASYNC:
        @agl.rollout
        async def agent(task, llm):
            sys.stdout.write(f"working {task}\\n"); sys.stdout.flush()  # one write: two runner threads print
            await asyncio.sleep(0.3)
            return 1.0
    else:
        @agl.rollout
        def agent(task, llm):
            sys.stdout.write(f"working {task}\\n"); sys.stdout.flush()  # one write: two runner threads print
            time.sleep(0.3)
            return 1.0

    store = agl.SqliteLightningStore(sys.argv[1])
    llm = agl.LLM(endpoint="http://127.0.0.1:1/v1", model="m")
    trainer = agl.Trainer(n_runners=2, store=store, initial_resources={"llm": llm})
    trainer.dev(agent, list(range(40)))
    print("finished without interruption", flush=True)
    """
)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["sync", "async"])
def test_ctrl_c_leaves_no_rollout_running(tmp_path: Path, kind: str) -> None:
    db = tmp_path / "store.db"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(db), kind], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    try:
        seen = 0
        while seen < 5:  # a few rollouts in: some done, two running, most still queued
            line = child.stdout.readline()
            assert line.startswith("working"), (
                f"unexpected output {line!r}; stderr: {child.stderr.read() if child.stderr else ''}"
            )
            seen += 1
        os.kill(child.pid, signal.SIGINT)
        out, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:  # a failed assertion must not leave the child (and a ResourceWarning) behind
            child.kill()
            child.communicate()
    assert "finished without interruption" not in out
    assert "KeyboardInterrupt" in err  # the interruption reaches the user as usual

    store = SqliteLightningStore(db)
    try:
        rollouts = asyncio.run(store.query_rollouts())
        statuses = {r.status for r in rollouts}
        assert len(rollouts) == 40
        # the rollouts in flight at Ctrl-C are cancelled too, not failed: the agent did nothing wrong
        assert statuses == {"succeeded", "cancelled"}, statuses
        for rollout in rollouts:
            for attempt in asyncio.run(store.query_attempts(rollout.rollout_id)):
                assert attempt.status not in ("preparing", "running"), (rollout, attempt)
    finally:
        store.close()
