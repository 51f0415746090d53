"""Patching lifecycle: idempotence, removal, import order, our own failures, suppression, one span per call."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
from typing import Any

import agentlightning_openai
import openai
import pytest
from agentlightning_openai import _chat
from openai.resources.chat.completions import AsyncCompletions, Completions
from openai.resources.embeddings import Embeddings
from openai.resources.responses import Responses
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.instrumentation.utils import suppress_instrumentation

from agentlightning.instrumentation import (
    get_instrumentor,
    instrument_all,
    instrument_openai,
    llm_span_active,
    uninstrument_all,
    uninstrument_openai,
)
from agentlightning.testing import Reply, ScriptedOpenAIServer, ToolCall

MESSAGES = [{"role": "user", "content": "hi"}]
ORIGINALS = {
    (Completions, "create"): Completions.__dict__["create"],
    (AsyncCompletions, "create"): AsyncCompletions.__dict__["create"],
    (Completions, "parse"): Completions.__dict__["parse"],
    (Responses, "create"): Responses.__dict__["create"],
    (Embeddings, "create"): Embeddings.__dict__["create"],
}


@pytest.fixture(autouse=True)
def _clean() -> Any:
    uninstrument_all()
    yield
    uninstrument_all()


def _call(client: openai.OpenAI) -> Any:
    return client.chat.completions.create(model="m", messages=MESSAGES)


def test_double_instrument_gives_one_span(client: openai.OpenAI, llm_spans: Any) -> None:
    instrument_openai()
    instrument_all()
    instrument_openai()
    _call(client)
    assert len(llm_spans()) == 1
    # a second, independent instrumentor instance layers on top, and still one span per call
    other = agentlightning_openai.OpenAIInstrumentor()
    other.instrument()
    try:
        _call(client)
    finally:
        other.uninstrument()
    assert len(llm_spans()) == 2


def test_instrument_uninstrument_instrument(client: openai.OpenAI, llm_spans: Any) -> None:
    instrument_openai()
    _call(client)
    uninstrument_openai()
    _call(client)
    instrument_openai()
    _call(client)
    assert len(llm_spans()) == 2


def test_uninstrument_all_restores_originals(client: openai.OpenAI, llm_spans: Any) -> None:
    instrument_all()
    assert Completions.__dict__["create"] is not ORIGINALS[(Completions, "create")]
    assert get_instrumentor("openai").is_instrumented
    uninstrument_all()
    for (cls, name), original in ORIGINALS.items():
        assert cls.__dict__[name] is original, f"{cls.__name__}.{name} was not restored"
    _call(client)
    client.embeddings.create(model="e", input="x")
    assert llm_spans() == []


def test_uninstrument_keeps_a_wrapper_added_on_top(client: openai.OpenAI, llm_spans: Any) -> None:
    import wrapt

    seen: list[str] = []

    def theirs(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        seen.append("theirs")
        return wrapped(*args, **kwargs)

    instrument_openai()
    wrapt.wrap_function_wrapper(Completions, "create", theirs)
    try:
        uninstrument_openai()
        outer = Completions.__dict__["create"]
        assert outer.__wrapped__ is ORIGINALS[(Completions, "create")]
        _call(client)
        assert seen == ["theirs"] and llm_spans() == []
    finally:
        Completions.create = ORIGINALS[(Completions, "create")]


def test_failure_in_our_attribute_code_never_reaches_the_user(
    client: openai.OpenAI,
    server: ScriptedOpenAIServer,
    llm_spans: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("AGENTLIGHTNING_STRICT", "0")
    server.script(Reply(content="same"), Reply(content="a b"))
    bare = _call(client)
    bare_stream = [c.model_dump() for c in client.chat.completions.create(model="m", messages=MESSAGES, stream=True)]

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("injected failure in attribute code")

    instrument_openai()
    monkeypatch.setattr(_chat, "_token_ids", broken)  # response attributes
    monkeypatch.setattr(_chat.ChatStreamHandler, "_tool_delta", staticmethod(broken))  # per stream chunk
    server.script(Reply(content="same"), Reply(content="same"), Reply(content="a b", tool_calls=[ToolCall("f", "{}")]))
    with caplog.at_level(logging.ERROR, logger="agentlightning.instrumentation"):
        first = _call(client)
        second = _call(client)
        streamed = [c.model_dump() for c in client.chat.completions.create(model="m", messages=MESSAGES, stream=True)]
    for result in (first, second):
        assert type(result) is type(bare)
        assert result.model_dump(exclude={"id"}) == bare.model_dump(exclude={"id"})
    assert len(streamed) == len(bare_stream) + 3  # the tool-call chunks still reach the user
    reports = [r for r in caplog.records if "failed internally" in r.getMessage()]
    assert len(reports) == 2  # once per site (response attributes, stream item), not once per call
    assert "Your call was not affected" in reports[0].getMessage()
    assert len(llm_spans()) == 3  # the spans still end


def test_failure_in_request_attributes_calls_the_original_untraced(
    client: openai.OpenAI, llm_spans: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENTLIGHTNING_STRICT", "0")
    instrument_openai()

    def broken(value: Any) -> Any:
        raise ValueError("injected")

    monkeypatch.setattr(_chat, "_output_type", broken)
    assert _call(client).choices[0].message.content
    assert llm_spans() == []


def test_strict_mode_reraises_our_failures(client: openai.OpenAI, monkeypatch: pytest.MonkeyPatch, spans: Any) -> None:
    assert os.environ.get("AGENTLIGHTNING_STRICT") == "1"  # set by tests/conftest.py
    instrument_openai()

    def broken(*args: Any) -> Any:
        raise RuntimeError("injected failure")

    monkeypatch.setattr(_chat, "_token_ids", broken)
    with pytest.raises(RuntimeError, match="injected failure"):
        _call(client)


def test_suppressed_instrumentation_makes_no_span(client: openai.OpenAI, llm_spans: Any) -> None:
    instrument_openai()
    with suppress_instrumentation():
        _call(client)
    token = otel_context.attach(otel_context.set_value("suppress_language_model_instrumentation", True))
    try:
        _call(client)
    finally:
        otel_context.detach(token)
    assert llm_spans() == []


def test_outer_llm_span_wins_and_marks_the_call(client: openai.OpenAI, llm_spans: Any, spans: Any) -> None:
    from agentlightning.instrumentation import llm_span_scope

    instrument_openai()
    tracer = trace.get_tracer("outer.framework")
    with tracer.start_as_current_span("chat outer") as outer, llm_span_scope(outer):
        _call(client)
    assert llm_spans() == []
    assert [s.name for s in spans.get_finished_spans()] == ["chat outer"]
    assert not llm_span_active()


def test_llm_span_is_current_and_marked_during_the_call(
    client: openai.OpenAI, llm_spans: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Inside the call (e.g. an HTTP instrumentation below us) our span is current and the marker is set."""
    instrument_openai()
    seen: list[Any] = []
    original = client._client.send  # the httpx2 client openai uses; we only observe it here

    def send(*args: Any, **kwargs: Any) -> Any:
        seen.append((trace.get_current_span().name, llm_span_active()))
        return original(*args, **kwargs)

    monkeypatch.setattr(client._client, "send", send)
    _call(client)
    assert seen == [("chat m", True)]
    assert not llm_span_active()
    span = llm_spans()[0]
    assert span.parent is None


def test_spans_nest_under_the_callers_span(client: openai.OpenAI, llm_spans: Any) -> None:
    instrument_openai()
    with trace.get_tracer("test").start_as_current_span("agent") as parent:
        _call(client)
    assert llm_spans()[0].parent.span_id == parent.get_span_context().span_id


def test_disabled_by_environment(monkeypatch: pytest.MonkeyPatch, client: openai.OpenAI, llm_spans: Any) -> None:
    monkeypatch.setenv("AGENTLIGHTNING_DISABLED_INSTRUMENTATIONS", "langchain, OpenAI")
    assert "openai" not in instrument_all()
    _call(client)
    assert llm_spans() == []
    # instrument_all(disabled=...) adds to the environment's list (its docstring); it never overrides it
    assert "openai" not in instrument_all(disabled=[])
    assert "openai" not in instrument_all(disabled=["langchain"])
    _call(client)
    assert llm_spans() == []


IMPORT_ORDER_SCRIPT = textwrap.dedent(
    """
    import sys
    from agentlightning.testing import ScriptedOpenAIServer, get_test_exporter
    from agentlightning.instrumentation import instrument_all
    exporter = get_test_exporter()
    ORDER = sys.argv[1]
    if ORDER == "before":
        instrument_all()
        assert "openai" not in sys.modules, "instrumenting must not import openai"
        import openai
    elif ORDER == "after":
        import openai
        instrument_all()
    else:
        from openai.resources.chat.completions import Completions
        import openai
        instrument_all()
    with ScriptedOpenAIServer() as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0)
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
        if ORDER == "from-import":
            Completions(client).create(model="direct", messages=[{"role": "user", "content": "hi"}])
    print(sorted(s.name for s in exporter.get_finished_spans()))
    """
)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("order", "expected"),
    [("before", ["chat m"]), ("after", ["chat m"]), ("from-import", ["chat direct", "chat m"])],
)
def test_import_order(order: str, expected: list[str]) -> None:
    env = {**os.environ, "AGENTLIGHTNING_STRICT": "1"}
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_ORDER_SCRIPT, order], capture_output=True, text=True, timeout=60, env=env
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == repr(expected)
