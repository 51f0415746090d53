"""AutoGen (issue 15): ``create_stream`` exits (1), a cut stream (2), suppression (7), and sync code under
AutoGen's running loop (8) -- a sync tool calling a sync OpenAI client from inside an agent run. Each runs with
the AutoGen plugin alone and with the OpenAI plugin under it (one LLM span per model call either way).
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Callable
from typing import Any

import openai
import pytest
from autogen_agentchat.agents import AssistantAgent
from autogen_core import CancellationToken
from autogen_core.models import ModelFamily, ModelInfo, UserMessage
from autogen_core.tools import FunctionTool
from autogen_ext.models.openai import OpenAIChatCompletionClient
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from agentlightning import semconv as sc
from agentlightning.store.memory import InMemoryLightningStore
from agentlightning.testing import Reply, ScriptedOpenAIServer, ToolCall
from agentlightning.tracer.otel import OtelTracer

from .conftest import WORDS, llm_spans_of
from .conftest import settle as _settle

MODEL = "scripted-model"
MODEL_INFO = ModelInfo(
    vision=False, function_calling=True, json_output=False, family=ModelFamily.UNKNOWN, structured_output=False
)
PROMPT = [UserMessage(content="count", source="user")]


@pytest.fixture(params=["autogen", "autogen+openai"])
def on(request: pytest.FixtureRequest, plugins: Any) -> str:
    plugins(*str(request.param).split("+"))
    return str(request.param)


@pytest.fixture
async def make_client(server: ScriptedOpenAIServer) -> AsyncIterator[Callable[..., Any]]:
    made: list[Any] = []

    def make(**kwargs: Any) -> Any:
        client = OpenAIChatCompletionClient(
            model=MODEL, base_url=server.base_url, api_key="test-key", model_info=MODEL_INFO, max_retries=0, **kwargs
        )
        made.append(client)
        return client

    yield make
    for client in made:
        await client.close()


def _one(spans: InMemorySpanExporter) -> ReadableSpan:
    found = llm_spans_of(spans)
    assert len(found) == 1, [(s.name, s.instrumentation_scope.name if s.instrumentation_scope else "") for s in found]
    return found[0]


# ---- 1. create_stream: every exit ends one span ---------------------------------------------------------------


@pytest.mark.parametrize(
    "exit_", ["exhausted", "break_then_aclose", "break_then_drop", "aclose_after_one", "error_event"]
)
async def test_create_stream_exit_ends_one_span(
    on: str, make_client: Callable[..., Any], server: ScriptedOpenAIServer, spans: InMemorySpanExporter, exit_: str
) -> None:
    server.script(Reply(content=WORDS, error_after=2 if exit_ == "error_event" else None))
    stream = make_client().create_stream(PROMPT)
    if exit_ == "exhausted":
        items = [item async for item in stream]
        assert items[-1].content == WORDS  # the CreateResult comes last
    elif exit_ == "break_then_aclose":
        async for _ in stream:
            break
        await stream.aclose()
    elif exit_ == "break_then_drop":
        async for _ in stream:
            break
        del stream
        gc.collect()
        await _settle(spans)  # the loop's async-generator hook closes a dropped generator in a task
        stream = None
    elif exit_ == "aclose_after_one":
        await stream.__anext__()
        await stream.aclose()
    else:
        with pytest.raises(openai.APIError, match="crashed mid-stream"):
            async for _ in stream:
                pass
    span = _one(spans)
    if exit_ == "error_event":
        assert span.status.status_code is StatusCode.ERROR
        assert span.attributes[sc.ERROR_TYPE] == "APIError"
    else:
        assert span.status.status_code is StatusCode.UNSET, span.attributes.get(sc.ERROR_TYPE)
    del stream
    gc.collect()
    assert len(llm_spans_of(spans)) == 1


async def test_create_stream_never_iterated_ends_one_span_when_dropped(
    on: str, make_client: Callable[..., Any], spans: InMemorySpanExporter
) -> None:
    stream = make_client().create_stream(PROMPT)  # the wrapper's span opens at the call
    assert llm_spans_of(spans) == []
    del stream
    gc.collect()
    assert _one(spans).status.status_code is StatusCode.UNSET


# ---- 2. the connection dies after N chunks --------------------------------------------------------------------


async def _cut(client: Any) -> tuple[type[BaseException], str, int]:
    received = 0
    try:
        async for _ in client.create_stream(PROMPT):
            received += 1
    except Exception as exc:
        return type(exc), str(exc), received
    raise AssertionError("the cut stream ended without an error")


async def test_create_stream_transport_failure(
    plugins: Any, make_client: Callable[..., Any], server: ScriptedOpenAIServer, spans: InMemorySpanExporter
) -> None:
    server.script(Reply(content=WORDS, break_after=2))
    bare = await _cut(make_client())
    assert bare[2] == 2
    plugins("autogen", "openai")
    server.script(Reply(content=WORDS, break_after=2))
    traced = await _cut(make_client())
    assert traced == bare  # the user's exception, unchanged
    span = _one(spans)
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[sc.ERROR_TYPE] == bare[0].__name__
    assert span.attributes[sc.GEN_AI_RESPONSE_ID]  # what arrived before the cut (openai's layer provides it)
    assert sc.GEN_AI_USAGE_OUTPUT_TOKENS not in span.attributes  # never arrived: absent, not zero


# ---- 7. suppression --------------------------------------------------------------------------------------------


def add(a: int, b: int) -> int:
    """Adds two numbers."""
    return a + b


async def test_suppression_honoured_everywhere(
    on: str, make_client: Callable[..., Any], server: ScriptedOpenAIServer, spans: InMemorySpanExporter
) -> None:
    client = make_client()
    with suppress_instrumentation():
        await client.create(PROMPT)
        [item async for item in client.create_stream(PROMPT)]
        await FunctionTool(add, description="adds").run_json({"a": 1, "b": 2}, CancellationToken())
        server.script(Reply(tool_calls=[ToolCall("add", '{"a": 1, "b": 2}')]), Reply("3"))
        await AssistantAgent("solver", model_client=client, tools=[add]).run(task="1+2?")
        [item async for item in AssistantAgent("s2", model_client=client).run_stream(task="go")]
    assert spans.get_finished_spans() == ()
    await client.create(PROMPT)  # on again once the block is left
    assert len(llm_spans_of(spans)) == 1


# ---- 8. a sync tool calling a sync OpenAI client inside AutoGen's running loop ---------------------------------


async def test_sync_openai_client_inside_an_agent_tool(
    plugins: Any, make_client: Callable[..., Any], server: ScriptedOpenAIServer
) -> None:
    """AutoGen runs a sync tool with ``loop.run_in_executor``; the tool's sync OpenAI call lands in the rollout,
    under the tool's span (the tracer carries the context into executor threads)."""
    plugins("autogen", "openai")
    store = InMemoryLightningStore()
    tracer = OtelTracer()
    tracer.init()
    tracer.init_worker(0, store)
    inner = openai.OpenAI(base_url=server.base_url, api_key="test-key", max_retries=0)

    def ask(question: str) -> str:
        """Asks another model, synchronously."""
        answer = inner.chat.completions.create(model="inner", messages=[{"role": "user", "content": question}])
        return str(answer.choices[0].message.content)

    server.script(Reply(tool_calls=[ToolCall("ask", '{"question": "why"}')]), Reply("because"), Reply("done"))
    try:
        rollout = await store.start_rollout(input=1)
        async with tracer.trace_context(
            "autogen", rollout_id=rollout.rollout_id, attempt_id=rollout.attempt.attempt_id
        ):
            agent = AssistantAgent("solver", model_client=make_client(), tools=[ask], reflect_on_tool_use=True)
            result = await agent.run(task="go")
        stored = await store.query_spans(rollout.rollout_id)
    finally:
        inner.close()
        tracer.teardown()
        store.close()
    assert result.messages[-1].content == "done"
    by_id = {s.span_id: s for s in stored}
    (inner_span,) = [s for s in stored if s.name == "chat inner"]
    assert inner_span.parent_id is not None and by_id[inner_span.parent_id].name == "execute_tool ask"
    assert len({s.trace_id for s in stored}) == 1
    llm = [s for s in stored if s.attributes.get(sc.GEN_AI_OPERATION_NAME) == "chat"]
    assert len(llm) == 3  # the agent's two model calls and the tool's one
