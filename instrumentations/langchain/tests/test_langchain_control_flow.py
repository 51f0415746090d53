"""Control flow is not an error: LangGraph's interrupts, commands and step limit, and a stream left early, end
their spans with a non-error status saying what happened; real exceptions end them ERROR and reach the caller
unchanged (the very object raised)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypedDict

import pytest
from agentlightning_langchain._handler import CONTROL_FLOW
from langchain_core.runnables import RunnableLambda
from langgraph.errors import GraphRecursionError
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from agentlightning import semconv as sc
from agentlightning.instrumentation import get_instrumentor

from ._tree import edges, named, one_trace

Spans = Callable[[], list[ReadableSpan]]


class _State(TypedDict):
    value: int


def _no_errors(spans: list[ReadableSpan]) -> None:
    assert spans
    for span in spans:
        assert span.status.status_code is StatusCode.UNSET, span.name
        assert sc.ERROR_TYPE not in (span.attributes or {}), span.name


def _open_runs() -> int:
    handler = get_instrumentor("langchain").callback_handler()  # type: ignore[attr-defined]
    return len(handler.runs) + len(handler.hidden) + len(handler.marks)


def _looping_graph() -> Any:
    builder = StateGraph(_State)
    builder.add_node("step", lambda state: {"value": state["value"] + 1})
    builder.add_edge(START, "step")
    builder.add_edge("step", "step")  # never ends by itself
    return builder.compile(name="looper")


def test_command_goto_is_plain_routing(instrumented: InMemorySpanExporter, finished: Spans) -> None:
    def route(state: _State) -> Command[Any]:
        return Command(goto="done", update={"value": state["value"] + 1})

    builder = StateGraph(_State)
    builder.add_node("route", route)
    builder.add_node("done", lambda state: {"value": state["value"] * 10})
    builder.add_edge(START, "route")
    builder.add_edge("done", END)
    assert builder.compile(name="router").invoke({"value": 1}) == {"value": 20}
    spans = finished()
    _no_errors(spans)
    assert edges(spans) == {
        ("invoke_workflow router", None),
        ("invoke_workflow route", "invoke_workflow router"),
        ("invoke_workflow done", "invoke_workflow router"),
    }


def test_parent_command_from_a_subgraph_is_control_flow(instrumented: InMemorySpanExporter, finished: Spans) -> None:
    def hand_back(state: _State) -> Command[Any]:
        return Command(graph=Command.PARENT, goto="after", update={"value": 10})

    inner = StateGraph(_State)
    inner.add_node("hand_back", hand_back)
    inner.add_edge(START, "hand_back")
    outer = StateGraph(_State)
    outer.add_node("sub", inner.compile(name="sub"))
    outer.add_node("after", lambda state: {"value": state["value"] + 1})
    outer.add_edge(START, "sub")
    outer.add_edge("after", END)
    assert outer.compile(name="parent").invoke({"value": 0}) == {"value": 11}
    spans = finished()
    _no_errors(spans)
    assert one_trace(spans)
    (hand_back_span,) = named(spans, "invoke_workflow hand_back")
    assert (hand_back_span.attributes or {})[CONTROL_FLOW] == "ParentCommand"
    (parent,) = named(spans, "invoke_workflow parent")
    assert CONTROL_FLOW not in (parent.attributes or {})  # the command was handled below it
    assert _open_runs() == 0


def test_interrupt_says_so(instrumented: InMemorySpanExporter, finished: Spans) -> None:
    from langgraph.checkpoint.memory import InMemorySaver
    from langgraph.types import interrupt

    builder = StateGraph(_State)
    builder.add_node("ask", lambda state: {"value": int(interrupt("how much?"))})
    builder.add_edge(START, "ask")
    builder.add_edge("ask", END)
    graph = builder.compile(checkpointer=InMemorySaver(), name="asker")
    config: Any = {"configurable": {"thread_id": "t"}}
    assert "__interrupt__" in graph.invoke({"value": 0}, config)
    assert graph.invoke(Command(resume="5"), config) == {"value": 5}
    spans = finished()
    _no_errors(spans)
    first_ask = min(named(spans, "invoke_workflow ask"), key=lambda s: s.start_time or 0)
    assert (first_ask.attributes or {})[CONTROL_FLOW] == "GraphInterrupt"
    assert len({s.context.trace_id for s in named(spans, "invoke_workflow asker")}) == 2  # two top-level runs
    assert _open_runs() == 0


def test_recursion_limit_caught_by_the_user(instrumented: InMemorySpanExporter, finished: Spans) -> None:
    with pytest.raises(GraphRecursionError):
        _looping_graph().invoke({"value": 0}, {"recursion_limit": 3})
    spans = finished()
    _no_errors(spans)
    (graph,) = named(spans, "invoke_workflow looper")
    assert (graph.attributes or {})[CONTROL_FLOW] == "GraphRecursionError"
    assert len(named(spans, "invoke_workflow step")) == 3
    assert _open_runs() == 0


def test_stream_left_early(instrumented: InMemorySpanExporter, finished: Spans) -> None:
    stream = _looping_graph().stream({"value": 0}, {"recursion_limit": 100})
    for index, _chunk in enumerate(stream):
        if index == 1:
            break
    stream.close()  # what leaving the loop does once the generator is collected
    spans = finished()
    _no_errors(spans)
    (graph,) = named(spans, "invoke_workflow looper")
    assert (graph.attributes or {})[CONTROL_FLOW] == "GeneratorExit"
    assert _open_runs() == 0


class _Refused(Exception):
    pass


def test_real_exception_is_error_and_the_same_object(instrumented: InMemorySpanExporter, finished: Spans) -> None:
    raised = _Refused("no")

    def refuse(state: _State) -> _State:
        raise raised

    builder = StateGraph(_State)
    builder.add_node("refuse", refuse)
    builder.add_edge(START, "refuse")
    with pytest.raises(_Refused) as caught:
        builder.compile(name="refuser").invoke({"value": 0})
    assert caught.value is raised
    spans = finished()
    assert {s.name for s in spans} == {"invoke_workflow refuser", "invoke_workflow refuse"}
    for span in spans:
        assert span.status.status_code is StatusCode.ERROR
        assert (span.attributes or {})[sc.ERROR_TYPE] == "_Refused"
        assert CONTROL_FLOW not in (span.attributes or {})
    assert _open_runs() == 0


async def test_real_exception_in_async_chain(instrumented: InMemorySpanExporter, finished: Spans) -> None:
    raised = KeyError("missing")

    def fail(_: int) -> int:
        raise raised

    with pytest.raises(KeyError) as caught:
        await (RunnableLambda(lambda x: x + 1, name="inc") | RunnableLambda(fail, name="fail")).ainvoke(1)
    assert caught.value is raised
    by_name = {s.name: s for s in finished()}
    assert by_name["invoke_workflow fail"].status.status_code is StatusCode.ERROR
    assert by_name["invoke_workflow inc"].status.status_code is StatusCode.UNSET
    assert (by_name["invoke_workflow RunnableSequence"].attributes or {})[sc.ERROR_TYPE] == "KeyError"
