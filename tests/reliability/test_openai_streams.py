"""OpenAI streams (chat completions and Responses, sync and async): every exit ends exactly one span (issue 15,
failure modes 1-3).

1. Abandoned streams: exhausted, ``break`` inside ``with`` / ``async with``, ``close()`` / ``aclose()``, never
   iterated and garbage-collected, an error event: each ends one span, and ending it again (close after the end,
   garbage collection) adds none.
2. A transport failure after N chunks (the server cuts the connection): the span is ERROR with ``error.type``,
   keeps what arrived before the cut (response id, token ids, text with content capture), and the user gets the
   very exception the bare client raises.
3. ``with_raw_response`` / ``with_streaming_response`` streams: headers, ``http_response``, ``parse()`` and the
   chunks behave as without instrumentation.
"""

from __future__ import annotations

import gc
import inspect
import json
from collections.abc import Callable
from typing import Any

import openai
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode

from agentlightning import semconv as sc
from agentlightning.testing import Reply, ScriptedOpenAIServer

from .conftest import MESSAGES, WORDS

APIS = ["chat", "responses"]
EXITS = ["exhausted", "break_in_with", "user_error_in_with", "close", "never_iterated_gc", "error_event"]


def _create(client: Any, api: str, **extra: Any) -> Any:
    if api == "chat":
        return client.chat.completions.create(model="m", messages=MESSAGES, stream=True, **extra)
    return client.responses.create(model="m", input="count to five", stream=True, **extra)


def _raw(client: Any, api: str, kind: str) -> Any:
    resource = client.chat.completions if api == "chat" else client.responses
    method = getattr(resource, kind).create
    if api == "chat":
        return method(model="m", messages=MESSAGES, stream=True)
    return method(model="m", input="count to five", stream=True)


def _one(llm_spans: Callable[[], list[ReadableSpan]]) -> ReadableSpan:
    found = llm_spans()
    assert len(found) == 1, [s.name for s in found]
    return found[0]


# ---- 1. every exit ends exactly one span ---------------------------------------------------------------------


@pytest.mark.parametrize("exit_", EXITS)
@pytest.mark.parametrize("api", APIS)
def test_sync_stream_exit_ends_one_span(
    client: openai.OpenAI,
    server: ScriptedOpenAIServer,
    plugins: Any,
    llm_spans: Callable[[], list[ReadableSpan]],
    api: str,
    exit_: str,
) -> None:
    plugins("openai")
    server.script(Reply(content=WORDS, error_after=2 if exit_ == "error_event" else None))
    if exit_ == "exhausted":
        stream = _create(client, api)
        assert len(list(stream)) > 5
    elif exit_ == "break_in_with":
        with _create(client, api) as stream:
            for _ in stream:
                break
    elif exit_ == "user_error_in_with":  # the user's own code fails while reading: their error, not the call's
        with pytest.raises(KeyError), _create(client, api) as stream:
            next(iter(stream))
            raise KeyError("the user's bug")
    elif exit_ == "close":
        stream = _create(client, api)
        next(iter(stream))
        assert llm_spans() == []  # open while the stream is
        stream.close()
    elif exit_ == "never_iterated_gc":
        stream = _create(client, api)
        assert llm_spans() == []
        del stream
        gc.collect()
        stream = None
    else:
        stream = _create(client, api)
        with pytest.raises(openai.APIError, match="crashed mid-stream"):
            list(stream)
    span = _one(llm_spans)
    assert span.status.status_code is (StatusCode.ERROR if exit_ == "error_event" else StatusCode.UNSET)
    if exit_ == "error_event":
        assert span.attributes[sc.ERROR_TYPE] == "APIError"
    # ending it again is a no-op: close after the end, then garbage collection
    if stream is not None:
        stream.close()
    del stream
    gc.collect()
    assert len(llm_spans()) == 1


@pytest.mark.parametrize("exit_", EXITS)
@pytest.mark.parametrize("api", APIS)
async def test_async_stream_exit_ends_one_span(
    aclient: openai.AsyncOpenAI,
    server: ScriptedOpenAIServer,
    plugins: Any,
    llm_spans: Callable[[], list[ReadableSpan]],
    api: str,
    exit_: str,
) -> None:
    plugins("openai")
    server.script(Reply(content=WORDS, error_after=2 if exit_ == "error_event" else None))
    response = None
    if exit_ == "exhausted":
        stream = await _create(aclient, api)
        assert len([c async for c in stream]) > 5
    elif exit_ == "break_in_with":
        async with await _create(aclient, api) as stream:
            async for _ in stream:
                break
    elif exit_ == "user_error_in_with":
        with pytest.raises(KeyError):
            async with await _create(aclient, api) as stream:
                await stream.__anext__()
                raise KeyError("the user's bug")
    elif exit_ == "close":
        stream = await _create(aclient, api)
        await stream.__anext__()
        assert llm_spans() == []
        await stream.close()
    elif exit_ == "never_iterated_gc":
        stream = await _create(aclient, api)
        response = stream.response  # the connection, closed below (not the instrumentation's business)
        assert llm_spans() == []
        del stream
        gc.collect()
        stream = None
    else:
        stream = await _create(aclient, api)
        with pytest.raises(openai.APIError, match="crashed mid-stream"):
            async for _ in stream:
                pass
    span = _one(llm_spans)
    assert span.status.status_code is (StatusCode.ERROR if exit_ == "error_event" else StatusCode.UNSET)
    if stream is not None:
        await stream.close()
    if response is not None:
        await response.aclose()
    del stream
    gc.collect()
    assert len(llm_spans()) == 1


# ---- 2. the connection dies after N chunks --------------------------------------------------------------------


def _cut_reply() -> Reply:
    return Reply(content=WORDS, break_after=2, response_token_ids=[11, 12, 13, 14, 15])


def _sync_cut(client: openai.OpenAI, api: str) -> tuple[type[BaseException], str, int]:
    stream = _create(client, api)
    received = 0
    try:
        for _ in stream:
            received += 1
    except Exception as exc:
        return type(exc), str(exc), received
    raise AssertionError("the cut stream ended without an error")


async def _async_cut(aclient: openai.AsyncOpenAI, api: str) -> tuple[type[BaseException], str, int]:
    stream = await _create(aclient, api)
    received = 0
    try:
        async for _ in stream:
            received += 1
    except Exception as exc:
        return type(exc), str(exc), received
    raise AssertionError("the cut stream ended without an error")


def _check_cut_span(span: ReadableSpan, error: type[BaseException], api: str) -> None:
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[sc.ERROR_TYPE] == error.__name__
    # what arrived before the cut is kept; what never came is absent, not zero
    assert span.attributes[sc.GEN_AI_RESPONSE_ID]
    assert sc.GEN_AI_USAGE_OUTPUT_TOKENS not in span.attributes
    assert sc.GEN_AI_RESPONSE_FINISH_REASONS not in span.attributes
    if api == "chat":
        assert list(span.attributes[sc.AGL_RESPONSE_TOKEN_IDS]) == [11, 12]  # the two chunks that arrived
        output = json.loads(str(span.attributes[sc.GEN_AI_OUTPUT_MESSAGES]))
        assert output[0]["parts"][0]["content"] == "one two"


@pytest.mark.parametrize("api", APIS)
def test_sync_transport_failure_mid_stream(
    client: openai.OpenAI,
    server: ScriptedOpenAIServer,
    plugins: Any,
    llm_spans: Callable[[], list[ReadableSpan]],
    api: str,
) -> None:
    server.script(_cut_reply())
    bare = _sync_cut(client, api)
    plugins("openai", capture_content=True)
    server.script(_cut_reply())
    traced = _sync_cut(client, api)
    assert traced == bare  # same exception type, message, and chunks before it
    _check_cut_span(_one(llm_spans), bare[0], api)


@pytest.mark.parametrize("api", APIS)
async def test_async_transport_failure_mid_stream(
    aclient: openai.AsyncOpenAI,
    server: ScriptedOpenAIServer,
    plugins: Any,
    llm_spans: Callable[[], list[ReadableSpan]],
    api: str,
) -> None:
    server.script(_cut_reply())
    bare = await _async_cut(aclient, api)
    plugins("openai", capture_content=True)
    server.script(_cut_reply())
    traced = await _async_cut(aclient, api)
    assert traced == bare
    _check_cut_span(_one(llm_spans), bare[0], api)


# ---- 3. raw-response streams keep their contract ----------------------------------------------------------------


def _scrub(value: Any) -> Any:
    """A chunk without the ids the server numbers per request (``id``, ``item_id``, ...)."""
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items() if not (k == "id" or k.endswith("_id"))}
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    return value


def _dump(items: list[Any]) -> list[Any]:
    return [_scrub(item.model_dump()) for item in items]


# A fresh client per run: ``client.chat.completions.with_raw_response`` is cached per client and binds
# ``create`` when first accessed, so a client that used it before instrument() keeps calling the bare method
# (a limitation of patching classes, noted in the report of issue 15; not what these tests are about).


def _sync_raw(server: ScriptedOpenAIServer, api: str, kind: str) -> dict[str, Any]:
    with openai.OpenAI(base_url=server.base_url, api_key="test-key", max_retries=0) as client:
        return _sync_raw_with(client, api, kind)


def _sync_raw_with(client: openai.OpenAI, api: str, kind: str) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    if kind == "with_raw_response":
        raw = _raw(client, api, kind)
        seen["status"] = raw.http_response.status_code
        seen["content_type"] = raw.headers["content-type"]
        stream = raw.parse()
        seen["stream_type"] = isinstance(stream, openai.Stream)
        seen["parse_again_same"] = raw.parse() is stream
        seen["chunks"] = _dump(list(stream))
    else:
        with _raw(client, api, kind) as raw:
            seen["status"] = raw.status_code
            seen["content_type"] = raw.headers["content-type"]
            stream = raw.parse()
            seen["stream_type"] = isinstance(stream, openai.Stream)
            seen["chunks"] = _dump(list(stream))
    return seen


async def _async_raw(server: ScriptedOpenAIServer, api: str, kind: str) -> dict[str, Any]:
    async with openai.AsyncOpenAI(base_url=server.base_url, api_key="test-key", max_retries=0) as aclient:
        return await _async_raw_with(aclient, api, kind)


async def _async_raw_with(aclient: openai.AsyncOpenAI, api: str, kind: str) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    if kind == "with_raw_response":
        raw = await _raw(aclient, api, kind)
        seen["status"] = raw.http_response.status_code
        seen["content_type"] = raw.headers["content-type"]
        stream = raw.parse()
        seen["parse_is_coroutine"] = inspect.isawaitable(stream)
        if inspect.isawaitable(stream):
            stream = await stream
        seen["stream_type"] = isinstance(stream, openai.AsyncStream)
        seen["chunks"] = _dump([c async for c in stream])
    else:
        async with _raw(aclient, api, kind) as raw:
            seen["status"] = raw.status_code
            seen["content_type"] = raw.headers["content-type"]
            stream = await raw.parse()
            seen["stream_type"] = isinstance(stream, openai.AsyncStream)
            seen["chunks"] = _dump([c async for c in stream])
    return seen


@pytest.mark.parametrize("kind", ["with_raw_response", "with_streaming_response"])
@pytest.mark.parametrize("api", APIS)
def test_sync_raw_response_stream_contract(
    server: ScriptedOpenAIServer,
    plugins: Any,
    llm_spans: Callable[[], list[ReadableSpan]],
    api: str,
    kind: str,
) -> None:
    bare = _sync_raw(server, api, kind)
    assert bare["chunks"] and bare["status"] == 200
    plugins("openai")
    assert _sync_raw(server, api, kind) == bare
    span = _one(llm_spans)
    assert span.status.status_code is StatusCode.UNSET
    assert span.attributes[sc.GEN_AI_RESPONSE_ID]
    gc.collect()
    assert len(llm_spans()) == 1


@pytest.mark.parametrize("kind", ["with_raw_response", "with_streaming_response"])
@pytest.mark.parametrize("api", APIS)
async def test_async_raw_response_stream_contract(
    server: ScriptedOpenAIServer,
    plugins: Any,
    llm_spans: Callable[[], list[ReadableSpan]],
    api: str,
    kind: str,
) -> None:
    bare = await _async_raw(server, api, kind)
    assert bare["chunks"] and bare["status"] == 200
    plugins("openai")
    assert await _async_raw(server, api, kind) == bare
    span = _one(llm_spans)
    assert span.attributes[sc.GEN_AI_RESPONSE_ID]
    gc.collect()
    assert len(llm_spans()) == 1


@pytest.mark.xfail(
    strict=True,
    reason="known limitation: openai caches client.chat.completions.with_raw_response per resource, binding the "
    "bare create() when first used; a client that used it before instrument() is not traced through it",
)
def test_raw_response_used_before_instrumenting_is_traced_after(
    client: openai.OpenAI, plugins: Any, llm_spans: Callable[[], list[ReadableSpan]]
) -> None:
    client.chat.completions.with_raw_response.create(model="m", messages=MESSAGES).parse()
    plugins("openai")
    client.chat.completions.with_raw_response.create(model="m", messages=MESSAGES).parse()
    assert len(llm_spans()) == 1
