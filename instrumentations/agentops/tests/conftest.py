"""Fixtures of the AgentOps plugin tests: the kit's in-memory spans, the scripted local OpenAI server."""

from __future__ import annotations

import os

os.environ.setdefault("AGENTLIGHTNING_STRICT", "1")  # the guard re-raises our own bugs in tests
# In-process tests never let AgentOps instrument LLM SDKs (it wraps openai process-wide); the tests that
# need its LLM instrumentation run it in a subprocess.
os.environ.setdefault("AGENTOPS_INSTRUMENT_LLM_CALLS", "false")

from collections.abc import Iterator

import pytest

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
