"""examples/langchain_agent.py runs offline from its shipped cassette: rewards, one span and one triplet per
model call."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.slow
def test_langchain_example_replays_offline(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "langchain_agent.py")],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    rows = re.findall(r"^ro-[0-9a-f]{12}\s+(\w+)\s+reward=(\S+)\s+model calls=(\d+)\s+triplets=(\d+)", out.stdout, re.M)
    assert [row[0] for row in rows] == ["succeeded"] * 3, out.stdout
    assert sorted(float(row[1]) for row in rows) == [0.0, 1.0, 1.0]  # the model slips on 9 * 8
    assert all(row[2] == "2" and row[3] == "2" for row in rows)  # a tool call, then the answer: two each
    assert list(tmp_path.iterdir()) == []
