"""Cassette matching and filtering with the real openai client and httpx against the scripted server."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import openai
import pytest
import yaml
from vcr.errors import CannotOverwriteExistingCassetteException

from agentlightning.testing import Reply, ScriptedOpenAIServer, use_cassette

OFFLINE = "http://127.0.0.1:9/v1"  # nothing listens there: only the cassette can answer


def ask(base_url: str, prompt: str, **client: object) -> str | None:
    with openai.OpenAI(base_url=base_url, api_key="test", max_retries=0, **client) as llm:  # type: ignore[arg-type]
        answer = llm.chat.completions.create(model="m", messages=[{"role": "user", "content": prompt}])
    return answer.choices[0].message.content


def record(path: Path, prompt: str, answer: str, **client: object) -> None:
    with ScriptedOpenAIServer(default=Reply(content=answer)) as server, use_cassette(path, record_mode="once"):
        assert ask(server.base_url, prompt, **client) == answer


def test_a_changed_prompt_does_not_replay_the_old_answer(tmp_path: Path) -> None:
    path = tmp_path / "math.yaml"
    record(path, "What is 2 + 2?", "4")
    with use_cassette(path):
        assert ask(OFFLINE, "What is 2 + 2?") == "4"
    with use_cassette(path), pytest.raises(CannotOverwriteExistingCassetteException) as raised:
        ask(OFFLINE, "What is 3 + 3?")
    message = str(raised.value)
    assert "body differs" in message
    assert '-      "content": "What is 2 + 2?"' in message and '+      "content": "What is 3 + 3?"' in message
    assert "match_body=False" in message


def test_match_body_false_replays_whatever_the_body(tmp_path: Path) -> None:
    path = tmp_path / "math.yaml"
    record(path, "What is 2 + 2?", "4")
    with use_cassette(path, match_body=False):
        assert ask(OFFLINE, "What is 3 + 3?") == "4"


def test_json_bodies_match_whatever_key_order_and_whitespace(tmp_path: Path) -> None:
    path = tmp_path / "raw.yaml"
    sent = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "temperature": 0}
    with ScriptedOpenAIServer() as server, use_cassette(path, record_mode="once"), httpx.Client() as http:
        http.post(f"{server.base_url}/chat/completions", content=json.dumps(sent, separators=(",", ":")))
    reordered = json.dumps(dict(reversed(list(sent.items()))), indent=4)
    with use_cassette(path) as cassette, httpx.Client() as http:
        reply = http.post(f"{OFFLINE}/chat/completions", content=reordered)
        assert reply.json()["choices"][0]["message"]["content"] == "Hello from the scripted server!"
        assert cassette.all_played
    with use_cassette(path), httpx.Client() as http, pytest.raises(CannotOverwriteExistingCassetteException):
        http.post(f"{OFFLINE}/chat/completions", content=json.dumps({**sent, "temperature": 1}))


def test_secrets_in_the_query_string_never_reach_the_cassette(tmp_path: Path) -> None:
    path = tmp_path / "query.yaml"
    query = {
        "api-version": "2024-10-21",
        "key": "SECRET1",
        "api-key": "SECRET2",
        "api_key": "SECRET3",
        "token": "SECRET4",
        "sig": "SECRET5",
        "access_token": "SECRET6",
    }
    record(path, "hi", "hello", default_query=query)
    text = path.read_text()
    assert "SECRET" not in text
    assert "api-version=2024-10-21" in text  # other parameters are kept
    with use_cassette(path):  # the request replays with other secret values, or with none
        assert ask(OFFLINE, "hi", default_query={**query, "key": "OTHER"}) == "hello"
    with use_cassette(path), pytest.raises(CannotOverwriteExistingCassetteException):  # the kept parameters still match
        ask(OFFLINE, "hi", default_query={**query, "api-version": "2025-01-01"})


def session(base_url: str) -> None:
    with openai.OpenAI(base_url=base_url, api_key="test", max_retries=0) as llm:
        llm.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
        for _ in llm.chat.completions.create(model="m", messages=[{"role": "user", "content": "go"}], stream=True):
            pass
        llm.responses.create(model="m", input="and you?")


def test_re_recording_the_same_session_rewrites_the_file_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "session.yaml"
    recordings = []
    for _ in range(2):  # two servers: two different ports
        with ScriptedOpenAIServer() as server, use_cassette(path, record_mode="all"):
            session(server.base_url)
            port = server.port
        text = path.read_text()
        assert f":{port}" not in text
        recordings.append(text)
    assert recordings[0] == recordings[1]
    interactions = yaml.safe_load(recordings[0])["interactions"]
    assert [i["request"]["uri"] for i in interactions] == [
        "http://127.0.0.1/v1/chat/completions",
        "http://127.0.0.1/v1/chat/completions",
        "http://127.0.0.1/v1/responses",
    ]
    for interaction in interactions:
        assert interaction["request"]["headers"]["host"] == ["127.0.0.1"]
        assert not {"date", "x-request-id"} & {h.lower() for h in interaction["response"]["headers"]}
    with use_cassette(path) as cassette:  # and it replays
        session(OFFLINE)
        assert cassette.all_played
