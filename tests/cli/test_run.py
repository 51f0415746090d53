"""`agentlightning-run` on an unchanged agent script, in a subprocess, against the local scripted server."""

from __future__ import annotations

import importlib.util
import signal
import subprocess
from pathlib import Path

import pytest

from agentlightning.testing import ScriptedOpenAIServer

from ._helpers import CLI, RUN, env, llm_spans, run_cli, run_rollout_id, shape, stored, write_agent

pytestmark = pytest.mark.slow
NEEDS_VCRPY = pytest.mark.skipif(
    importlib.util.find_spec("vcr") is None,
    reason="cassettes need vcrpy >= 9, which needs Python >= 3.11 (not installed here)",
)


def test_a_run_traces_the_script_into_its_rollout_and_summarises_it(
    tmp_path: Path, server: ScriptedOpenAIServer
) -> None:
    script = write_agent(tmp_path)
    out = run_cli([str(script), "one", "--two"], tmp_path, base_url=server.base_url)
    assert out.returncode == 0, out.stderr
    assert "argv: ['one', '--two'] name: __main__ file: agent.py" in out.stdout
    rollout_id = run_rollout_id(out.stderr)
    rollout, spans = stored(tmp_path / ".agentlightning" / "store.db", rollout_id)
    assert rollout.status == "succeeded"
    calls = llm_spans(spans)
    assert [s.name for s in calls] == ["chat tiny", "chat tiny"]
    assert all(s.rollout_id == rollout_id for s in spans)
    for line in (
        "rollouts    1 (succeeded 1)",
        "LLM calls   2 (tiny 2)",
        "tool calls  0",
        "errors      0",
        "rewards     1: mean 0.75",
    ):
        assert line in out.stderr, out.stderr
    tokens_in = sum(s.attributes["gen_ai.usage.input_tokens"] for s in calls)
    tokens_out = sum(s.attributes["gen_ai.usage.output_tokens"] for s in calls)
    assert f"tokens      in {tokens_in} / out {tokens_out}" in out.stderr
    assert f"spans       {len(spans)}" in out.stderr
    assert "agentlightning ls" in out.stderr and "wall time" in out.stderr


def test_the_scripts_own_exit_code_is_the_commands(tmp_path: Path, server: ScriptedOpenAIServer) -> None:
    out = run_cli([str(write_agent(tmp_path)), "exit"], tmp_path, base_url=server.base_url)
    assert out.returncode == 7, out.stderr
    rollout, spans = stored(tmp_path / ".agentlightning" / "store.db", run_rollout_id(out.stderr))
    assert rollout.status == "failed"
    assert len(llm_spans(spans)) == 2  # stored before exit


def test_an_uncaught_exception_prints_its_traceback_fails_the_rollout_and_exits_1(
    tmp_path: Path, server: ScriptedOpenAIServer
) -> None:
    out = run_cli([str(write_agent(tmp_path)), "raise"], tmp_path, base_url=server.base_url)
    assert out.returncode == 1
    assert "Traceback (most recent call last)" in out.stderr
    assert "RuntimeError: the agent broke" in out.stderr
    assert "runpy" not in out.stderr and "_run.py" not in out.stderr  # the user's frames only
    rollout, spans = stored(tmp_path / ".agentlightning" / "store.db", run_rollout_id(out.stderr))
    assert rollout.status == "failed"
    assert len(llm_spans(spans)) == 2


def test_ctrl_c_stores_the_spans_cancels_the_rollout_and_exits_130(
    tmp_path: Path, server: ScriptedOpenAIServer
) -> None:
    proc = subprocess.Popen(
        [RUN, str(write_agent(tmp_path)), "sleep"],
        cwd=tmp_path,
        env=env(server.base_url),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            if line.strip() == "ready":
                break
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:  # a failed step must not leave the child (and a ResourceWarning) behind
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, stderr
    rollout, spans = stored(tmp_path / ".agentlightning" / "store.db", run_rollout_id(stderr))
    assert rollout.status == "cancelled"
    assert len(llm_spans(spans)) == 2


@NEEDS_VCRPY
def test_record_then_replay_with_the_server_stopped_gives_the_same_spans(tmp_path: Path) -> None:
    script = write_agent(tmp_path)
    cassette = tmp_path / "cassettes" / "run.yaml"
    with ScriptedOpenAIServer() as live:
        recorded = run_cli(["--record", str(cassette), str(script)], tmp_path, base_url=live.base_url)
        url = live.base_url
    assert recorded.returncode == 0, recorded.stderr
    assert "sk-secret-key" not in cassette.read_text()  # credentials never written
    replayed = run_cli(["--replay", str(cassette), str(script)], tmp_path, base_url=url)  # nobody listens now
    assert replayed.returncode == 0, replayed.stderr
    db = tmp_path / ".agentlightning" / "store.db"
    _, first = stored(db, run_rollout_id(recorded.stderr))
    _, second = stored(db, run_rollout_id(replayed.stderr))
    assert len(shape(first)) == 2
    assert shape(second) == shape(first)
    assert replayed.stdout == recorded.stdout


@NEEDS_VCRPY
def test_replay_names_a_request_missing_from_the_cassette(tmp_path: Path, server: ScriptedOpenAIServer) -> None:
    script = write_agent(tmp_path)
    cassette = tmp_path / "run.yaml"
    assert run_cli(["--record", str(cassette), str(script)], tmp_path, base_url=server.base_url).returncode == 0
    out = run_cli(["--replay", str(cassette), str(script), "extra"], tmp_path, base_url=server.base_url)
    assert out.returncode == 1
    assert f"POST {server.base_url}/chat/completions is not in the cassette {cassette}" in out.stderr
    assert len(server.requests) == 2  # the replay sent nothing to the network


def test_disable_openai_gives_no_openai_spans(tmp_path: Path, server: ScriptedOpenAIServer) -> None:
    out = run_cli(["--disable", "openai", str(write_agent(tmp_path))], tmp_path, base_url=server.base_url)
    assert out.returncode == 0, out.stderr
    _, spans = stored(tmp_path / ".agentlightning" / "store.db", run_rollout_id(out.stderr))
    assert llm_spans(spans) == []
    assert [s.name for s in spans] == ["agentlightning.annotation"] or "agentlightning.annotation" in {
        s.name for s in spans
    }
    assert len(server.requests) == 2  # the calls still happened, untraced


def test_a_module_runs_like_python_dash_m_with_relative_imports(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "helper.py").write_text("VALUE = 42\n")
    (package / "main.py").write_text(
        "import sys\nfrom .helper import VALUE\nprint('value', VALUE, __name__, sys.argv[1:], sys.path[0])\n"
    )
    out = run_cli(["--quiet", "-m", "pkg.main", "x"], tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"value 42 __main__ ['x'] {tmp_path}"
    assert out.stderr == ""  # --quiet


def test_python_dash_m_agentlightning_and_version(tmp_path: Path) -> None:
    import sys

    out = subprocess.run([sys.executable, "-m", "agentlightning", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("agentlightning "), out.stderr
    out = subprocess.run([CLI, "run", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("agentlightning ")
