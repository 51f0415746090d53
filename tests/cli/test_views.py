"""`show`, `ls`, `export` on a store filled by a real run, and the one-line errors of bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agentlightning.testing import ScriptedOpenAIServer
from agentlightning.types import Span, Triplet

from ._helpers import CLI, run_cli, run_rollout_id, write_agent

pytestmark = pytest.mark.slow


@pytest.fixture
def filled(tmp_path: Path, server: ScriptedOpenAIServer) -> tuple[Path, str]:
    """A working directory whose default store holds one real run (its rollout id returned)."""
    out = run_cli([str(write_agent(tmp_path))], tmp_path, base_url=server.base_url)
    assert out.returncode == 0, out.stderr
    return tmp_path, run_rollout_id(out.stderr)


def test_ls_lists_the_run_with_status_reward_spans_and_tokens(filled: tuple[Path, str]) -> None:
    cwd, rollout_id = filled
    out = run_cli(["ls"], cwd, program=CLI)
    assert out.returncode == 0, out.stderr
    header, row = out.stdout.splitlines()
    assert header.split()[:6] == ["rollout", "status", "started", "reward", "spans", "tokens"]
    cells = row.split()
    assert cells[0] == rollout_id and cells[1] == "succeeded" and cells[4] == "0.75"
    assert int(cells[5]) >= 3  # two LLM calls and the reward
    tokens_in, tokens_out = map(int, cells[6].split("/"))
    assert tokens_in > 0 and tokens_out > 0
    assert run_cli(["ls", "--status", "failed"], cwd, program=CLI).stdout == ""


def test_show_prints_the_span_tree_of_the_latest_rollout(filled: tuple[Path, str]) -> None:
    cwd, rollout_id = filled
    out = run_cli(["show"], cwd, program=CLI)
    assert out.returncode == 0, out.stderr
    first, *lines = out.stdout.splitlines()
    assert first.startswith(f"{rollout_id}  succeeded  reward=0.75")
    chats = [line for line in lines if line.strip().startswith("chat tiny")]
    assert len(chats) == 2 and all(" ms" in line and "tokens " in line for line in chats)
    assert any("agentlightning.annotation" in line and "reward 0.75" in line for line in lines)
    assert run_cli(["show", rollout_id], cwd, program=CLI).stdout == out.stdout


def test_export_triplets_load_back_as_triplets(filled: tuple[Path, str]) -> None:
    cwd, rollout_id = filled
    out = run_cli(["export", "--format", "triplets", "-o", "train.jsonl"], cwd, program=CLI)
    assert out.returncode == 0, out.stderr
    triplets = [Triplet.model_validate_json(line) for line in (cwd / "train.jsonl").read_text().splitlines()]
    assert len(triplets) == 2
    assert triplets[-1].reward == 0.75  # the reward goes to the last call before it
    assert all(t.metadata["rollout_id"] == rollout_id for t in triplets)


def test_export_spans_and_messages(filled: tuple[Path, str]) -> None:
    cwd, rollout_id = filled
    spans = run_cli(["export", "--format", "spans", "--rollout", rollout_id], cwd, program=CLI)
    assert spans.returncode == 0, spans.stderr
    loaded = [Span.model_validate_json(line) for line in spans.stdout.splitlines()]
    assert {s.rollout_id for s in loaded} == {rollout_id}
    assert sum(s.name == "chat tiny" for s in loaded) == 2
    messages = run_cli(["export", "--format", "messages"], cwd, program=CLI)
    assert messages.returncode == 0
    assert messages.stdout == ""  # content capture was off: no record could train anything


def test_capture_content_gives_messages_records(tmp_path: Path, server: ScriptedOpenAIServer) -> None:
    assert (
        run_cli(["--capture-content", str(write_agent(tmp_path))], tmp_path, base_url=server.base_url).returncode == 0
    )
    out = run_cli(["export", "--format", "messages"], tmp_path, program=CLI)
    records = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["messages"][0]["content"] for r in records] == ["What is 2 + 2?", "What is 3 + 3?"]


def _one_error_line(out: object) -> str:
    stderr: str = out.stderr  # type: ignore[attr-defined]
    assert out.returncode == 2, stderr  # type: ignore[attr-defined]
    assert len(stderr.strip().splitlines()) == 1, stderr
    return stderr


def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path: Path) -> None:
    assert "missing.py: no such file" in _one_error_line(run_cli(["missing.py"], tmp_path))
    assert "no module named 'nope'" in _one_error_line(run_cli(["-m", "nope"], tmp_path))
    assert not (tmp_path / ".agentlightning").exists()  # no store was made for a run that could not start

    not_a_store = tmp_path / "notes.txt"
    not_a_store.write_text("my notes\n")
    script = write_agent(tmp_path)
    error = _one_error_line(run_cli(["--store", str(not_a_store), str(script)], tmp_path))
    assert "is not an agentlightning store" in error
    assert not_a_store.read_text() == "my notes\n"

    broken = tmp_path / "broken.yaml"
    broken.write_text("interactions: [unclosed\n")
    error = _one_error_line(run_cli(["--replay", str(broken), str(script)], tmp_path))
    assert "the cassette does not parse" in error and "--record" in error
    assert "no such cassette" in _one_error_line(run_cli(["--replay", "none.yaml", str(script)], tmp_path))

    error = _one_error_line(run_cli(["--disable", "nosuch", str(script)], tmp_path))
    assert "no such instrumentation plugin; installed:" in error and "openai" in error

    assert "no store at" in _one_error_line(run_cli(["ls"], tmp_path, program=CLI))
    assert "no store at" in _one_error_line(run_cli(["show"], tmp_path, program=CLI))
    assert not (tmp_path / ".agentlightning").exists()


def test_an_unknown_rollout_id_is_a_usage_error(filled: tuple[Path, str]) -> None:
    cwd, _ = filled
    for command in (
        ["show", "ro-000000000000"],
        ["export", "--rollout", "ro-000000000000"],
        ["report", "--rollout", "ro-000000000000"],
    ):
        error = _one_error_line(run_cli(command, cwd, program=CLI))
        assert "no rollout ro-000000000000 in the store" in error
    assert not (cwd / "report.html").exists()


def test_run_and_ls_on_a_postgresql_store(tmp_path: Path, server: ScriptedOpenAIServer, postgres_server: Any) -> None:
    """`--store postgresql://...` works for `agentlightning-run` and the reading commands alike."""
    dsn = postgres_server.dsn()
    out = run_cli(["--store", dsn, str(write_agent(tmp_path))], tmp_path, base_url=server.base_url)
    assert out.returncode == 0, out.stderr
    rollout_id = run_rollout_id(out.stderr)
    listed = run_cli(["ls", "--store", dsn], tmp_path, program=CLI)
    assert listed.returncode == 0, listed.stderr
    row = next(line for line in listed.stdout.splitlines() if line.startswith(rollout_id))
    assert row.split()[1] == "succeeded"
    assert not (tmp_path / ".agentlightning").exists()  # nothing went to the default SQLite store
