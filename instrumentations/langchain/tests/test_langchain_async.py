"""Async runs: OpenTelemetry logs no "Failed to detach context", no context value differs before and after a
run, and a sync tool that LangGraph runs on an executor thread keeps the run's trace and its parents."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
from collections.abc import Callable
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.runnables import RunnableLambda
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from agentlightning.instrumentation import get_instrumentor
from agentlightning.testing import Reply, ScriptedOpenAIServer, ToolCall

from ._tree import edges, named, one_trace

Spans = Callable[[], list[ReadableSpan]]

_tool_threads: list[int] = []


@tool
def lookup(city: str) -> str:
    """Look a city's population up (a sync tool: LangGraph runs it on an executor thread in async runs)."""
    _tool_threads.append(threading.get_ident())
    return RunnableLambda(lambda c: f"{c}: 2.1M", name="database").invoke(city)


def _context() -> dict[Any, Any]:
    return dict(contextvars.copy_context())


def _changed(before: dict[Any, Any], after: dict[Any, Any]) -> dict[Any, Any]:
    return {k: v for k, v in after.items() if before.get(k) is not v} | {k: None for k in before if k not in after}


async def test_async_agent_with_sync_tool_on_an_executor_thread(
    instrumented: InMemorySpanExporter,
    amodel: ChatOpenAI,
    server: ScriptedOpenAIServer,
    finished: Spans,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="opentelemetry")
    _tool_threads.clear()
    server.script(
        Reply(tool_calls=[ToolCall("lookup", '{"city": "Paris"}')]),
        Reply(content="2.1M"),
        Reply(tool_calls=[ToolCall("lookup", '{"city": "Rome"}')]),
        Reply(content="2.8M"),
    )
    agent = create_agent(amodel, [lookup], name="census")
    tracer = trace.get_tracer("test")
    before = _context()
    with tracer.start_as_current_span("rollout") as rollout:
        inside = _context()
        result = await agent.ainvoke({"messages": [("user", "Paris?")]})
        assert _changed(inside, _context()) == {}
        events = [e["event"] async for e in agent.astream_events({"messages": [("user", "Rome?")]}, version="v2")]
        assert _changed(inside, _context()) == {}
    assert _changed(before, _context()) == {}
    assert result["messages"][-1].content == "2.1M" and "on_tool_end" in events
    assert _tool_threads and threading.get_ident() not in _tool_threads  # the tool really ran elsewhere

    spans = finished()
    assert one_trace(spans)  # both runs, the tools' threads included, under the rollout's span
    assert {s.parent.span_id for s in named(spans, "invoke_agent census") if s.parent} == {
        rollout.get_span_context().span_id
    }
    assert edges([s for s in spans if s.name != "rollout"]) == {
        ("invoke_agent census", None),
        ("invoke_workflow model", "invoke_agent census"),
        ("chat gpt-test", "invoke_workflow model"),
        ("invoke_workflow tools", "invoke_agent census"),
        ("execute_tool lookup", "invoke_workflow tools"),
        ("invoke_workflow database", "execute_tool lookup"),  # a run started inside the tool, on its thread
    }
    assert len(named(spans, "chat gpt-test")) == 4
    assert all(s.status.status_code is StatusCode.UNSET for s in spans)
    assert not [r for r in caplog.records if "Failed to detach context" in r.getMessage()]
    handler = get_instrumentor("langchain").callback_handler()  # type: ignore[attr-defined]
    assert len(handler.runs) == 0 and handler.marks == {}


async def test_concurrent_async_runs_with_errors_detach_cleanly(
    instrumented: InMemorySpanExporter, finished: Spans, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="opentelemetry")

    async def step(x: int) -> int:
        await asyncio.sleep(0)
        if x % 3 == 0:
            raise ValueError(x)
        return x

    chain = RunnableLambda(step, name="step") | RunnableLambda(lambda y: y + 1, name="inc")
    before = _context()
    results = await asyncio.gather(*(chain.ainvoke(i) for i in range(12)), return_exceptions=True)
    assert _changed(before, _context()) == {}
    assert sum(isinstance(r, ValueError) for r in results) == 4
    spans = finished()
    assert len({s.context.trace_id for s in named(spans, "invoke_workflow RunnableSequence")}) == 12
    assert not [r for r in caplog.records if "Failed to detach context" in r.getMessage()]


async def test_a_direct_call_after_a_bare_ainvoke_gets_its_own_span(
    spans: InMemorySpanExporter, amodel: ChatOpenAI, server: ScriptedOpenAIServer, finished: Spans
) -> None:
    """langchain-core ends an async model call from a child task, so the run's mark in the caller's context
    cannot be reset there; an ended run's mark must not swallow the next model call of that context."""
    from agentlightning.instrumentation import instrument, uninstrument_all

    server.script(Reply(content="a"), Reply(content="b"))
    instrument("langchain")
    instrument("openai")
    try:
        assert (await amodel.ainvoke("first")).content == "a"
        answer = await amodel.async_client.create(model="gpt-test", messages=[{"role": "user", "content": "x"}])
        assert answer.choices[0].message.content == "b"
    finally:
        uninstrument_all()
    spans_ = finished()
    assert [s.name for s in spans_] == ["chat gpt-test", "chat gpt-test"]
    assert len({s.context.trace_id for s in spans_}) == 2  # the direct call is its own top-level span
