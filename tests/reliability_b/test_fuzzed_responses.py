"""Fuzzed input (issue 15): broken responses and SSE streams, served by the local scripted server.

Hypothesis builds bodies from real answers of the scripted server, then breaks them: keys dropped, extra keys,
values of the wrong type, huge strings, unusual unicode, truncated bytes, invalid JSON, garbage SSE lines, a
missing ``[DONE]``, a connection dropped mid-body. For each one the bare openai client and the traced one read
the same bytes: the traced call returns (or raises) exactly what the bare call does, and every span it opened
has ended. The suite's strict mode is on, so an internal failure of ours would change the traced result.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import openai
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentlightning.instrumentation import instrument_openai, uninstrument_all
from agentlightning.testing import Reply, ScriptedOpenAIServer
from agentlightning.testing._replies import chat_chunks, chat_completion
from agentlightning.testing.otel import get_open_span_tracker, get_test_exporter

from ._scenarios import outcome

REQUEST = {"model": "m", "messages": [{"role": "user", "content": "What is 2 + 2?"}]}
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)
odd_text = st.text(st.characters(codec="utf-8"), max_size=50) | st.sampled_from(
    ["\u202e\u0000\ufeff", "🧪" * 1000, "x" * 100_000, "\u0301" * 50, "\ud7ff\ue000"]
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


@st.composite
def mutated(draw: st.DrawFn, document: dict[str, Any]) -> dict[str, Any]:
    """``document`` with a few keys dropped, added or given a value of another type (or odd text)."""
    doc = json.loads(json.dumps(document))
    for _ in range(draw(st.integers(0, 4))):
        paths = _paths(doc)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent: Any = doc
        for step in path[:-1]:
            parent = parent[step]
        action = draw(st.sampled_from(["drop", "wrong_type", "odd_text", "extra"]))
        if action == "drop" and isinstance(parent, dict):
            del parent[path[-1]]
        elif action == "wrong_type":
            parent[path[-1]] = draw(json_values)
        elif action == "odd_text":
            parent[path[-1]] = draw(odd_text)
        elif isinstance(parent, dict):
            parent[draw(st.text(max_size=10))] = draw(json_values)
    return doc


def _base_completion() -> dict[str, Any]:
    return chat_completion(Reply(content="four"), REQUEST, 1)


def _base_chunks() -> list[dict[str, Any]]:
    chunks = chat_chunks(Reply(content="two plus two is four"), REQUEST, 1, include_usage=True)
    return [{k: v for k, v in chunk.items() if k != "_content"} for chunk in chunks]


@st.composite
def json_bodies(draw: st.DrawFn) -> Reply:
    body = json.dumps(draw(mutated(_base_completion())), ensure_ascii=draw(st.booleans())).encode()
    kind = draw(st.sampled_from(["as_is", "cut_bytes", "dropped_connection", "garbage"]))
    if kind == "cut_bytes":
        body = body[: draw(st.integers(0, max(0, len(body) - 1)))]
    elif kind == "garbage":
        body = draw(st.binary(max_size=200))
    truncate = draw(st.integers(0, len(body))) if kind == "dropped_connection" else None
    return Reply(body=body, truncate_to=truncate)


@st.composite
def sse_bodies(draw: st.DrawFn) -> Reply:
    events: list[bytes] = []
    for chunk in _base_chunks():
        choice = draw(st.sampled_from(["keep", "keep", "mutate", "garbage", "skip"]))
        if choice == "keep":
            events.append(b"data: " + json.dumps(chunk).encode())
        elif choice == "mutate":
            events.append(b"data: " + json.dumps(draw(mutated(chunk))).encode())
        elif choice == "garbage":
            events.append(
                draw(st.sampled_from([b"data: {not json", b": comment", b"event: odd", b"data:", b"\xff\xfe"]))
            )
    if draw(st.booleans()):
        events.append(b"data: [DONE]")
    body = b"\n\n".join(events) + b"\n\n"
    truncate = draw(st.integers(0, len(body))) if draw(st.booleans()) else None
    return Reply(body=body, content_type="text/event-stream", truncate_to=truncate)


def _same_on_both(server: ScriptedOpenAIServer, reply: Reply, call: Callable[[openai.OpenAI], Any]) -> None:
    get_test_exporter()  # spans go to a real SDK provider, so every code path runs
    tracker = get_open_span_tracker()

    def run() -> Any:
        server.script(reply)
        with openai.OpenAI(base_url=server.base_url, api_key="test-key", max_retries=0) as client:
            return outcome(lambda: call(client))

    bare = run()
    before = set(tracker.open_spans())
    instrument_openai()
    try:
        traced = run()
    finally:
        uninstrument_all()
    assert traced == bare
    assert set(tracker.open_spans()) <= before, "a span of the traced call never ended"


def _chat(client: openai.OpenAI) -> Any:
    return client.chat.completions.create(**REQUEST).model_dump(mode="json")  # type: ignore[call-overload]


def _stream(client: openai.OpenAI) -> Any:
    stream = client.chat.completions.create(**REQUEST, stream=True)  # type: ignore[call-overload]
    return [chunk.model_dump(mode="json") for chunk in stream]


@FUZZ
@given(reply=json_bodies())
def test_fuzzed_json_responses(reply: Reply) -> None:
    with ScriptedOpenAIServer() as server:
        _same_on_both(server, reply, _chat)


@FUZZ
@given(reply=sse_bodies())
def test_fuzzed_sse_streams(reply: Reply) -> None:
    with ScriptedOpenAIServer() as server:
        _same_on_both(server, reply, _stream)
