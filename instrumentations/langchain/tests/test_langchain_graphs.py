"""Tools, a retriever, LangGraph agents (invoke and astream_events), a node that raises, an interrupt: the span
tree follows LangChain's run tree, one trace per top-level run, one ``chat`` span per model call."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypedDict

import pytest
from langchain.agents import create_agent
from langchain_core.documents import Document
from langchain_core.messages import ToolMessage
from langchain_core.retrievers import BaseRetriever
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from langgraph.graph import END, START, StateGraph
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from agentlightning import semconv as sc
from agentlightning.instrumentation import instrument, uninstrument_all
from agentlightning.testing import Reply, ScriptedOpenAIServer, ToolCall

from ._tree import edges, named, one_trace

Spans = Callable[[], list[ReadableSpan]]


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


AGENT_EDGES = {
    ("invoke_agent calc", None),
    ("invoke_workflow model", "invoke_agent calc"),
    ("chat gpt-test", "invoke_workflow model"),
    ("invoke_workflow tools", "invoke_agent calc"),
    ("execute_tool add", "invoke_workflow tools"),
}


def _check_agent(spans: list[ReadableSpan]) -> None:
    assert one_trace(spans)
    assert edges(spans) == AGENT_EDGES
    chats = named(spans, "chat gpt-test")
    assert len(chats) == 2  # one per model call, whichever plugins are on
    first, second = sorted(chats, key=lambda s: s.start_time or 0)
    assert (first.attributes or {})[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("tool_calls",)
    (call,) = json.loads(str((first.attributes or {})[sc.AGL_TOOL_CALLS]))
    assert call["name"] == "add" and "arguments" not in call
    assert (second.attributes or {})[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 1
    (tool_span,) = named(spans, "execute_tool add")
    assert (tool_span.attributes or {})[sc.GEN_AI_TOOL_CALL_ID] == call["id"]
    assert sc.GEN_AI_TOOL_CALL_ARGUMENTS not in (tool_span.attributes or {})
    assert all(s.status.status_code is not StatusCode.ERROR for s in spans)


def _script_agent(server: ScriptedOpenAIServer) -> None:
    server.script(Reply(tool_calls=[ToolCall("add", '{"a": 2, "b": 2}')]), Reply(content="4"))


def test_bind_tools_and_tool_executed(
    instrumented: InMemorySpanExporter, model: ChatOpenAI, server: ScriptedOpenAIServer, finished: Spans
) -> None:
    server.script(Reply(tool_calls=[ToolCall("add", '{"a": 1, "b": 2}')]))
    message = model.bind_tools([add]).invoke("1+2?")
    (call,) = message.tool_calls
    result = add.invoke(call)
    assert isinstance(result, ToolMessage) and result.content == "3"
    spans = finished()
    assert [s.name for s in spans] == ["chat gpt-test", "execute_tool add"]
    chat = spans[0].attributes or {}
    assert json.loads(str(chat[sc.GEN_AI_TOOL_DEFINITIONS])) == [{"type": "function", "name": "add"}]
    assert (spans[1].attributes or {})[sc.GEN_AI_TOOL_CALL_ID] == call["id"]


def test_agent_invoke_tree(
    instrumented: InMemorySpanExporter, model: ChatOpenAI, server: ScriptedOpenAIServer, finished: Spans
) -> None:
    _script_agent(server)
    result = create_agent(model, [add], name="calc").invoke({"messages": [("user", "2+2?")]})
    assert result["messages"][-1].content == "4"
    _check_agent(finished())


async def test_agent_astream_events_tree(
    instrumented: InMemorySpanExporter, amodel: ChatOpenAI, server: ScriptedOpenAIServer, finished: Spans
) -> None:
    _script_agent(server)
    agent = create_agent(amodel, [add], name="calc")
    kinds = [event["event"] async for event in agent.astream_events({"messages": [("user", "2+2?")]}, version="v2")]
    assert "on_tool_end" in kinds
    _check_agent(finished())


def test_tool_content_with_capture(
    spans: InMemorySpanExporter, model: ChatOpenAI, server: ScriptedOpenAIServer, finished: Spans
) -> None:
    _script_agent(server)
    instrument("langchain", capture_content=True)
    try:
        create_agent(model, [add], name="calc").invoke({"messages": [("user", "2+2?")]})
    finally:
        uninstrument_all()
    (tool_span,) = named(finished(), "execute_tool add")
    attributes = tool_span.attributes or {}
    assert json.loads(str(attributes[sc.GEN_AI_TOOL_CALL_ARGUMENTS])) == {"a": 2, "b": 2}
    assert attributes[sc.GEN_AI_TOOL_CALL_RESULT] == "4"


class _State(TypedDict):
    value: int


def _graph(fail: bool) -> Any:
    def double(state: _State) -> _State:
        return {"value": state["value"] * 2}

    def check(state: _State) -> _State:
        if fail:
            raise ValueError("value out of range")
        return state

    builder = StateGraph(_State)
    builder.add_node("double", double)
    builder.add_node("check", check)
    builder.add_edge(START, "double")
    builder.add_edge("double", "check")
    builder.add_edge("check", END)
    return builder.compile(name="pipeline")


def test_graph_nodes_nested(instrumented: InMemorySpanExporter, finished: Spans) -> None:
    assert _graph(fail=False).invoke({"value": 2}) == {"value": 4}
    spans = finished()
    assert one_trace(spans)
    assert edges(spans) == {
        ("invoke_workflow pipeline", None),
        ("invoke_workflow double", "invoke_workflow pipeline"),
        ("invoke_workflow check", "invoke_workflow pipeline"),
    }


def test_node_that_raises(instrumented: InMemorySpanExporter, finished: Spans) -> None:
    with pytest.raises(ValueError, match="value out of range"):
        _graph(fail=True).invoke({"value": 2})
    by_name = {s.name: s for s in finished()}
    for name in ("invoke_workflow check", "invoke_workflow pipeline"):
        assert by_name[name].status.status_code is StatusCode.ERROR
        assert (by_name[name].attributes or {})[sc.ERROR_TYPE] == "ValueError"
    assert by_name["invoke_workflow double"].status.status_code is StatusCode.UNSET


def test_interrupt_is_not_an_error(instrumented: InMemorySpanExporter, finished: Spans) -> None:
    from langgraph.checkpoint.memory import InMemorySaver
    from langgraph.types import interrupt

    def ask(state: _State) -> _State:
        return {"value": int(interrupt("how much?"))}

    builder = StateGraph(_State)
    builder.add_node("ask", ask)
    builder.add_edge(START, "ask")
    builder.add_edge("ask", END)
    graph = builder.compile(checkpointer=InMemorySaver(), name="asker")
    result = graph.invoke({"value": 0}, {"configurable": {"thread_id": "t"}})
    assert "__interrupt__" in result
    spans = finished()
    assert spans and all(s.status.status_code is not StatusCode.ERROR for s in spans)


class _Docs(BaseRetriever):
    def _get_relevant_documents(self, query: str, *, run_manager: Any) -> list[Document]:
        return [Document(page_content=f"{query} one"), Document(page_content=f"{query} two")]


def test_retriever(instrumented: InMemorySpanExporter, finished: Spans) -> None:
    assert len(_Docs().invoke("q")) == 2
    (span,) = finished()
    assert span.name == "retrieval _Docs"
    assert (span.attributes or {})["agentlightning.retrieval.document_count"] == 2
    assert "gen_ai.retrieval.documents" not in (span.attributes or {})
