"""Fixtures of the AutoGen plugin tests: the scripted local server, real AutoGen clients, in-memory spans."""

from __future__ import annotations

import os

os.environ.setdefault("AGENTLIGHTNING_STRICT", "1")  # the guard re-raises our own bugs in tests

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from autogen_core.models import ModelFamily, ModelInfo
from autogen_ext.models.openai import OpenAIChatCompletionClient
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentlightning.instrumentation import instrument, uninstrument_all
from agentlightning.testing import ScriptedOpenAIServer
from agentlightning.testing.plugin_contract import span_exporter, spans

__all__ = ["span_exporter", "spans"]

# A name AutoGen does not know: with model_info given, it resolves to itself, and the scripted server
# answers with the request's model, so there is no "Resolved model mismatch" warning.
MODEL = "scripted-model"
MODEL_INFO = ModelInfo(
    vision=False, function_calling=True, json_output=False, family=ModelFamily.UNKNOWN, structured_output=False
)


@pytest.fixture(scope="session")
def _server() -> Iterator[ScriptedOpenAIServer]:
    with ScriptedOpenAIServer() as server:
        yield server


@pytest.fixture
def server(_server: ScriptedOpenAIServer) -> Iterator[ScriptedOpenAIServer]:
    _server.reset()
    yield _server
    _server.reset()


@pytest.fixture(params=["autogen", "autogen+openai"])
def instrumented(request: pytest.FixtureRequest, spans: InMemorySpanExporter) -> Iterator[InMemorySpanExporter]:
    """AutoGen instrumented (alone, and with the OpenAI plugin under it); uninstrumented after."""
    instrument("autogen")
    if request.param == "autogen+openai":
        instrument("openai")
    try:
        yield spans
    finally:
        uninstrument_all()


@pytest.fixture
async def model_client(server: ScriptedOpenAIServer) -> AsyncIterator[Any]:
    client = OpenAIChatCompletionClient(
        model=MODEL, base_url=server.base_url, api_key="test-key", model_info=MODEL_INFO, max_retries=0
    )
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
def make_client(server: ScriptedOpenAIServer) -> Callable[..., Any]:
    """A function making a model client of the scripted server (the caller closes it)."""

    def make(**kwargs: Any) -> Any:
        return OpenAIChatCompletionClient(
            model=MODEL, base_url=server.base_url, api_key="test-key", model_info=MODEL_INFO, max_retries=0, **kwargs
        )

    return make
