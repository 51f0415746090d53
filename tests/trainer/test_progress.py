"""A progress bar on a terminal; nothing at all when stderr is not a terminal (CI logs stay clean)."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
import textwrap

CHILD = textwrap.dedent(
    """
    import agentlightning as agl

    @agl.rollout
    def agent(task, llm):
        return 1.0

    trainer = agl.Trainer(n_runners=2, store=agl.InMemoryLightningStore(),
                          initial_resources={"llm": agl.LLM(endpoint="http://127.0.0.1:1/v1", model="m")})
    print(len(trainer.dev(agent, list(range(5)))), "done")
    """
)


def test_progress_bar_on_a_terminal() -> None:
    master, slave = pty.openpty()
    child = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE, stderr=slave, text=True)
    os.close(slave)
    out, _ = child.communicate(timeout=60)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # the terminal is gone: all read
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    terminal = b"".join(chunks).decode(errors="replace")
    assert child.returncode == 0 and out.strip() == "5 done"
    assert "5/5" in terminal, terminal


def test_quiet_when_not_a_terminal() -> None:
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "5 done"
    assert out.stderr == ""
