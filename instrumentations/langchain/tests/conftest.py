"""Fixtures of the LangChain plugin tests: the scripted local server, real ChatOpenAI models, in-memory spans."""

from __future__ import annotations

import os

os.environ.setdefault("AGENTLIGHTNING_STRICT", "1")  # the guard re-raises our own bugs in tests

from collections.abc import AsyncIterator, Callable, Iterator

import openai
import pytest
from langchain_openai import ChatOpenAI
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentlightning.instrumentation import get_instrumentor, instrument, uninstrument_all
from agentlightning.testing import ScriptedOpenAIServer
from agentlightning.testing.plugin_contract import span_exporter, spans

__all__ = ["span_exporter", "spans"]


@pytest.fixture(scope="session")
def _server() -> Iterator[ScriptedOpenAIServer]:
    with ScriptedOpenAIServer() as server:
        yield server


@pytest.fixture
def server(_server: ScriptedOpenAIServer) -> Iterator[ScriptedOpenAIServer]:
    _server.reset()
    yield _server
    _server.reset()


@pytest.fixture(params=["langchain", "langchain+openai", "openai+langchain"])
def instrumented(request: pytest.FixtureRequest, spans: InMemorySpanExporter) -> Iterator[InMemorySpanExporter]:
    """LangChain instrumented alone, and with the OpenAI plugin under it in both orders; uninstrumented after."""
    for name in str(request.param).split("+"):
        instrument(name)
    try:
        yield spans
    finally:
        uninstrument_all()
        handler = get_instrumentor("langchain")
        assert handler.callback_handler() is None  # type: ignore[attr-defined]


@pytest.fixture
def model(server: ScriptedOpenAIServer) -> ChatOpenAI:
    return ChatOpenAI(model="gpt-test", base_url=server.base_url, api_key="test-key", max_retries=0)  # type: ignore[arg-type]


@pytest.fixture
async def amodel(server: ScriptedOpenAIServer) -> AsyncIterator[ChatOpenAI]:
    """A ChatOpenAI with its own async openai client, closed on this test's loop (langchain-openai otherwise
    shares one cached async HTTP client per base URL across tests, bound to the first test's loop)."""
    async with openai.AsyncOpenAI(base_url=server.base_url, api_key="test-key", max_retries=0) as client:
        yield ChatOpenAI(
            model="gpt-test",
            base_url=server.base_url,
            api_key="test-key",  # type: ignore[arg-type]
            max_retries=0,
            stream_usage=True,  # streams (astream_events streams the model) ask for the usage chunk
            root_async_client=client,
            async_client=client.chat.completions,
        )


@pytest.fixture
def finished(spans: InMemorySpanExporter) -> Callable[[], list[ReadableSpan]]:
    """The finished spans, in end order."""
    return lambda: list(spans.get_finished_spans())
