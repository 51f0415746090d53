"""Fixtures of the cross-plugin reliability tests (issue 15): the scripted server, real clients, plugin sets.

Every test here runs the real frameworks (openai, langchain-openai/LangGraph, autogen-ext) against the local
scripted server on 127.0.0.1 and reads the spans from the session's in-memory exporter (``spans`` of the root
conftest, which also fails a test that leaves a span open).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import openai
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from agentlightning import semconv as sc
from agentlightning.instrumentation import instrument, uninstrument_all
from agentlightning.testing import ScriptedOpenAIServer

MESSAGES = [{"role": "user", "content": "count to five"}]
WORDS = "one two three four five"


@pytest.fixture(scope="session")
def _server() -> Iterator[ScriptedOpenAIServer]:
    with ScriptedOpenAIServer() as server:
        yield server


@pytest.fixture
def server(_server: ScriptedOpenAIServer) -> Iterator[ScriptedOpenAIServer]:
    _server.reset()
    yield _server
    _server.reset()


@pytest.fixture
def plugins(spans: InMemorySpanExporter) -> Iterator[Callable[..., None]]:
    """``plugins("openai", "langchain", ...)`` instruments those plugins, in that order; all removed after."""

    def on(*names: str, **options: Any) -> None:
        for name in names:
            instrument(name, **options)

    uninstrument_all()
    try:
        yield on
    finally:
        uninstrument_all()


@pytest.fixture
def client(server: ScriptedOpenAIServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=server.base_url, api_key="test-key", max_retries=0) as sync_client:
        yield sync_client


@pytest.fixture
async def aclient(server: ScriptedOpenAIServer) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(base_url=server.base_url, api_key="test-key", max_retries=0) as async_client:
        yield async_client


def llm_spans_of(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    """The finished LLM spans (CLIENT spans of a model call), from whichever plugin made them."""
    return [
        s
        for s in exporter.get_finished_spans()
        if s.kind is SpanKind.CLIENT and (s.attributes or {}).get(sc.GEN_AI_OPERATION_NAME) in sc.LLM_OPERATIONS
    ]


@pytest.fixture
def llm_spans(spans: InMemorySpanExporter) -> Callable[[], list[ReadableSpan]]:
    return lambda: llm_spans_of(spans)


async def settle(exporter: InMemorySpanExporter, rounds: int = 200) -> None:
    """Let the loop run the tasks it has scheduled (an async generator's ``aclose()`` after it was dropped) until
    an LLM span has ended, or ``rounds`` turns have passed."""
    for _ in range(rounds):
        if llm_spans_of(exporter):
            return
        await asyncio.sleep(0.005)
