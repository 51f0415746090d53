"""examples/prompt_optimization.py replays offline under agentlightning-run, picks the best template, and its
report holds every template with its rollouts."""

from __future__ import annotations

import importlib.util
import json
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


def test_prompt_optimization_replays_and_picks_the_best_template(tmp_path: Path) -> None:
    out = subprocess.run(
        [
            RUN,
            "--html",
            "report.html",
            "--replay",
            str(ROOT / "cassettes/examples/prompt_optimization.yaml"),
            str(ROOT / "examples/prompt_optimization.py"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    means = re.findall(r"^mean reward (\S+)  '(.*)'$", out.stdout, re.M)
    assert [float(m) for m, _ in means] == [0.0, 0.5, 1.0]
    assert "best template: 'Reply with the number only, no words. {question}' (mean reward 1.00)" in out.stdout
    assert "LLM calls   12 (tiny-math 12)" in out.stderr
    html = (tmp_path / "report.html").read_text()
    data = json.loads(re.search(r'id="report-data">(.*?)</script>', html, re.S).group(1))  # type: ignore[union-attr]
    templates = sorted(r["resources"]["prompt"] for r in data["resources"].values())
    assert templates == sorted(t for _, t in means)
    per_version = {rid: sum(r["resources_id"] == rid for r in data["rollouts"]) for rid in data["resources"]}
    assert sorted(per_version.values()) == [4, 4, 4]
