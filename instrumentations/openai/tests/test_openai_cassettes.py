"""The OpenAI instrumentation over recorded sessions: cassettes replayed offline, spans as live.

The cassettes under ``instrumentations/openai/cassettes/tests/test_openai_cassettes/`` were recorded from the
scripted local server with ``pytest instrumentations/openai/tests/test_openai_cassettes.py --record-mode=once``.
In the default mode (``none``) the server is still started, but vcrpy answers every request, so it receives
nothing.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import openai
import pytest

from agentlightning import semconv as sc
from agentlightning.testing import Reply, ScriptedOpenAIServer, ToolCall

pytestmark = [
    pytest.mark.skipif(
        importlib.util.find_spec("vcr") is None,
        reason="cassettes need vcrpy >= 9, which needs Python >= 3.11 (not installed here)",
    ),
    pytest.mark.cassette,
    pytest.mark.usefixtures("instrumented"),
]

MESSAGES = [{"role": "user", "content": "What is 2 + 2?"}]


@pytest.fixture
def replaying(request: pytest.FixtureRequest, server: ScriptedOpenAIServer) -> Any:
    yield request.config.getoption("--record-mode") == "none"
    if request.config.getoption("--record-mode") == "none":
        assert server.requests == [], "a replayed test reached the server"


def test_chat_from_cassette(
    client: openai.OpenAI, server: ScriptedOpenAIServer, llm_spans: Any, replaying: bool
) -> None:
    server.script(Reply(content="2 + 2 is 4.", prompt_token_ids=[11, 12], response_token_ids=[21, 22, 23]))
    result = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert result.choices[0].message.content == "2 + 2 is 4."
    [span] = llm_spans()
    assert span.name == "chat gpt-4o-mini"
    assert span.attributes[sc.GEN_AI_USAGE_INPUT_TOKENS] == 5
    assert span.attributes[sc.AGL_RESPONSE_TOKEN_IDS] == (21, 22, 23)


def test_stream_with_tool_calls_from_cassette(
    client: openai.OpenAI, server: ScriptedOpenAIServer, llm_spans: Any, replaying: bool
) -> None:
    server.script(Reply(content=None, tool_calls=[ToolCall("add", '{"a": 2, "b": 2}', id="call_1")]))
    stream = client.chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    with stream:
        chunks = list(stream)
    assert chunks[-1].usage is not None
    [span] = llm_spans()
    assert span.attributes[sc.AGL_TOOL_CALLS] == '[{"id":"call_1","name":"add"}]'
    assert span.attributes[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 1


async def test_async_responses_and_embeddings_from_cassette(
    aclient: openai.AsyncOpenAI, server: ScriptedOpenAIServer, llm_spans: Any, replaying: bool
) -> None:
    server.script(Reply(content="Hello there"))
    response = await aclient.responses.create(model="gpt-4o-mini", input="Say hello")
    embedding = await aclient.embeddings.create(model="text-embedding-3-small", input="hello")
    assert response.output_text == "Hello there"
    assert len(embedding.data[0].embedding) == 4
    assert [s.name for s in llm_spans()] == ["chat gpt-4o-mini", "embeddings text-embedding-3-small"]


def test_error_from_cassette(
    client: openai.OpenAI, server: ScriptedOpenAIServer, llm_spans: Any, replaying: bool
) -> None:
    server.script(Reply.error(404, "The model `gpt-9` does not exist", code="model_not_found"))
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="gpt-9", messages=MESSAGES)
    assert llm_spans()[0].attributes[sc.ERROR_TYPE] == "NotFoundError"
