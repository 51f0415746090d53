"""Per-run state is freed on every end path; no context value differs before and after a run; the
process-wide hook is inert after uninstrument; the handler is reachable for agent-lightning 0.3 code."""

from __future__ import annotations

import asyncio
import contextvars
import gc
import tracemalloc
from typing import Any

import pytest
from agentlightning_langchain import LangChainInstrumentor
from langchain_core.runnables import RunnableLambda
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from agentlightning.instrumentation import get_instrumentor, instrument, uninstrument_all


def _handler() -> Any:
    instrumentor = get_instrumentor("langchain")
    assert isinstance(instrumentor, LangChainInstrumentor)
    handler = instrumentor.callback_handler()
    assert handler is not None
    return handler


def _chain() -> Any:
    def step(x: int) -> int:
        if x % 7 == 0:
            raise ValueError(f"bad {x}")
        return x + 1

    return RunnableLambda(step, name="step") | RunnableLambda(lambda y: y * 2, name="twice")


def _run_many(chain: Any, count: int) -> int:
    failures = 0
    for i in range(count):
        try:
            chain.invoke(i)
        except ValueError:
            failures += 1
    return failures


@pytest.mark.slow
def test_thousand_runs_leave_the_maps_empty_and_memory_flat(spans: InMemorySpanExporter) -> None:
    instrument("langchain")
    try:
        handler, chain = _handler(), _chain()
        _run_many(chain, 200)  # warm-up: caches, lazily built LangChain state
        spans.clear()
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        failures = _run_many(chain, 1000)
        spans.clear()
        gc.collect()
        growth = tracemalloc.get_traced_memory()[0] - before
        tracemalloc.stop()
        assert failures == 143
        assert len(handler.runs) == 0 and handler.hidden == {} and handler.marks == {}
        assert growth < 200_000, f"{growth} bytes kept after 1,000 runs"
    finally:
        uninstrument_all()


def test_errors_end_spans_and_free_entries(spans: InMemorySpanExporter) -> None:
    instrument("langchain")
    try:
        handler = _handler()
        with pytest.raises(ValueError):
            _chain().invoke(7)
        assert len(handler.runs) == 0
    finally:
        uninstrument_all()
    errors = [s for s in spans.get_finished_spans() if s.status.status_code is StatusCode.ERROR]
    assert {s.name for s in errors} == {"invoke_workflow step", "invoke_workflow RunnableSequence"}


async def test_async_run_leaves_context_unchanged(spans: InMemorySpanExporter) -> None:
    instrument("langchain")
    try:
        before = dict(contextvars.copy_context())
        await _chain().ainvoke(1)
        await asyncio.gather(_chain().ainvoke(2), _chain().ainvoke(3))
        after = dict(contextvars.copy_context())
        assert {k: v for k, v in after.items() if before.get(k) is not v} == {}
        assert len(_handler().runs) == 0
    finally:
        uninstrument_all()
    assert len(spans.get_finished_spans()) == 9


def test_callback_handler_none_unless_instrumented_and_not_doubled(spans: InMemorySpanExporter) -> None:
    instrumentor = get_instrumentor("langchain")
    assert isinstance(instrumentor, LangChainInstrumentor)
    assert instrumentor.callback_handler() is None
    instrument("langchain")
    try:
        handler = _handler()
        # agent-lightning 0.3 code passes the handler explicitly: it is the hook's, so still one span per run.
        RunnableLambda(lambda x: x, name="echo").invoke(1, {"callbacks": [handler]})
    finally:
        uninstrument_all()
    assert instrumentor.callback_handler() is None
    assert [s.name for s in spans.get_finished_spans()] == ["invoke_workflow echo"]


def test_instrument_uninstrument_instrument(spans: InMemorySpanExporter) -> None:
    echo = RunnableLambda(lambda x: x, name="echo")
    instrument("langchain")
    instrument("langchain")
    echo.invoke(1)
    uninstrument_all()
    echo.invoke(2)
    instrument("langchain")
    try:
        echo.invoke(3)
    finally:
        uninstrument_all()
    assert [s.name for s in spans.get_finished_spans()] == ["invoke_workflow echo"] * 2
