"""Fixtures of the OpenAI plugin tests: the scripted local server, real openai clients, in-memory spans."""

from __future__ import annotations

import os

os.environ.setdefault("AGENTLIGHTNING_STRICT", "1")  # the guard re-raises our own bugs in tests

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import openai
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentlightning.instrumentation import instrument_openai, uninstrument_all
from agentlightning.store.base import LightningStore
from agentlightning.testing import ScriptedOpenAIServer
from agentlightning.testing.plugin_contract import span_exporter, spans

__all__ = ["span_exporter", "spans"]  # the kit's fixtures, used here as the root conftest's are in tests/


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
def instrumented(spans: InMemorySpanExporter) -> Iterator[InMemorySpanExporter]:
    """OpenAI instrumented for the test (content capture off), uninstrumented after; yields the exporter."""
    instrument_openai()
    try:
        yield spans
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


@pytest.fixture
def llm_spans(spans: InMemorySpanExporter) -> Callable[[], list[ReadableSpan]]:
    """A function returning the finished spans of the OpenAI instrumentation, in end order."""

    def get() -> list[ReadableSpan]:
        scope = "agentlightning.openai"
        return [
            s for s in spans.get_finished_spans() if s.instrumentation_scope and s.instrumentation_scope.name == scope
        ]

    return get


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LightningStore]:
    """Each test that takes ``store`` runs once per embedded backend."""
    from agentlightning.store.memory import InMemoryLightningStore
    from agentlightning.store.sqlite import SqliteLightningStore

    backend: LightningStore = (
        InMemoryLightningStore() if request.param == "memory" else SqliteLightningStore(tmp_path / "store.db")
    )
    try:
        yield backend
    finally:
        backend.close()
