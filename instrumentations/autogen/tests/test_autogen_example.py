"""examples/autogen_team.py runs offline from its shipped cassette: one rollout per task, one trace each."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.slow
def test_autogen_team_example_replays_offline(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "autogen_team.py")],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=tmp_path,  # a fresh working directory: nothing is read from or left in it
    )
    assert out.returncode == 0, out.stderr
    pattern = (
        r"^(ro-[0-9a-f]{12})\s+(\w+)\s+reward=(\S+)\s+traces=(\d+)\s+workflows=(\d+)\s+llm=(\d+)\s+tools=(\d+)"
        r"\s+solver_triplets=(\d+)"
    )
    rows = re.findall(pattern, out.stdout, re.M)
    assert len(rows) == 3, out.stdout + out.stderr
    assert len({row[0] for row in rows}) == 3  # one rollout per task
    for _, status, reward, traces, workflows, llm, tools, solver_triplets in rows:
        assert status == "succeeded" and float(reward) == 1.0
        # one trace and one team span per rollout; per task: the solver's tool call and answer, the critic's
        # approval, each one LLM span although both the AutoGen and the OpenAI plugins trace the call
        assert (traces, workflows, llm, tools, solver_triplets) == ("1", "1", "3", "1", "2")
    assert list(tmp_path.iterdir()) == []
