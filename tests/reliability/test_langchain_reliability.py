"""LangChain / LangGraph (issue 15): stream exits (1), no leaked context or suppression (4), async graphs with
sync tools in executor threads (5), suppression (7), sync models under a running loop (8), memory over many
graph runs with errors and interrupts (11). Each runs with the LangChain plugin alone and with the OpenAI plugin
under it (``langchain+openai``), whose layer must add to LangChain's LLM span, never open a second one.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import tracemalloc
from collections.abc import AsyncIterator, Callable
from typing import Any, TypedDict

import openai
import pytest
from langchain.agents import create_agent
from langchain_core.runnables import RunnableLambda
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from agentlightning import semconv as sc
from agentlightning.instrumentation import current_llm_invocation, get_instrumentor, is_suppressed
from agentlightning.testing import Reply, ScriptedOpenAIServer, ToolCall

from .conftest import WORDS, llm_spans_of
from .conftest import settle as _settle

Spans = Callable[[], list[ReadableSpan]]
PLUGIN_SETS = ["langchain", "langchain+openai"]


@pytest.fixture(params=PLUGIN_SETS)
def on(request: pytest.FixtureRequest, plugins: Any) -> str:
    plugins(*str(request.param).split("+"))
    return str(request.param)


@pytest.fixture
def model(server: ScriptedOpenAIServer) -> ChatOpenAI:
    return ChatOpenAI(model="gpt-test", base_url=server.base_url, api_key="test-key", max_retries=0)  # type: ignore[arg-type]


@pytest.fixture
async def amodel(server: ScriptedOpenAIServer) -> AsyncIterator[ChatOpenAI]:
    """A ChatOpenAI with its own async client, closed on this test's loop (see the LangChain plugin's conftest)."""
    async with openai.AsyncOpenAI(base_url=server.base_url, api_key="test-key", max_retries=0) as client:
        yield ChatOpenAI(
            model="gpt-test",
            base_url=server.base_url,
            api_key="test-key",  # type: ignore[arg-type]
            max_retries=0,
            stream_usage=True,
            root_async_client=client,
            async_client=client.chat.completions,
        )


def _one_llm_span(spans: InMemorySpanExporter) -> ReadableSpan:
    found = llm_spans_of(spans)
    assert len(found) == 1, [(s.name, s.instrumentation_scope.name if s.instrumentation_scope else None) for s in found]
    return found[0]


def _context_snapshot() -> dict[str, Any]:
    return dict(otel_context.get_current())


# ---- 1. every exit of a LangChain stream ends one span ----------------------------------------------------------

SYNC_EXITS = ["exhausted", "break_then_gc", "close", "error"]


@pytest.mark.parametrize("exit_", SYNC_EXITS)
def test_stream_exit_ends_one_span(
    on: str, model: ChatOpenAI, server: ScriptedOpenAIServer, spans: InMemorySpanExporter, exit_: str
) -> None:
    server.script(Reply(content=WORDS, error_after=2 if exit_ == "error" else None))
    stream = model.stream("count")
    if exit_ == "exhausted":
        assert "".join(str(c.content) for c in stream) == WORDS
    elif exit_ == "break_then_gc":
        for _ in stream:
            break
        del stream
        gc.collect()
    elif exit_ == "close":
        next(stream)
        stream.close()
    else:
        with pytest.raises(openai.APIError, match="crashed mid-stream"):
            list(stream)
    span = _one_llm_span(spans)
    if exit_ == "error":
        assert span.status.status_code is StatusCode.ERROR
        assert span.attributes[sc.ERROR_TYPE] == "APIError"
    else:  # leaving a stream early is the user's choice, not a failure of the model call
        assert span.status.status_code is StatusCode.UNSET, span.attributes.get(sc.ERROR_TYPE)
    gc.collect()
    assert len(llm_spans_of(spans)) == 1


def test_stream_never_iterated_makes_no_span(on: str, model: ChatOpenAI, spans: InMemorySpanExporter) -> None:
    stream = model.stream("count")  # a generator: nothing is sent before the first next()
    del stream
    gc.collect()
    assert llm_spans_of(spans) == []


@pytest.mark.parametrize("exit_", [*SYNC_EXITS, "break_then_drop"])
async def test_astream_exit_ends_one_span(
    on: str, amodel: ChatOpenAI, server: ScriptedOpenAIServer, spans: InMemorySpanExporter, exit_: str
) -> None:
    server.script(Reply(content=WORDS, error_after=2 if exit_ == "error" else None))
    stream = amodel.astream("count")
    if exit_ == "exhausted":
        assert "".join([str(c.content) async for c in stream]) == WORDS
    elif exit_ == "break_then_gc":
        async for _ in stream:
            break
        await stream.aclose()  # what `async for` leaves to the caller (or to the loop's asyncgen hook)
    elif exit_ == "break_then_drop":
        async for _ in stream:
            break
        del stream
        gc.collect()
        await _settle(spans)  # the loop's async-generator hook closes a dropped generator in a task
    elif exit_ == "close":
        await stream.__anext__()
        await stream.aclose()
    else:
        with pytest.raises(openai.APIError, match="crashed mid-stream"):
            async for _ in stream:
                pass
    span = _one_llm_span(spans)
    if exit_ == "error":
        assert span.status.status_code is StatusCode.ERROR
    else:
        assert span.status.status_code is StatusCode.UNSET, span.attributes.get(sc.ERROR_TYPE)
    gc.collect()
    assert len(llm_spans_of(spans)) == 1


# ---- 2. the connection dies after N chunks ----------------------------------------------------------------------


def _cut(model: ChatOpenAI) -> tuple[type[BaseException], str, str]:
    received: list[str] = []
    try:
        for chunk in model.stream("count"):
            received.append(str(chunk.content))
    except Exception as exc:
        return type(exc), str(exc), "".join(received)
    raise AssertionError("the cut stream ended without an error")


def test_stream_transport_failure(
    plugins: Any, model: ChatOpenAI, server: ScriptedOpenAIServer, spans: InMemorySpanExporter
) -> None:
    server.script(Reply(content=WORDS, break_after=2))
    bare = _cut(model)
    assert bare[2] == "one two"
    plugins("openai", "langchain")
    server.script(Reply(content=WORDS, break_after=2))
    assert _cut(model) == bare  # the user's exception, unchanged
    span = _one_llm_span(spans)
    assert span.status.status_code is StatusCode.ERROR
    # the provider's type (langchain-openai re-raises it as its own subclass, OpenAIConnectionError)
    assert issubclass(bare[0], getattr(openai, str(span.attributes[sc.ERROR_TYPE])))
    assert span.attributes[sc.GEN_AI_RESPONSE_ID]  # what arrived before the cut (the OpenAI layer's)
    assert sc.GEN_AI_USAGE_OUTPUT_TOKENS not in span.attributes


# ---- 4. a chain run leaves the context as it found it; later OpenAI calls are traced ---------------------------


def _failing(_: Any) -> Any:
    raise ValueError("the chain failed")


@pytest.mark.parametrize("how", ["invoke", "batch", "stream_left_early", "error", "suppressed"])
def test_chain_leaves_context_unchanged_and_later_openai_calls_traced(
    plugins: Any, model: ChatOpenAI, server: ScriptedOpenAIServer, spans: InMemorySpanExporter, how: str
) -> None:
    plugins("openai", "langchain")
    chain = RunnableLambda(lambda x: x) | model
    before = _context_snapshot()
    if how == "invoke":
        chain.invoke("hi")
    elif how == "batch":  # model calls on executor threads
        chain.batch(["a", "b", "c"])
    elif how == "stream_left_early":
        server.script(Reply(content=WORDS))
        for _ in chain.stream("hi"):
            break
    elif how == "error":
        with pytest.raises(ValueError, match="the chain failed"):
            (chain | RunnableLambda(_failing)).invoke("hi")
    else:
        with suppress_instrumentation():
            chain.invoke("hi")
        assert spans.get_finished_spans() == ()
    gc.collect()
    assert _context_snapshot() == before
    assert not is_suppressed() and current_llm_invocation() is None
    spans.clear()
    with openai.OpenAI(base_url=server.base_url, api_key="test-key", max_retries=0) as client:
        client.chat.completions.create(model="direct", messages=[{"role": "user", "content": "hi"}])
    span = _one_llm_span(spans)
    assert span.name == "chat direct"
    assert span.instrumentation_scope is not None and span.instrumentation_scope.name == "agentlightning.openai"


async def test_async_chain_leaves_context_unchanged(
    plugins: Any, amodel: ChatOpenAI, server: ScriptedOpenAIServer, spans: InMemorySpanExporter
) -> None:
    plugins("openai", "langchain")
    chain = RunnableLambda(lambda x: x) | amodel
    before = _context_snapshot()
    await chain.ainvoke("hi")
    async for _ in chain.astream("hi"):
        pass
    await chain.abatch(["a", "b", "c"])  # model calls in child tasks
    [e async for e in chain.astream_events("hi", version="v2")]
    server.script(Reply(content=WORDS, chunk_delay=0.01))
    stream = chain.astream("hi")
    async for _ in stream:
        break
    await stream.aclose()  # left early
    with pytest.raises(ValueError, match="the chain failed"):
        await (chain | RunnableLambda(_failing)).ainvoke("hi")
    server.script(Reply(content=WORDS, delay=1.0))
    sent = len(server.requests)
    task = asyncio.ensure_future(chain.ainvoke("hi"))
    while len(server.requests) == sent:  # the request is at the server, which holds its answer
        await asyncio.sleep(0.005)
    task.cancel()  # cancelled mid-call
    with pytest.raises(asyncio.CancelledError):
        await task
    assert _context_snapshot() == before
    assert not is_suppressed() and current_llm_invocation() is None
    spans.clear()
    async with openai.AsyncOpenAI(base_url=server.base_url, api_key="test-key", max_retries=0) as client:
        await client.chat.completions.create(model="direct", messages=[{"role": "user", "content": "hi"}])
    assert _one_llm_span(spans).name == "chat direct"


# ---- 5. async graphs with sync tools in executor threads --------------------------------------------------------


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def _parent_name(span: ReadableSpan, spans: list[ReadableSpan]) -> str | None:
    by_id = {s.context.span_id: s for s in spans}
    parent = by_id.get(span.parent.span_id) if span.parent is not None else None
    return parent.name if parent is not None else None


@pytest.mark.parametrize("how", ["ainvoke", "astream"])
async def test_async_agent_with_sync_tool_one_trace_right_parents(
    on: str,
    amodel: ChatOpenAI,
    server: ScriptedOpenAIServer,
    spans: InMemorySpanExporter,
    caplog: pytest.LogCaptureFixture,
    how: str,
) -> None:
    server.script(
        Reply(tool_calls=[ToolCall("add", '{"a": 2, "b": 2}'), ToolCall("add", '{"a": 1, "b": 1}')]),
        Reply(content="4 and 2"),
    )
    agent = create_agent(amodel, [add], name="calc")
    before = _context_snapshot()
    with caplog.at_level(logging.DEBUG), trace.get_tracer("rollout").start_as_current_span("rollout") as rollout:
        if how == "ainvoke":
            result = await agent.ainvoke({"messages": [("user", "2+2 and 1+1?")]})
            assert result["messages"][-1].content == "4 and 2"
        else:
            updates = [u async for u in agent.astream({"messages": [("user", "2+2 and 1+1?")]}, stream_mode="updates")]
            assert len(updates) == 4  # model, tools (one update per call), model
    assert _context_snapshot() == before
    finished = list(spans.get_finished_spans())
    assert {s.context.trace_id for s in finished} == {rollout.get_span_context().trace_id}
    edges = sorted((s.name, _parent_name(s, finished)) for s in finished)
    assert edges == [
        ("chat gpt-test", "invoke_workflow model"),
        ("chat gpt-test", "invoke_workflow model"),
        ("execute_tool add", "invoke_workflow tools"),
        ("execute_tool add", "invoke_workflow tools"),
        ("invoke_agent calc", "rollout"),
        ("invoke_workflow model", "invoke_agent calc"),
        ("invoke_workflow model", "invoke_agent calc"),
        ("invoke_workflow tools", "invoke_agent calc"),  # one tools step per call (LangGraph's Send)
        ("invoke_workflow tools", "invoke_agent calc"),
        ("rollout", None),
    ]
    assert len(llm_spans_of(spans)) == 2  # one per model call, also with the OpenAI plugin under LangChain
    context_errors = [r for r in caplog.records if "detach" in r.getMessage().lower() or r.levelno >= logging.ERROR]
    assert context_errors == []


# ---- 7. suppression, sync / async / streams ---------------------------------------------------------------------


async def test_suppression_honoured_everywhere(
    on: str, model: ChatOpenAI, amodel: ChatOpenAI, server: ScriptedOpenAIServer, spans: InMemorySpanExporter
) -> None:
    agent = create_agent(model, [add], name="calc")
    with suppress_instrumentation():
        model.invoke("hi")
        list(model.stream("hi"))
        await amodel.ainvoke("hi")
        [c async for c in amodel.astream("hi")]
        server.script(Reply(tool_calls=[ToolCall("add", '{"a": 2, "b": 2}')]), Reply(content="4"))
        agent.invoke({"messages": [("user", "2+2?")]})
        add.invoke({"a": 1, "b": 2})
    assert spans.get_finished_spans() == ()
    model.invoke("hi")  # and on again once the block is left
    assert len(llm_spans_of(spans)) == 1


# ---- 8. sync models called from `async def` under a running loop -----------------------------------------------


async def test_sync_model_and_agent_inside_async_def(
    on: str, model: ChatOpenAI, server: ScriptedOpenAIServer, spans: InMemorySpanExporter
) -> None:
    assert asyncio.get_running_loop().is_running()
    assert model.invoke("hi").content
    assert "".join(str(c.content) for c in model.stream("hi"))
    server.script(Reply(tool_calls=[ToolCall("add", '{"a": 2, "b": 2}')]), Reply(content="4"))
    assert create_agent(model, [add], name="calc").invoke({"messages": [("user", "2+2?")]})["messages"][-1].content
    assert len(llm_spans_of(spans)) == 4
    assert all(s.status.status_code is not StatusCode.ERROR for s in spans.get_finished_spans())


# ---- 11. memory over many LangGraph runs with errors and interrupts ---------------------------------------------


class _State(TypedDict, total=False):
    n: int
    answer: str


def _step(state: _State) -> _State:
    n = state.get("n", 0)
    if n % 5 == 1:
        raise RuntimeError(f"node failed on run {n}")
    if n % 5 == 2:
        return {"answer": str(interrupt("need approval"))}
    return {"answer": "ok"}


def _graph() -> tuple[Any, InMemorySaver]:
    builder = StateGraph(_State)
    builder.add_node("step", _step)
    builder.add_edge(START, "step")
    builder.add_edge("step", END)
    saver = InMemorySaver()
    return builder.compile(checkpointer=saver), saver


def _runs(graph: tuple[Any, InMemorySaver], start: int, count: int) -> None:
    compiled, saver = graph
    for n in range(start, start + count):
        thread = f"t{n}"
        with contextlib.suppress(RuntimeError):  # every fifth run fails on purpose
            compiled.invoke({"n": n}, {"configurable": {"thread_id": thread}})
        saver.delete_thread(thread)  # LangGraph's own per-thread history is not what is measured


@pytest.mark.slow
def test_graph_runs_with_errors_and_interrupts_leave_maps_empty_and_memory_flat(
    plugins: Any, spans: InMemorySpanExporter
) -> None:
    plugins("langchain")
    handler = get_instrumentor("langchain").callback_handler()  # type: ignore[attr-defined]
    assert handler is not None
    graph = _graph()
    _runs(graph, 0, 100)  # warm-up: caches
    finished = spans.get_finished_spans()
    assert any(s.status.status_code is StatusCode.ERROR for s in finished)  # the runs did fail
    assert any("agentlightning.langchain.control_flow" in (s.attributes or {}) for s in finished)  # and interrupt
    spans.clear()
    gc.collect()
    tracemalloc.start()
    try:
        _runs(graph, 100, 200)
        spans.clear()
        gc.collect()
        first, _ = tracemalloc.get_traced_memory()
        _runs(graph, 300, 400)
        spans.clear()
        gc.collect()
        second, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(handler.runs) == 0 and handler.hidden == {} and handler.marks == {}
    # twice the runs must not cost twice the memory: the per-run state is freed (a leak of even 1 KiB per
    # run would add 400 KiB here)
    assert second - first < 200_000, (first, second)
