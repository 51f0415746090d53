"""The cassette pytest plugin, run in child pytest processes on a throw-away project."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from agentlightning.testing import ScriptedOpenAIServer
from agentlightning.testing.cassettes import PrettyJSONYAMLSerializer

USER_TEST = textwrap.dedent(
    """
    import os
    import openai
    import pytest

    @pytest.mark.cassette
    def test_greeting():
        client = openai.OpenAI(base_url=os.environ["LLM_BASE_URL"], api_key="sk-secret", organization="org-secret")
        answer = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
        assert answer.choices[0].message.content == "Hello from the scripted server!"

    def test_without_cassette():
        assert True
    """
)


def run_pytest(project: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "AGENTLIGHTNING_STRICT": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(project), *args],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=90,
        env=full_env,
    )


@pytest.mark.slow
def test_record_then_replay_then_missing(tmp_path: Path) -> None:
    (tmp_path / "test_user.py").write_text(USER_TEST)
    cassette = tmp_path / "cassettes" / "test_user" / "test_greeting.yaml"

    # 1. replay-only by default: the missing cassette fails the test with the command that records it
    done = run_pytest(tmp_path, env={"LLM_BASE_URL": "http://127.0.0.1:9/v1"})
    assert done.returncode == 1, done.stdout + done.stderr
    assert "cassettes/test_user/test_greeting.yaml not found" in done.stdout
    assert "--record-mode=once" in done.stdout
    assert "1 passed, 1 error" in done.stdout

    # 2. record against the live local server
    with ScriptedOpenAIServer() as server:
        done = run_pytest(tmp_path, "--record-mode=once", env={"LLM_BASE_URL": server.base_url})
        assert done.returncode == 0, done.stdout + done.stderr
        assert len(server.requests) == 1
    text = cassette.read_text()
    assert "sk-secret" not in text and "org-secret" not in text
    assert "authorization" not in text.lower() and "openai-organization" not in text.lower()
    data = yaml.safe_load(text)
    body = data["interactions"][0]["response"]["body"]["json"]
    assert body.startswith("{\n  ")  # pretty-printed JSON in a literal block

    # 3. replay offline: the server is gone, the test still passes
    done = run_pytest(tmp_path, env={"LLM_BASE_URL": "http://127.0.0.1:9/v1"})
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.slow
def test_plugin_without_vcrpy_does_not_break_pytest(tmp_path: Path) -> None:
    (tmp_path / "test_user.py").write_text(USER_TEST)
    (tmp_path / "conftest.py").write_text("import sys\nsys.modules['vcr'] = None  # as if vcrpy were not installed\n")
    done = run_pytest(tmp_path, env={"LLM_BASE_URL": "http://127.0.0.1:9/v1"})
    assert "1 passed, 1 error" in done.stdout, done.stdout + done.stderr
    assert "pip install 'vcrpy>=9'" in done.stdout


def test_serializer_round_trip() -> None:
    body = '{"a":1,"b":[1,2]}'
    cassette = {
        "version": 1,
        "interactions": [
            {
                "request": {"body": body, "headers": {}, "method": "POST", "uri": "http://x/v1/chat/completions"},
                "response": {
                    "status": {"code": 200, "message": "OK"},
                    "headers": {"Content-Length": ["17"]},
                    "body": {"string": body},
                },
            }
        ],
    }
    text = PrettyJSONYAMLSerializer.serialize(cassette)
    assert '"a": 1' in text
    loaded = PrettyJSONYAMLSerializer.deserialize(text)
    response = loaded["interactions"][0]["response"]
    assert yaml.safe_load(response["body"]["string"]) == {"a": 1, "b": [1, 2]}
    assert response["headers"]["Content-Length"] == [str(len(response["body"]["string"].encode()))]
