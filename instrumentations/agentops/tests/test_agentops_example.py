"""examples/agentops_agent.py runs offline from its shipped cassette (under the network audit hook): rewards, one
LLM span and one triplet per rollout, AgentOps' agent/operation/tool spans in every rollout, no agentops.log."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from agentlightning.testing.network import ENV_RECORD

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "examples" / "agentops_agent.py"
GUARDED = (
    "import runpy, sys\n"
    "from agentlightning.testing import network\n"
    "network.install()\n"
    "network.activate()\n"
    "sys.argv = [sys.argv[1]]\n"
    "runpy.run_path(sys.argv[0], run_name='__main__')\n"
)


@pytest.mark.slow
def test_example_replays_offline(tmp_path: Path) -> None:
    env = {**os.environ, ENV_RECORD: str(tmp_path / "attempts.txt"), "AGENTOPS_API_KEY": "a-key-that-goes-nowhere"}
    out = subprocess.run(
        [sys.executable, "-c", GUARDED, str(EXAMPLE)],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=tmp_path,
        env=env,
    )
    assert out.returncode == 0, out.stderr
    rows = re.findall(
        r"^ro-\w+\s+(\w+)\s+reward=(\S+)\s+model calls=(\d+)\s+triplets=(\d+)\s+agentops spans=(\S+)", out.stdout, re.M
    )
    assert len(rows) == 3, out.stdout
    assert [row[0] for row in rows] == ["succeeded"] * 3
    assert sorted(float(row[1]) for row in rows) == [0.0, 1.0, 1.0]  # the model gets Peru wrong
    assert all(row[2:4] == ("1", "1") for row in rows)
    assert all(row[4] == "Geographer.agent,answer.task,lookup_capital.tool" for row in rows)
    assert not (tmp_path / "attempts.txt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no agentops.log, nothing else
