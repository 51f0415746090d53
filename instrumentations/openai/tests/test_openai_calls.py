"""The real openai client against the scripted local server: one honest span per call."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest
from opentelemetry.trace import SpanKind, StatusCode
from pydantic import BaseModel

from agentlightning import semconv as sc
from agentlightning.instrumentation import instrument_openai, uninstrument_all
from agentlightning.testing import Reply, ScriptedOpenAIServer, ToolCall

pytestmark = pytest.mark.usefixtures("instrumented")

MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is 2 + 2?"}]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "add",
            "description": "Add two numbers",
            "parameters": {"type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "number"}}},
        },
    }
]


def attrs(span: Any) -> dict[str, Any]:
    return dict(span.attributes or {})


def test_sync_chat(client: openai.OpenAI, server: ScriptedOpenAIServer, llm_spans: Any) -> None:
    server.script(Reply(content="Four."))
    result = client.chat.completions.create(
        model="gpt-test", messages=MESSAGES, temperature=0.2, top_p=0.9, max_tokens=50, seed=7, stop=["\n"]
    )
    assert result.choices[0].message.content == "Four."
    [span] = llm_spans()
    assert span.name == "chat gpt-test"
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    a = attrs(span)
    assert a[sc.GEN_AI_OPERATION_NAME] == "chat"
    assert a[sc.GEN_AI_PROVIDER_NAME] == "openai"
    assert a[sc.GEN_AI_REQUEST_MODEL] == "gpt-test"
    assert a[sc.GEN_AI_REQUEST_TEMPERATURE] == 0.2
    assert a[sc.GEN_AI_REQUEST_TOP_P] == 0.9
    assert a[sc.GEN_AI_REQUEST_MAX_TOKENS] == 50
    assert a[sc.GEN_AI_REQUEST_SEED] == 7
    assert a[sc.GEN_AI_REQUEST_STOP_SEQUENCES] == ("\n",)
    assert a[sc.GEN_AI_RESPONSE_ID] == result.id
    assert a[sc.GEN_AI_RESPONSE_MODEL] == "gpt-test"
    assert a[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    assert a[sc.GEN_AI_USAGE_INPUT_TOKENS] == result.usage.prompt_tokens
    assert a[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == result.usage.completion_tokens
    # content is off by default
    assert sc.GEN_AI_INPUT_MESSAGES not in a and sc.GEN_AI_OUTPUT_MESSAGES not in a


async def test_async_chat(aclient: openai.AsyncOpenAI, server: ScriptedOpenAIServer, llm_spans: Any) -> None:
    server.script(Reply(content="Four."))
    result = await aclient.chat.completions.create(model="gpt-async", messages=MESSAGES)
    assert result.choices[0].message.content == "Four."
    [span] = llm_spans()
    assert span.name == "chat gpt-async"
    assert attrs(span)[sc.GEN_AI_RESPONSE_ID] == result.id


@pytest.mark.parametrize("capture", [False, True], ids=["capture-off", "capture-on"])
def test_request_is_never_changed(server: ScriptedOpenAIServer, capture: bool) -> None:
    """The bytes on the wire are the same with and without instrumentation (no injected stream_options), also
    when the caller passes generators, which reading them for the span would consume."""
    instrument_openai(capture_content=capture)
    call = {"id": "c1", "type": "function", "function": {"name": "add", "arguments": "{}"}}

    def calls(c: openai.OpenAI) -> list[tuple[str, Any]]:
        server.reset()
        c.chat.completions.create(model="m", messages=MESSAGES, stream=True).close()
        c.chat.completions.create(model="m", messages=MESSAGES, tools=TOOLS)
        c.chat.completions.create(model="m", messages=(m for m in MESSAGES), tools=iter(TOOLS))  # type: ignore[arg-type]
        c.chat.completions.create(
            model="m", messages=[{"role": "user", "content": iter([{"type": "text", "text": "hi"}])}]
        )
        c.chat.completions.create(
            model="m",
            messages=[
                {"role": "assistant", "content": None, "tool_calls": iter([call])},
                {"role": "tool", "tool_call_id": "c1", "content": "4"},
            ],
        )
        c.embeddings.create(model="e", input=(t for t in ["a", "b"]))
        return [(r.path, r.json) for r in server.requests]

    with openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0) as c:
        instrumented = calls(c)
        uninstrument_all()
        bare = calls(c)
    assert instrumented == bare
    assert "stream_options" not in bare[0][1]
    assert instrumented[2][1]["messages"] == MESSAGES
    assert instrumented[3][1]["messages"][0]["content"] == [{"type": "text", "text": "hi"}]
    assert instrumented[4][1]["messages"][0]["tool_calls"] == [call]
    assert instrumented[5][1]["input"] == ["a", "b"]


@pytest.mark.parametrize("as_context_manager", [False, True])
def test_sync_stream(
    client: openai.OpenAI, server: ScriptedOpenAIServer, llm_spans: Any, as_context_manager: bool
) -> None:
    server.script(Reply(content="one two three"))
    kwargs: dict[str, Any] = {"model": "m", "messages": MESSAGES, "stream": True}
    kwargs["stream_options"] = {"include_usage": True}
    stream = client.chat.completions.create(**kwargs)
    assert isinstance(stream, openai.Stream)  # the proxy passes isinstance checks
    if as_context_manager:
        with stream as s:
            assert s is stream
            text = "".join(c.choices[0].delta.content or "" for c in s if c.choices)
    else:
        text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == "one two three"
    [span] = llm_spans()
    a = attrs(span)
    assert a[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    assert a[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 3  # streamed usage chunk, because the caller asked for it
    assert a[sc.GEN_AI_RESPONSE_ID].startswith("chatcmpl-")


async def test_async_stream(aclient: openai.AsyncOpenAI, server: ScriptedOpenAIServer, llm_spans: Any) -> None:
    server.script(Reply(content="one two"))
    stream = await aclient.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    async with stream as s:
        parts = [c.choices[0].delta.content async for c in s if c.choices]
    assert "".join(p or "" for p in parts) == "one two"
    [span] = llm_spans()
    assert attrs(span)[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    assert sc.GEN_AI_USAGE_INPUT_TOKENS not in attrs(span)  # no usage chunk was asked for


def test_stream_helper_makes_one_span(client: openai.OpenAI, server: ScriptedOpenAIServer, llm_spans: Any) -> None:
    server.script(Reply(content="via the helper"))
    with client.chat.completions.stream(model="m", messages=MESSAGES) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].message.content == "via the helper"
    [span] = llm_spans()
    assert attrs(span)[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)


def test_tool_calls(client: openai.OpenAI, server: ScriptedOpenAIServer, llm_spans: Any) -> None:
    server.script(Reply(content=None, tool_calls=[ToolCall("add", '{"a": 2, "b": 2}', id="call_x")]))
    result = client.chat.completions.create(model="m", messages=MESSAGES, tools=TOOLS)
    assert result.choices[0].message.tool_calls[0].function.name == "add"
    a = attrs(llm_spans()[0])
    assert a[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("tool_calls",)
    assert json.loads(a[sc.AGL_TOOL_CALLS]) == [{"id": "call_x", "name": "add"}]  # no arguments without content
    assert json.loads(a[sc.GEN_AI_TOOL_DEFINITIONS]) == [{"type": "function", "name": "add"}]  # nor descriptions


def test_streamed_tool_call_deltas_are_assembled(
    client: openai.OpenAI, server: ScriptedOpenAIServer, llm_spans: Any
) -> None:
    instrument_openai(capture_content=True)  # re-instrumenting updates the running config
    calls = [ToolCall("add", '{"a": 2, "b": 2}'), ToolCall("mul", '{"a": 3, "b": 5}')]
    server.script(Reply(content=None, tool_calls=calls))
    for _ in client.chat.completions.create(model="m", messages=MESSAGES, tools=TOOLS, stream=True):
        pass
    a = attrs(llm_spans()[0])
    assert [(c["name"], c["arguments"]) for c in json.loads(a[sc.AGL_TOOL_CALLS])] == [
        ("add", '{"a": 2, "b": 2}'),
        ("mul", '{"a": 3, "b": 5}'),
    ]
    [output] = json.loads(a[sc.GEN_AI_OUTPUT_MESSAGES])
    assert output["finish_reason"] == "tool_calls"
    assert [p["name"] for p in output["parts"] if p["type"] == "tool_call"] == ["add", "mul"]


def test_content_capture(client: openai.OpenAI, server: ScriptedOpenAIServer, llm_spans: Any) -> None:
    instrument_openai(capture_content=True)
    server.script(Reply(content="Four."))
    history = [*MESSAGES, {"role": "assistant", "content": None, "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "add", "arguments": "{}"}}
    ]}, {"role": "tool", "tool_call_id": "c1", "content": "4"}]  # fmt: skip
    client.chat.completions.create(model="m", messages=history)
    a = attrs(llm_spans()[0])
    inputs = json.loads(a[sc.GEN_AI_INPUT_MESSAGES])
    assert inputs[0] == {"role": "system", "parts": [{"type": "text", "content": "Be brief."}]}
    assert inputs[2]["parts"][0] == {"type": "tool_call", "id": "c1", "name": "add", "arguments": "{}"}
    assert inputs[3] == {"role": "tool", "parts": [{"type": "tool_call_response", "id": "c1", "response": "4"}]}
    outputs = json.loads(a[sc.GEN_AI_OUTPUT_MESSAGES])
    assert outputs == [{"role": "assistant", "parts": [{"type": "text", "content": "Four."}], "finish_reason": "stop"}]


def test_content_capture_from_environment(
    server: ScriptedOpenAIServer, client: openai.OpenAI, llm_spans: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    uninstrument_all()
    monkeypatch.setenv(sc.OTEL_CAPTURE_CONTENT_ENV, "true")
    instrument_openai()
    client.chat.completions.create(model="m", messages=MESSAGES)
    assert sc.GEN_AI_INPUT_MESSAGES in attrs(llm_spans()[0])


@pytest.mark.parametrize("style", ["vllm", "agentlightning"])
def test_token_ids(client: openai.OpenAI, server: ScriptedOpenAIServer, llm_spans: Any, style: str) -> None:
    reply = Reply(content="a b", prompt_token_ids=[1, 2, 3], response_token_ids=[7, 8], token_ids_style=style)
    server.script(reply)
    client.chat.completions.create(model="m", messages=MESSAGES)
    a = attrs(llm_spans()[0])
    assert a[sc.AGL_PROMPT_TOKEN_IDS] == (1, 2, 3)
    assert a[sc.AGL_RESPONSE_TOKEN_IDS] == (7, 8)


def test_streamed_token_ids(client: openai.OpenAI, server: ScriptedOpenAIServer, llm_spans: Any) -> None:
    server.script(Reply(content="a b c", prompt_token_ids=[1, 2], response_token_ids=[7, 8, 9]))
    list(client.chat.completions.create(model="m", messages=MESSAGES, stream=True))
    a = attrs(llm_spans()[0])
    assert a[sc.AGL_PROMPT_TOKEN_IDS] == (1, 2)
    assert a[sc.AGL_RESPONSE_TOKEN_IDS] == (7, 8, 9)


def test_with_raw_response(client: openai.OpenAI, server: ScriptedOpenAIServer, llm_spans: Any) -> None:
    server.script(Reply(content="raw"))
    raw = client.chat.completions.with_raw_response.create(model="m", messages=MESSAGES)
    assert raw.headers["x-request-id"].startswith("req_")
    completion = raw.parse()
    assert completion.choices[0].message.content == "raw"
    assert raw.parse() is completion
    [span] = llm_spans()
    assert attrs(span)[sc.GEN_AI_RESPONSE_ID] == completion.id


@pytest.mark.parametrize("api", ["raw", "streaming_response"])
def test_raw_response_streaming(client: openai.OpenAI, server: ScriptedOpenAIServer, llm_spans: Any, api: str) -> None:
    server.script(Reply(content="raw stream"))
    if api == "raw":
        raw = client.chat.completions.with_raw_response.create(model="m", messages=MESSAGES, stream=True)
        assert raw.headers["content-type"].startswith("text/event-stream")
        assert llm_spans() == []  # not finished before the stream is read
        text = "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
    else:
        with client.chat.completions.with_streaming_response.create(model="m", messages=MESSAGES, stream=True) as r:
            assert r.headers["content-type"].startswith("text/event-stream")
            text = "".join(c.choices[0].delta.content or "" for c in r.parse() if c.choices)
    assert text == "raw stream"
    [span] = llm_spans()
    assert attrs(span)[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)


async def test_async_raw_response(aclient: openai.AsyncOpenAI, server: ScriptedOpenAIServer, llm_spans: Any) -> None:
    server.script(Reply(content="raw"), Reply(content="s t"))
    raw = await aclient.chat.completions.with_raw_response.create(model="m", messages=MESSAGES)
    assert raw.parse().choices[0].message.content == "raw"
    async with aclient.chat.completions.with_streaming_response.create(model="m", messages=MESSAGES) as response:
        assert (await response.parse()).choices[0].message.content == "s t"
    assert len(llm_spans()) == 2


class Answer(BaseModel):
    value: int


def test_parse(client: openai.OpenAI, server: ScriptedOpenAIServer, llm_spans: Any) -> None:
    server.script(Reply(content='{"value": 4}'))
    result = client.chat.completions.parse(model="m", messages=MESSAGES, response_format=Answer)
    assert result.choices[0].message.parsed == Answer(value=4)
    [span] = llm_spans()
    assert span.name == "chat m"
    assert attrs(span)[sc.GEN_AI_OUTPUT_TYPE] == "json"


async def test_async_parse(aclient: openai.AsyncOpenAI, server: ScriptedOpenAIServer, llm_spans: Any) -> None:
    server.script(Reply(content='{"value": 5}'))
    result = await aclient.chat.completions.parse(model="m", messages=MESSAGES, response_format=Answer)
    assert result.choices[0].message.parsed == Answer(value=5)
    assert len(llm_spans()) == 1


def test_responses(client: openai.OpenAI, server: ScriptedOpenAIServer, llm_spans: Any) -> None:
    instrument_openai(capture_content=True)
    server.script(Reply(content="Hi there"), Reply(content=None, tool_calls=[ToolCall("add", "{}", id="c9")]))
    result = client.responses.create(model="r-model", input="hello", instructions="Be nice.", max_output_tokens=20)
    assert result.output_text == "Hi there"
    client.responses.create(model="r-model", input=[{"role": "user", "content": "add"}], tools=[
        {"type": "function", "name": "add", "parameters": {"type": "object", "properties": {}}}
    ])  # fmt: skip
    first, second = (attrs(s) for s in llm_spans())
    assert first[sc.GEN_AI_OPERATION_NAME] == "chat"
    assert first[sc.GEN_AI_RESPONSE_ID] == result.id
    assert first[sc.GEN_AI_REQUEST_MAX_TOKENS] == 20
    assert first[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 2
    assert json.loads(first[sc.GEN_AI_SYSTEM_INSTRUCTIONS]) == [{"type": "text", "content": "Be nice."}]
    assert json.loads(first[sc.GEN_AI_OUTPUT_MESSAGES])[0]["parts"] == [{"type": "text", "content": "Hi there"}]
    assert second[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("tool_calls",)
    assert json.loads(second[sc.AGL_TOOL_CALLS]) == [{"id": "c9", "name": "add", "arguments": "{}"}]


class Verdict(BaseModel):
    value: int


def test_responses_parse(client: openai.OpenAI, server: ScriptedOpenAIServer, llm_spans: Any) -> None:
    server.script(Reply(content='{"value": 4}'))
    result = client.responses.parse(model="r-model", input="2 + 2?", text_format=Verdict)
    assert result.output_parsed == Verdict(value=4)
    [span] = llm_spans()
    assert span.name == "chat r-model"
    a = attrs(span)
    assert a[sc.GEN_AI_RESPONSE_ID] == result.id
    assert a[sc.GEN_AI_OUTPUT_TYPE] == "json"
    assert a[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == result.usage.output_tokens


async def test_async_responses_parse(aclient: openai.AsyncOpenAI, server: ScriptedOpenAIServer, llm_spans: Any) -> None:
    server.script(Reply(content='{"value": 5}'))
    result = await aclient.responses.parse(model="r-model", input="2 + 3?", text_format=Verdict)
    assert result.output_parsed == Verdict(value=5)
    [span] = llm_spans()
    assert attrs(span)[sc.GEN_AI_RESPONSE_ID] == result.id


async def test_responses_stream(aclient: openai.AsyncOpenAI, server: ScriptedOpenAIServer, llm_spans: Any) -> None:
    server.script(Reply(content="streamed reply"))
    stream = await aclient.responses.create(model="r", input="hello", stream=True)
    kinds = [event.type async for event in stream]
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    a = attrs(llm_spans()[0])
    assert a[sc.GEN_AI_RESPONSE_ID].startswith("resp_")
    assert a[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 2


def test_embeddings(client: openai.OpenAI, server: ScriptedOpenAIServer, llm_spans: Any) -> None:
    result = client.embeddings.create(model="embed", input=["one two", "three"])
    assert len(result.data) == 2 and len(result.data[0].embedding) == 4
    [span] = llm_spans()
    assert span.name == "embeddings embed"
    a = attrs(span)
    assert a[sc.GEN_AI_OPERATION_NAME] == "embeddings"
    assert a[sc.GEN_AI_USAGE_INPUT_TOKENS] == 3
    assert sc.GEN_AI_REQUEST_ENCODING_FORMATS not in a  # the SDK's own base64 default is not the user's request


async def test_async_embeddings(aclient: openai.AsyncOpenAI, llm_spans: Any) -> None:
    await aclient.embeddings.create(model="embed", input="x", encoding_format="float")
    assert attrs(llm_spans()[0])[sc.GEN_AI_REQUEST_ENCODING_FORMATS] == ("float",)


def test_api_error_reaches_user_unchanged(client: openai.OpenAI, server: ScriptedOpenAIServer, llm_spans: Any) -> None:
    server.script(Reply.error(400, "bad model", code="model_not_found"))
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="nope", messages=MESSAGES)
    assert info.value.status_code == 400 and info.value.code == "model_not_found"
    [span] = llm_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert attrs(span)[sc.ERROR_TYPE] == "BadRequestError"
    assert [e.name for e in span.events] == ["exception"]


async def test_async_api_error(aclient: openai.AsyncOpenAI, server: ScriptedOpenAIServer, llm_spans: Any) -> None:
    server.script(Reply.error(503, "overloaded", type="server_error"))
    with pytest.raises(openai.InternalServerError):
        await aclient.chat.completions.create(model="m", messages=MESSAGES)
    assert llm_spans()[0].status.status_code is StatusCode.ERROR


def test_connection_error(llm_spans: Any) -> None:
    c = openai.OpenAI(base_url="http://127.0.0.1:9/v1", api_key="k", max_retries=0)  # nothing listens on port 9
    with c, pytest.raises(openai.APIConnectionError):
        c.chat.completions.create(model="m", messages=MESSAGES)
    assert llm_spans()[0].attributes[sc.ERROR_TYPE] == "APIConnectionError"


def test_stream_broken_mid_way(client: openai.OpenAI, server: ScriptedOpenAIServer, llm_spans: Any) -> None:
    server.script(Reply(content="one two three four", break_after=2))
    received = []
    with pytest.raises(openai.APIConnectionError):
        for chunk in client.chat.completions.create(model="m", messages=MESSAGES, stream=True):
            received.append(chunk)
    assert len(received) >= 1
    [span] = llm_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert attrs(span)[sc.ERROR_TYPE] == "APIConnectionError"


def test_sync_client_inside_async_def(server: ScriptedOpenAIServer, llm_spans: Any) -> None:
    import asyncio

    async def agent() -> str:
        with openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0) as c:
            answer = c.chat.completions.create(model="sync-in-async", messages=MESSAGES)
        return answer.choices[0].message.content or ""

    assert asyncio.run(agent()) == "Hello from the scripted server!"
    assert [s.name for s in llm_spans()] == ["chat sync-in-async"]
