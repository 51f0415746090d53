"""ChatOpenAI calls (invoke, stream, ainvoke, astream, batch) and an LCEL chain: one ``chat`` span per model
call, the chain's spans above it, usage read, content only with capture -- alone and with the OpenAI plugin."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_openai import ChatOpenAI
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from agentlightning import semconv as sc
from agentlightning.instrumentation import instrument, uninstrument_all
from agentlightning.testing import Reply, ScriptedOpenAIServer

from ._tree import edges, named, one_trace

Spans = Callable[[], list[ReadableSpan]]


def test_invoke_one_chat_span_with_usage(
    instrumented: InMemorySpanExporter, model: ChatOpenAI, server: ScriptedOpenAIServer, finished: Spans
) -> None:
    server.script(Reply(content="four", prompt_tokens=5, completion_tokens=1))
    assert model.invoke("two plus two?", temperature=0.2).content == "four"
    spans = finished()
    assert [s.name for s in spans] == ["chat gpt-test"]
    attributes = spans[0].attributes or {}
    assert attributes[sc.GEN_AI_PROVIDER_NAME] == "openai"
    assert attributes[sc.GEN_AI_REQUEST_TEMPERATURE] == 0.2
    assert attributes[sc.GEN_AI_USAGE_INPUT_TOKENS] == 5
    assert attributes[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 1
    assert attributes[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    assert str(attributes[sc.GEN_AI_RESPONSE_ID]).startswith("chatcmpl-")
    assert sc.GEN_AI_INPUT_MESSAGES not in attributes and sc.GEN_AI_OUTPUT_MESSAGES not in attributes


def test_stream_one_chat_span(
    instrumented: InMemorySpanExporter, model: ChatOpenAI, server: ScriptedOpenAIServer, finished: Spans
) -> None:
    server.script(Reply(content="one two three"))
    streaming = model.model_copy(update={"stream_usage": True})
    text = "".join(str(chunk.content) for chunk in streaming.stream("count"))
    assert text == "one two three"
    spans = finished()
    assert [s.name for s in spans] == ["chat gpt-test"]
    assert (spans[0].attributes or {})[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 3


async def test_ainvoke_astream_and_batch(
    instrumented: InMemorySpanExporter,
    model: ChatOpenAI,
    amodel: ChatOpenAI,
    server: ScriptedOpenAIServer,
    finished: Spans,
) -> None:
    server.script(Reply(content="a"), Reply(content="b c"), Reply(content="x"), Reply(content="y"))
    assert (await amodel.ainvoke("first")).content == "a"
    assert "".join([str(c.content) async for c in amodel.astream("second")]) == "b c"
    assert [m.content for m in model.batch(["p", "q"])] in (["x", "y"], ["y", "x"])
    spans = finished()
    assert [s.name for s in spans] == ["chat gpt-test"] * 4
    assert len({s.context.trace_id for s in spans}) == 4  # four top-level runs, four traces
    assert all(s.parent is None for s in spans)


def test_lcel_chain_tree(
    instrumented: InMemorySpanExporter, model: ChatOpenAI, server: ScriptedOpenAIServer, finished: Spans
) -> None:
    server.script(Reply(content="Paris"))
    chain = ChatPromptTemplate.from_messages([("system", "Be brief."), ("user", "{q}")]) | model | StrOutputParser()
    assert chain.invoke({"q": "capital of France?"}) == "Paris"
    spans = finished()
    assert one_trace(spans)
    assert edges(spans) == {
        ("invoke_workflow RunnableSequence", None),
        ("invoke_workflow ChatPromptTemplate", "invoke_workflow RunnableSequence"),
        ("chat gpt-test", "invoke_workflow RunnableSequence"),
        ("invoke_workflow StrOutputParser", "invoke_workflow RunnableSequence"),
    }
    assert len(named(spans, "chat gpt-test")) == 1


def test_content_only_with_capture(
    spans: InMemorySpanExporter, model: ChatOpenAI, server: ScriptedOpenAIServer, finished: Spans
) -> None:
    server.script(Reply(content="Paris"))
    instrument("langchain", capture_content=True)
    try:
        chain = ChatPromptTemplate.from_messages([("system", "Be brief."), ("user", "{q}")]) | model
        chain.invoke({"q": "capital of France?"})
    finally:
        uninstrument_all()
    (chat,) = named(finished(), "chat gpt-test")
    attributes = chat.attributes or {}
    assert json.loads(str(attributes[sc.GEN_AI_SYSTEM_INSTRUCTIONS])) == [{"type": "text", "content": "Be brief."}]
    inputs = json.loads(str(attributes[sc.GEN_AI_INPUT_MESSAGES]))
    assert inputs == [{"role": "user", "parts": [{"type": "text", "content": "capital of France?"}]}]
    outputs = json.loads(str(attributes[sc.GEN_AI_OUTPUT_MESSAGES]))
    assert outputs[0]["parts"] == [{"type": "text", "content": "Paris"}]


@pytest.mark.parametrize(
    ("status", "kind", "openai_name", "langchain_name"),
    [
        (400, "invalid_request_error", "BadRequestError", "OpenAIInvalidRequestError"),
        (429, "rate_limit_error", "RateLimitError", "OpenAIRateLimitError"),
    ],
)
def test_api_error_type_is_the_same_on_both_layers(
    instrumented: InMemorySpanExporter,
    model: ChatOpenAI,
    server: ScriptedOpenAIServer,
    finished: Spans,
    status: int,
    kind: str,
    openai_name: str,
    langchain_name: str,
) -> None:
    import openai

    server.script(Reply.error(status, "refused", type=kind))
    chain = ChatPromptTemplate.from_messages([("user", "{q}")]) | model
    with pytest.raises(openai.APIStatusError) as caught:
        chain.invoke({"q": "x"})
    # recent langchain-openai re-raises openai's error as its own subclass; the caller gets it unchanged
    if type(caught.value).__name__ != openai_name:  # langchain-openai 1.0.0 lets openai's own through
        assert type(caught.value).__name__ == langchain_name
        assert type(caught.value.__cause__).__name__ == openai_name
    spans = [s for s in finished() if s.name in ("chat gpt-test", "invoke_workflow RunnableSequence")]
    assert [s.name for s in spans] == ["chat gpt-test", "invoke_workflow RunnableSequence"]
    for span in spans:  # the openai name, whether the OpenAI plugin is on or not
        assert span.status.status_code is StatusCode.ERROR
        assert (span.attributes or {})[sc.ERROR_TYPE] == openai_name


@pytest.mark.parametrize("stream", [False, True], ids=["invoke", "stream"])
def test_vllm_token_ids_on_the_one_chat_span(
    instrumented: InMemorySpanExporter,
    request: pytest.FixtureRequest,
    model: ChatOpenAI,
    server: ScriptedOpenAIServer,
    finished: Spans,
    stream: bool,
) -> None:
    server.script(Reply(content="four and five", prompt_token_ids=[11, 12, 13], response_token_ids=[7, 8, 9]))
    if stream:
        streaming = model.model_copy(update={"stream_usage": True})
        assert "".join(str(chunk.content) for chunk in streaming.stream("2+2?")) == "four and five"
    else:
        assert model.invoke("2+2?").content == "four and five"
    (span,) = finished()
    attributes = span.attributes or {}
    assert attributes[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 3
    if "openai" in request.node.callspec.params["instrumented"]:
        # the OpenAI layer underneath read the server's token ids into LangChain's span
        assert attributes[sc.AGL_PROMPT_TOKEN_IDS] == (11, 12, 13)
        assert attributes[sc.AGL_RESPONSE_TOKEN_IDS] == (7, 8, 9)
        assert attributes[sc.SERVER_ADDRESS] == "127.0.0.1"
    else:  # LangChain alone does not see them
        assert sc.AGL_PROMPT_TOKEN_IDS not in attributes


def test_uninstrument_leaves_nothing_attached(
    spans: InMemorySpanExporter, model: ChatOpenAI, server: ScriptedOpenAIServer, finished: Spans
) -> None:
    from langchain_core.callbacks.manager import CallbackManager

    instrument("langchain")
    uninstrument_all()
    manager = CallbackManager.configure()
    assert not any(type(h).__module__.startswith("agentlightning") for h in manager.handlers)
    model.invoke("x")
    assert finished() == []


def test_with_structured_output_one_chat_span(
    instrumented: InMemorySpanExporter, model: ChatOpenAI, server: ScriptedOpenAIServer, finished: Spans
) -> None:
    from pydantic import BaseModel

    class Answer(BaseModel):
        value: int

    server.script(Reply(content='{"value": 4}'))
    assert model.with_structured_output(Answer, method="json_schema").invoke("2+2?") == Answer(value=4)
    chats = named(finished(), "chat gpt-test")
    assert len(chats) == 1
    assert (chats[0].attributes or {})[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 2
