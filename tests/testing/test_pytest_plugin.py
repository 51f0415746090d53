"""The cassette pytest plugin, run in child pytest processes on a throw-away project."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from agentlightning.testing import ScriptedOpenAIServer
from agentlightning.testing.cassettes import PrettyJSONYAMLSerializer, use_cassette

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


SAME_NAMES_TEST = textwrap.dedent(
    """
    import os
    import openai
    import pytest

    def ask(model):
        client = openai.OpenAI(base_url=os.environ["LLM_BASE_URL"], api_key="k", max_retries=0)
        return client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}]).model

    @pytest.mark.cassette
    class TestBig:
        def test_answer(self):
            assert ask("MODEL-big") == "MODEL-big"

    @pytest.mark.cassette
    class TestSmall:
        def test_answer(self):
            assert ask("MODEL-small") == "MODEL-small"

    @pytest.mark.cassette
    @pytest.mark.parametrize("size", ["a/1", "b"])
    def test_sized(size):
        assert ask(f"MODEL-{size}") == f"MODEL-{size}"
    """
)


@pytest.mark.slow
def test_every_test_gets_its_own_cassette(tmp_path: Path) -> None:
    """Same test names in two classes, same module names in two folders: no test replays another's answer."""
    for folder in ("a", "b"):
        (tmp_path / "tests" / folder).mkdir(parents=True)
        (tmp_path / "tests" / folder / "__init__.py").write_text("")
        (tmp_path / "tests" / folder / "test_chat.py").write_text(SAME_NAMES_TEST.replace("MODEL", folder))
    (tmp_path / "tests" / "__init__.py").write_text("")
    with ScriptedOpenAIServer() as server:
        done = run_pytest(tmp_path, "--record-mode=once", env={"LLM_BASE_URL": server.base_url})
        assert done.returncode == 0, done.stdout + done.stderr
        assert len(server.requests) == 8
    recorded = sorted(str(p.relative_to(tmp_path / "cassettes")) for p in (tmp_path / "cassettes").rglob("*.yaml"))
    assert recorded == [
        f"tests/{folder}/test_chat/{name}.yaml"
        for folder in ("a", "b")
        for name in ("TestBig.test_answer", "TestSmall.test_answer", "test_sized[a_1]", "test_sized[b]")
    ]
    done = run_pytest(tmp_path, env={"LLM_BASE_URL": "http://127.0.0.1:9/v1"})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "8 passed" in done.stdout


@pytest.mark.slow
def test_a_cassette_at_the_old_default_path_is_pointed_out(tmp_path: Path) -> None:
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_user.py").write_text(USER_TEST)
    old = tmp_path / "cassettes" / "test_user" / "test_greeting.yaml"
    old.parent.mkdir(parents=True)
    old.write_text("interactions: []\nversion: 1\n")
    done = run_pytest(tmp_path, env={"LLM_BASE_URL": "http://127.0.0.1:9/v1"})
    assert "1 passed, 1 error" in done.stdout, done.stdout + done.stderr
    assert "git mv cassettes/test_user/test_greeting.yaml cassettes/tests/test_user/test_greeting.yaml" in done.stdout


@pytest.mark.slow
def test_record_mode_is_ours_when_pytest_recording_is_disabled(tmp_path: Path) -> None:
    """pytest-recording installed but switched off with -p no:recording: --record-mode still works."""
    (tmp_path / "site" / "pytest_recording").mkdir(parents=True)
    (tmp_path / "site" / "pytest_recording" / "__init__.py").write_text("")  # importable, registers nothing
    (tmp_path / "test_plain.py").write_text("def test_plain():\n    assert True\n")
    env = {"PYTHONPATH": os.pathsep.join([str(tmp_path / "site"), os.environ.get("PYTHONPATH", "")])}
    done = run_pytest(tmp_path, "-p", "no:recording", "--record-mode=once", env=env)
    assert done.returncode == 0, done.stdout + done.stderr


def test_unmarked_tests_get_no_cassette_fixture(request: pytest.FixtureRequest) -> None:
    assert [name for name in request.fixturenames if "cassette" in name] == []


def test_serializer_keeps_unicode_line_separators() -> None:
    """YAML reads NEL, LS and PS as line breaks; a body holding them must replay as it was recorded."""
    for char in ("\x85", "\u2028", "\u2029"):
        body = json.dumps({"choices": [{"message": {"content": f"one{char}two\nthree"}}]}, ensure_ascii=False)
        cassette = {
            "version": 1,
            "interactions": [
                {
                    "request": {"body": body, "headers": {}, "method": "POST", "uri": "http://x/v1/chat/completions"},
                    "response": {
                        "status": {"code": 200, "message": "OK"},
                        "headers": {"Content-Length": [str(len(body.encode()))]},
                        "body": {"string": body},
                    },
                }
            ],
        }
        loaded = PrettyJSONYAMLSerializer.deserialize(PrettyJSONYAMLSerializer.serialize(cassette))
        interaction = loaded["interactions"][0]
        assert json.loads(interaction["response"]["body"]["string"]) == json.loads(body), repr(char)
        assert json.loads(interaction["request"]["body"]) == json.loads(body), repr(char)


def test_credential_headers_never_reach_the_cassette(tmp_path: Path) -> None:
    import openai

    path = tmp_path / "session.yaml"
    secrets = {
        "Helicone-Auth": "Bearer " + "-".join(("sk", "helicone", "SECRET1")),  # made up; no key-shaped literal
        "Ocp-Apim-Subscription-Key": "apim-SECRET2",
        "x-portkey-api-key": "pk-SECRET3",
        "Proxy-Authorization": "Basic SECRET4",
        "X-Session-Token": "SECRET5",
    }
    with ScriptedOpenAIServer() as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="sk-SECRET0", max_retries=0, default_headers=secrets)
        with client, use_cassette(path, record_mode="once"):
            client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
        sent = server.requests[0].headers
    assert all(sent[name.lower()] == value for name, value in secrets.items())  # the request itself is untouched
    text = path.read_text()
    assert "SECRET" not in text
    assert "x-stainless-lang" in text.lower()  # other headers are kept
    with use_cassette(path):  # and it replays
        replayed = openai.OpenAI(base_url="http://127.0.0.1:9/v1", api_key="k", max_retries=0)
        assert replayed.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}]).choices


PROMPT_TEST = textwrap.dedent(
    """
    import os
    import openai
    import pytest

    def ask():
        client = openai.OpenAI(base_url=os.environ["LLM_BASE_URL"], api_key="k", max_retries=0)
        messages = [{"role": "user", "content": os.environ["PROMPT"]}]
        return client.chat.completions.create(model="m", messages=messages).choices[0].message.content

    @pytest.mark.cassette
    def test_strict():
        assert ask() == "Hello from the scripted server!"

    @pytest.mark.cassette(match_body=False)
    def test_relaxed():
        assert ask() == "Hello from the scripted server!"
    """
)


@pytest.mark.slow
def test_body_matching_and_the_ways_to_relax_it(tmp_path: Path) -> None:
    (tmp_path / "tests" / "loose").mkdir(parents=True)
    (tmp_path / "tests" / "test_prompt.py").write_text(PROMPT_TEST)
    (tmp_path / "tests" / "loose" / "test_prompt_loose.py").write_text(PROMPT_TEST)
    (tmp_path / "tests" / "loose" / "conftest.py").write_text(
        "import pytest\n\n@pytest.fixture\ndef cassette_options():\n    return {'match_body': False}\n"
    )
    with ScriptedOpenAIServer() as server:
        done = run_pytest(tmp_path, "--record-mode=once", env={"LLM_BASE_URL": server.base_url, "PROMPT": "2 + 2?"})
        assert done.returncode == 0, done.stdout + done.stderr
    offline = {"LLM_BASE_URL": "http://127.0.0.1:9/v1"}

    done = run_pytest(tmp_path, env={**offline, "PROMPT": "2 + 2?"})
    assert "4 passed" in done.stdout, done.stdout + done.stderr
    # The prompt changed: the strict test fails, the marker and the folder's fixture relax it.
    done = run_pytest(tmp_path, "-rf", env={**offline, "PROMPT": "3 + 3?"})
    assert "1 failed, 3 passed" in done.stdout, done.stdout + done.stderr
    assert "FAILED tests/test_prompt.py::test_strict" in done.stdout
    assert "body differs" in done.stdout
    # The command-line option relaxes every test.
    done = run_pytest(tmp_path, "--cassette-ignore-body", env={**offline, "PROMPT": "3 + 3?"})
    assert "4 passed" in done.stdout, done.stdout + done.stderr
    # And so does the ini option.
    ini = "[pytest]\nagentlightning_cassette_match_body = false\nasyncio_default_fixture_loop_scope = function\n"
    (tmp_path / "pytest.ini").write_text(ini)
    done = run_pytest(tmp_path, env={**offline, "PROMPT": "3 + 3?"})
    assert "4 passed" in done.stdout, done.stdout + done.stderr
