"""The README's first command: `agentlightning-run --replay` runs the quickstart offline from its shipped cassette."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUN = str(Path(sys.executable).with_name("agentlightning-run"))

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("vcr") is None,
    reason="cassettes need vcrpy >= 9, which needs Python >= 3.11 (not installed here)",
)


def test_quickstart_replays_offline_and_prints_rollouts_rewards_and_tokens(tmp_path: Path) -> None:
    out = subprocess.run(
        [RUN, "--replay", str(ROOT / "cassettes/examples/quickstart.yaml"), str(ROOT / "examples/quickstart.py")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,  # a fresh working directory: the store is made in it
    )
    assert out.returncode == 0, out.stderr
    rows = re.findall(r"^(ro-[0-9a-f]{12})\s+(\w+)\s+reward=(\S+)\s+tokens in/out=(\d+)/(\d+)", out.stdout, re.M)
    assert len(rows) == 5, out.stdout
    assert [row[1] for row in rows] == ["succeeded"] * 5
    assert sorted(float(row[2]) for row in rows) == [0.0, 1.0, 1.0, 1.0, 1.0]  # the model gets 9 / 3 "wrong"
    assert all(int(row[3]) > 0 and int(row[4]) > 0 for row in rows)
    assert out.stdout.count("triplet:") == 5
    assert [p.name for p in tmp_path.iterdir()] == [".agentlightning"]  # the default store, nothing else
    assert "LLM calls   5 (tiny-math 5)" in out.stderr  # the run's summary
