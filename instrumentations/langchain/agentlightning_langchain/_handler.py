"""The callback handler: LangChain's run tree (``run_id`` / ``parent_run_id``) as OpenTelemetry spans.

One handler per instrumentor, reached by every callback manager LangChain configures (see ``_hook``). It
keeps no state of its own beyond :class:`~agentlightning.instrumentation.RunSpans` (open runs) and the map of
hidden runs (LangGraph's internal ``langsmith:hidden`` steps, which get no span; their children are parented
on the nearest visible ancestor). Both are freed on every end path: ``*_end``, ``*_error``, and the
uninstrument's ``close()``.

``run_inline = True``: LangChain calls this handler on the thread/task that runs the model, so the open LLM
run is the LLM span of that model call, and the OpenAI plugin underneath adds to it (one span per call).
Every callback is guarded: a failure of ours is logged once, never raised into the user's run.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Hashable
from typing import TYPE_CHECKING, Any

from langchain_core.callbacks import BaseCallbackHandler

from agentlightning import semconv as sc
from agentlightning.instrumentation import (
    InstrumentationConfig,
    Invocation,
    RunSpans,
    capture_enabled,
    enter_llm_span,
    exit_llm_span,
    guard,
    is_suppressed,
)

from . import _readers as r

if TYPE_CHECKING:
    from contextvars import Token

    from opentelemetry.trace import Tracer

__all__ = ["AgentLightningCallbackHandler"]

_HIDDEN_TAG = "langsmith:hidden"
_AGENT_INTEGRATIONS = frozenset({"langchain_create_agent"})
_START = guard("langchain.start")
_END = guard("langchain.end")


def _in_task() -> bool:
    asyncio = sys.modules.get("asyncio")
    if asyncio is None:
        return False
    try:
        return asyncio.current_task() is not None
    except RuntimeError:  # no running loop on this thread
        return False


def _control_flow(error: BaseException) -> bool:
    """LangGraph's interrupts and commands (``GraphBubbleUp``) steer the graph; they are not failures."""
    errors = sys.modules.get("langgraph.errors")  # never imported for this: only LangGraph raises them
    bubble = getattr(errors, "GraphBubbleUp", None) if errors is not None else None
    return isinstance(bubble, type) and isinstance(error, bubble)


class AgentLightningCallbackHandler(BaseCallbackHandler):
    """Spans for chains, graphs and nodes, chat/completion models, tools and retrievers."""

    run_inline = True  # same thread/task as the model call: one LLM span across layers
    raise_error = False

    def __init__(self, tracer: Tracer, config: InstrumentationConfig) -> None:
        super().__init__()
        self._config = config
        self.runs = RunSpans(tracer)
        self.hidden: dict[Hashable, Hashable | None] = {}
        self.marks: dict[Hashable, Token[Any]] = {}
        self._hidden_lock = threading.Lock()
        self.active = True

    # ---- bookkeeping ----------------------------------------------------------------------------

    def _parent(self, parent_run_id: Hashable | None) -> Hashable | None:
        hidden = self.hidden
        for _ in range(256):  # a hidden run's parent may be hidden too
            if parent_run_id is None or parent_run_id not in hidden:
                break
            parent_run_id = hidden.get(parent_run_id)
        return parent_run_id

    def _skip(self) -> bool:
        return not self.active or is_suppressed()

    def _mark(self, run_id: Hashable, invocation: Invocation) -> None:
        # RunSpans registers the LLM run for this thread/task; langchain-core's async ``agenerate`` calls the
        # model in child tasks (``asyncio.gather``), which that key does not reach. A child task copies its
        # parent's context, so the run is also marked there; unmarked at the run's end, in the same task
        # (the handler runs inline).
        if _in_task():
            self.marks[run_id] = enter_llm_span(invocation)

    def _unmark(self, run_id: Hashable) -> None:
        token = self.marks.pop(run_id, None) if self.marks else None
        if token is not None:
            # Ended from another context (ValueError): that context's value is not ours to reset.
            with contextlib.suppress(ValueError):
                exit_llm_span(token)

    def _end(self, run_id: Hashable, attributes: dict[str, Any] | None = None) -> None:
        if self.hidden and run_id in self.hidden:
            with self._hidden_lock:
                self.hidden.pop(run_id, None)
            return
        self.runs.stop(run_id, attributes)

    def _fail(self, error: BaseException, run_id: Hashable) -> None:
        self._unmark(run_id)
        if self.hidden and run_id in self.hidden:
            with self._hidden_lock:
                self.hidden.pop(run_id, None)
            return
        if isinstance(error, GeneratorExit):
            # The caller left a stream early (``break``, ``close()``, garbage collection): LangChain reports
            # it as an error, but the model call did not fail; the span ends OK, as a bare stream's would.
            self.runs.stop(run_id)
        elif _control_flow(error):
            self.runs.stop(run_id, {"agentlightning.langgraph.control_flow": type(error).__name__})
        else:
            self.runs.fail(run_id, error)

    def close(self) -> None:
        """End every open run and forget hidden ones (uninstrument)."""
        self.active = False
        with self._hidden_lock:
            self.hidden.clear()
        self.marks.clear()
        self.runs.close_all()

    # ---- chains, graphs, nodes ------------------------------------------------------------------

    def on_chain_start(
        self,
        serialized: dict[str, Any] | None,
        inputs: Any,
        *,
        run_id: Any,
        parent_run_id: Any = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if self._skip():
            return
        with _START:
            if tags and _HIDDEN_TAG in tags:
                with self._hidden_lock:
                    self.hidden[run_id] = parent_run_id
                return
            name = r.chain_name(serialized, kwargs)
            meta = metadata or {}
            agent = meta.get("ls_integration") in _AGENT_INTEGRATIONS and "langgraph_node" not in meta
            if agent:
                span_name = f"{sc.OP_INVOKE_AGENT} {name}"
                attributes = {sc.GEN_AI_OPERATION_NAME: sc.OP_INVOKE_AGENT, sc.GEN_AI_AGENT_NAME: name}
            else:
                span_name = f"{sc.OP_INVOKE_WORKFLOW} {name}"
                attributes = {sc.GEN_AI_OPERATION_NAME: sc.OP_INVOKE_WORKFLOW}
            node = meta.get("langgraph_node")
            if isinstance(node, str) and node == name:
                attributes["agentlightning.langgraph.node"] = node
            self.runs.start_agent(
                run_id,
                span_name,
                attributes,
                parent_run_id=self._parent(parent_run_id),
                workflow=not agent,
                capture=capture_enabled(self._config),
            )

    def on_chain_end(self, outputs: Any, *, run_id: Any, **kwargs: Any) -> None:
        with _END:
            self._end(run_id)

    def on_chain_error(self, error: BaseException, *, run_id: Any, **kwargs: Any) -> None:
        with _END:
            self._fail(error, run_id)

    # ---- models ---------------------------------------------------------------------------------

    def on_chat_model_start(
        self, serialized: dict[str, Any] | None, messages: Any, *, run_id: Any, parent_run_id: Any = None, **kwargs: Any
    ) -> None:
        if self._skip():
            return
        with _START:
            capture = capture_enabled(self._config)
            name, attributes = r.chat_request(messages, kwargs, capture)
            parent = self._parent(parent_run_id)
            self._mark(run_id, self.runs.start_llm(run_id, name, attributes, parent_run_id=parent, capture=capture))

    def on_llm_start(
        self, serialized: dict[str, Any] | None, prompts: Any, *, run_id: Any, parent_run_id: Any = None, **kwargs: Any
    ) -> None:
        if self._skip():
            return
        with _START:
            capture = capture_enabled(self._config)
            name, attributes = r.llm_request(prompts, kwargs, capture)
            parent = self._parent(parent_run_id)
            self._mark(run_id, self.runs.start_llm(run_id, name, attributes, parent_run_id=parent, capture=capture))

    def on_llm_end(self, response: Any, *, run_id: Any, **kwargs: Any) -> None:
        with _END:
            self._unmark(run_id)
            invocation = self.runs.get(run_id)
            if invocation is not None:
                self.runs.stop(run_id, r.llm_response(response, invocation.capture))

    def on_llm_error(self, error: BaseException, *, run_id: Any, **kwargs: Any) -> None:
        with _END:
            self._fail(error, run_id)

    # ---- tools ----------------------------------------------------------------------------------

    def on_tool_start(
        self,
        serialized: dict[str, Any] | None,
        input_str: str,
        *,
        run_id: Any,
        parent_run_id: Any = None,
        **kwargs: Any,
    ) -> None:
        if self._skip():
            return
        with _START:
            capture = capture_enabled(self._config)
            name, attributes = r.tool_request(serialized, input_str, kwargs, capture)
            self.runs.start_tool(run_id, name, attributes, parent_run_id=self._parent(parent_run_id), capture=capture)

    def on_tool_end(self, output: Any, *, run_id: Any, **kwargs: Any) -> None:
        with _END:
            invocation = self.runs.get(run_id)
            if invocation is not None:
                self.runs.stop(run_id, r.tool_response(output, invocation.capture))

    def on_tool_error(self, error: BaseException, *, run_id: Any, **kwargs: Any) -> None:
        with _END:
            self._fail(error, run_id)

    # ---- retrievers -----------------------------------------------------------------------------

    def on_retriever_start(
        self, serialized: dict[str, Any] | None, query: str, *, run_id: Any, parent_run_id: Any = None, **kwargs: Any
    ) -> None:
        if self._skip():
            return
        with _START:
            capture = capture_enabled(self._config)
            name, attributes = r.retriever_request(serialized, query, kwargs, capture)
            self.runs.start(
                run_id, "retrieval", name, attributes, parent_run_id=self._parent(parent_run_id), capture=capture
            )

    def on_retriever_end(self, documents: Any, *, run_id: Any, **kwargs: Any) -> None:
        with _END:
            invocation = self.runs.get(run_id)
            if invocation is not None:
                self.runs.stop(run_id, r.retriever_response(documents, invocation.capture))

    def on_retriever_error(self, error: BaseException, *, run_id: Any, **kwargs: Any) -> None:
        with _END:
            self._fail(error, run_id)
