"""The OpenAI plugin under ``suppress_instrumentation`` (issue 15, mode 7) and sync clients inside ``async def``
under a running loop (mode 8): sync, async, streams, Responses, raw responses, embeddings, legacy completions."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import openai
from opentelemetry import context as otel_context
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from .conftest import MESSAGES


def _sync_calls(client: openai.OpenAI) -> int:
    """Every kind of call the plugin traces; returns how many model calls it made."""
    client.chat.completions.create(model="m", messages=MESSAGES)
    list(client.chat.completions.create(model="m", messages=MESSAGES, stream=True))
    with client.chat.completions.stream(model="m", messages=MESSAGES) as stream:
        stream.get_final_completion()
    client.responses.create(model="m", input="hi")
    list(client.responses.create(model="m", input="hi", stream=True))
    client.chat.completions.with_raw_response.create(model="m", messages=MESSAGES).parse()
    list(client.chat.completions.with_raw_response.create(model="m", messages=MESSAGES, stream=True).parse())
    client.completions.create(model="m", prompt="hi")
    client.embeddings.create(model="e", input="hi")
    return 9


async def _async_calls(client: openai.AsyncOpenAI) -> int:
    await client.chat.completions.create(model="m", messages=MESSAGES)
    [c async for c in await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)]
    async with client.chat.completions.stream(model="m", messages=MESSAGES) as stream:
        await stream.get_final_completion()
    await client.responses.create(model="m", input="hi")
    [e async for e in await client.responses.create(model="m", input="hi", stream=True)]
    (await client.chat.completions.with_raw_response.create(model="m", messages=MESSAGES)).parse()
    await client.completions.create(model="m", prompt="hi")
    await client.embeddings.create(model="e", input="hi")
    return 8


def _ours(spans: InMemorySpanExporter) -> list[ReadableSpan]:
    return [
        s
        for s in spans.get_finished_spans()
        if s.instrumentation_scope is not None and s.instrumentation_scope.name == "agentlightning.openai"
    ]


def test_sync_suppressed_everywhere(client: openai.OpenAI, plugins: Any, spans: InMemorySpanExporter) -> None:
    plugins("openai")
    with suppress_instrumentation():
        _sync_calls(client)
    token = otel_context.attach(otel_context.set_value("suppress_language_model_instrumentation", True))
    try:
        _sync_calls(client)
    finally:
        otel_context.detach(token)
    assert spans.get_finished_spans() == ()
    assert len(_ours(spans)) == 0
    expected = _sync_calls(client)  # on again outside the blocks
    assert len(_ours(spans)) == expected


async def test_async_suppressed_everywhere(
    aclient: openai.AsyncOpenAI, plugins: Any, spans: InMemorySpanExporter
) -> None:
    plugins("openai")
    with suppress_instrumentation():
        await _async_calls(aclient)
        await asyncio.gather(_async_calls(aclient), _async_calls(aclient))  # tasks copy the suppressed context
    assert spans.get_finished_spans() == ()
    expected = await _async_calls(aclient)
    assert len(_ours(spans)) == expected


def test_stream_opened_suppressed_stays_untraced_when_read_outside(
    client: openai.OpenAI, plugins: Any, spans: InMemorySpanExporter
) -> None:
    plugins("openai")
    with suppress_instrumentation():
        stream = client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    assert len(list(stream)) > 1
    assert spans.get_finished_spans() == ()


async def test_sync_client_inside_async_def_under_a_running_loop(
    client: openai.OpenAI, plugins: Any, llm_spans: Callable[[], list[ReadableSpan]]
) -> None:
    plugins("openai")
    assert asyncio.get_running_loop().is_running()
    expected = _sync_calls(client)  # nothing of ours calls asyncio.run() or needs the loop
    found = llm_spans()
    assert len(_ours_in(found)) == expected - 1  # the embeddings span is not an LLM chat span
    assert all(s.status.status_code is StatusCode.UNSET for s in found)
    # and from a task and from an executor thread of the same loop
    await asyncio.create_task(asyncio.to_thread(_sync_calls, client))
    assert len(llm_spans()) == 2 * (expected - 1)


def _ours_in(found: list[ReadableSpan]) -> list[ReadableSpan]:
    return [
        s
        for s in found
        if s.instrumentation_scope is not None and s.instrumentation_scope.name == "agentlightning.openai"
    ]
