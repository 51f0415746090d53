"""Every way a stream can end ends exactly one span, with the right status, sync and async."""

from __future__ import annotations

import gc
from typing import Any

import openai
import pytest
from opentelemetry.trace import StatusCode

from agentlightning import semconv as sc
from agentlightning.testing import Reply, ScriptedOpenAIServer

pytestmark = pytest.mark.usefixtures("instrumented")

MESSAGES = [{"role": "user", "content": "count"}]
WORDS = "one two three four five"


def _one_span(llm_spans: Any) -> Any:
    spans = llm_spans()
    assert len(spans) == 1, [s.name for s in spans]
    return spans[0]


# ---- sync ---------------------------------------------------------------------------------------


def test_sync_fully_consumed(client: openai.OpenAI, server: ScriptedOpenAIServer, llm_spans: Any) -> None:
    server.script(Reply(content=WORDS))
    stream = client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    chunks = list(stream)
    assert len(chunks) == 7  # role, five words, finish
    span = _one_span(llm_spans)
    assert span.status.status_code is StatusCode.UNSET
    assert span.attributes[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    stream.close()  # closing after the end does not end a second span
    assert len(llm_spans()) == 1


def test_sync_break_then_close(client: openai.OpenAI, server: ScriptedOpenAIServer, llm_spans: Any) -> None:
    server.script(Reply(content=WORDS))
    stream = client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    for i, _ in enumerate(stream):
        if i == 1:
            break
    assert llm_spans() == []
    stream.close()
    span = _one_span(llm_spans)
    assert span.status.status_code is StatusCode.UNSET
    assert sc.GEN_AI_RESPONSE_FINISH_REASONS not in span.attributes  # the finish chunk never arrived


def test_sync_leave_with_early(client: openai.OpenAI, server: ScriptedOpenAIServer, llm_spans: Any) -> None:
    server.script(Reply(content=WORDS))
    with client.chat.completions.create(model="m", messages=MESSAGES, stream=True) as stream:
        next(iter(stream))
    span = _one_span(llm_spans)
    assert span.status.status_code is StatusCode.UNSET
    assert span.attributes[sc.GEN_AI_RESPONSE_ID].startswith("chatcmpl-")


def test_sync_never_iterated_then_dropped(client: openai.OpenAI, server: ScriptedOpenAIServer, llm_spans: Any) -> None:
    server.script(Reply(content=WORDS))
    stream = client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    assert llm_spans() == []
    del stream
    gc.collect()
    span = _one_span(llm_spans)
    assert span.status.status_code is StatusCode.UNSET


def test_sync_server_error_mid_stream(client: openai.OpenAI, server: ScriptedOpenAIServer, llm_spans: Any) -> None:
    server.script(Reply(content=WORDS, error_after=2))
    stream = client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    with pytest.raises(openai.APIError, match="crashed mid-stream"):
        for _ in stream:
            pass
    span = _one_span(llm_spans)
    assert span.status.status_code is StatusCode.ERROR  # set before the span ended
    assert span.attributes[sc.ERROR_TYPE] == "APIError"
    stream.close()
    del stream
    gc.collect()
    assert len(llm_spans()) == 1


def test_sync_slow_stream_is_timed_to_its_end(
    client: openai.OpenAI, server: ScriptedOpenAIServer, llm_spans: Any
) -> None:
    server.script(Reply(content="a b c", chunk_delay=0.03))
    list(client.chat.completions.create(model="m", messages=MESSAGES, stream=True))
    span = _one_span(llm_spans)
    assert span.end_time - span.start_time >= 80_000_000  # ns: the span covers the whole stream


# ---- async --------------------------------------------------------------------------------------


async def test_async_fully_consumed(
    aclient: openai.AsyncOpenAI,
    server: ScriptedOpenAIServer,
    llm_spans: Any,
) -> None:
    server.script(Reply(content=WORDS))
    stream = await aclient.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    chunks = [c async for c in stream]
    assert len(chunks) == 7
    span = _one_span(llm_spans)
    assert span.status.status_code is StatusCode.UNSET
    assert span.attributes[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    await stream.close()
    assert len(llm_spans()) == 1


async def test_async_break_then_close(
    aclient: openai.AsyncOpenAI, server: ScriptedOpenAIServer, llm_spans: Any
) -> None:
    server.script(Reply(content=WORDS))
    stream = await aclient.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    async for _ in stream:
        break
    assert llm_spans() == []
    await stream.close()
    assert _one_span(llm_spans).status.status_code is StatusCode.UNSET


async def test_async_leave_with_early(
    aclient: openai.AsyncOpenAI, server: ScriptedOpenAIServer, llm_spans: Any
) -> None:
    server.script(Reply(content=WORDS))
    async with await aclient.chat.completions.create(model="m", messages=MESSAGES, stream=True) as stream:
        await stream.__anext__()
    assert _one_span(llm_spans).status.status_code is StatusCode.UNSET


async def test_async_never_iterated_then_dropped(
    aclient: openai.AsyncOpenAI, server: ScriptedOpenAIServer, llm_spans: Any
) -> None:
    server.script(Reply(content=WORDS))
    stream = await aclient.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    response = stream.response
    del stream
    gc.collect()
    assert _one_span(llm_spans).status.status_code is StatusCode.UNSET
    await response.aclose()  # the dropped stream's connection; not the instrumentation's business


async def test_async_server_error_mid_stream(
    aclient: openai.AsyncOpenAI, server: ScriptedOpenAIServer, llm_spans: Any
) -> None:
    server.script(Reply(content=WORDS, error_after=1))
    stream = await aclient.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    with pytest.raises(openai.APIError, match="crashed mid-stream"):
        async for _ in stream:
            pass
    span = _one_span(llm_spans)
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[sc.ERROR_TYPE] == "APIError"


async def test_async_stream_broken_mid_way(
    aclient: openai.AsyncOpenAI, server: ScriptedOpenAIServer, llm_spans: Any
) -> None:
    server.script(Reply(content=WORDS, break_after=1))
    stream = await aclient.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    with pytest.raises(openai.APIConnectionError):
        async for _ in stream:
            pass
    span = _one_span(llm_spans)
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[sc.ERROR_TYPE] == "APIConnectionError"


# ---- openai's .stream() helpers, left early -----------------------------------------------------
# They close raw_stream.response, not the stream; the span must still end there, not at garbage collection
# (by then the rollout's trace context has been flushed without it).


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_sync_stream_helper_left_early(
    client: openai.OpenAI, server: ScriptedOpenAIServer, llm_spans: Any, api: str
) -> None:
    server.script(Reply(content=WORDS))
    manager: Any = (
        client.chat.completions.stream(model="m", messages=MESSAGES)
        if api == "chat"
        else client.responses.stream(model="m", input="count")
    )
    with manager as stream:
        first = next(iter(stream))
    span = _one_span(llm_spans)  # `stream` and `first` are still alive: ended by the `with`, not by gc
    assert span.status.status_code is StatusCode.UNSET
    assert span.attributes[sc.GEN_AI_RESPONSE_ID]
    del stream, first
    gc.collect()
    assert len(llm_spans()) == 1


@pytest.mark.parametrize("api", ["chat", "responses"])
async def test_async_stream_helper_left_early(
    aclient: openai.AsyncOpenAI, server: ScriptedOpenAIServer, llm_spans: Any, api: str
) -> None:
    server.script(Reply(content=WORDS))
    manager: Any = (
        aclient.chat.completions.stream(model="m", messages=MESSAGES)
        if api == "chat"
        else aclient.responses.stream(model="m", input="count")
    )
    async with manager as stream:
        first = await stream.__anext__()
    span = _one_span(llm_spans)
    assert span.status.status_code is StatusCode.UNSET
    del stream, first
    gc.collect()
    assert len(llm_spans()) == 1


def test_stream_helper_read_to_the_end_makes_one_span(
    client: openai.OpenAI, server: ScriptedOpenAIServer, llm_spans: Any
) -> None:
    server.script(Reply(content=WORDS))
    with client.chat.completions.stream(model="m", messages=MESSAGES) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].message.content == WORDS
    assert _one_span(llm_spans).attributes[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)


# ---- with_streaming_response read without parse() -----------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
def test_sync_streaming_response_read_without_parse(
    client: openai.OpenAI, server: ScriptedOpenAIServer, llm_spans: Any, stream: bool
) -> None:
    server.script(Reply(content=WORDS))
    with client.chat.completions.with_streaming_response.create(model="m", messages=MESSAGES, stream=stream) as r:
        lines = [line for line in r.iter_lines() if line]
    assert lines
    span = _one_span(llm_spans)  # `r` is still alive: ended when the `with` closed the response
    assert span.status.status_code is StatusCode.UNSET
    del r
    gc.collect()
    assert len(llm_spans()) == 1


async def test_async_streaming_response_read_without_parse(
    aclient: openai.AsyncOpenAI, server: ScriptedOpenAIServer, llm_spans: Any
) -> None:
    server.script(Reply(content=WORDS))
    async with aclient.chat.completions.with_streaming_response.create(model="m", messages=MESSAGES) as r:
        body = await r.json()
    assert body["choices"][0]["message"]["content"] == WORDS
    _one_span(llm_spans)
    del r
    gc.collect()
    assert len(llm_spans()) == 1


def test_streaming_response_parsed_stream_left_early(
    client: openai.OpenAI, server: ScriptedOpenAIServer, llm_spans: Any
) -> None:
    server.script(Reply(content=WORDS))
    with client.chat.completions.with_streaming_response.create(model="m", messages=MESSAGES, stream=True) as r:
        chunks = r.parse()
        next(iter(chunks))
    assert _one_span(llm_spans).attributes[sc.GEN_AI_RESPONSE_ID].startswith("chatcmpl-")
    del r, chunks
    gc.collect()
    assert len(llm_spans()) == 1
