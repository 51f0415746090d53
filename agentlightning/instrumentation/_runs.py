"""Spans keyed by a run id: the form for callback frameworks (LangChain's ``on_*_start`` / ``on_*_end``).

A callback framework tells us a run started in one callback and ended in another, possibly on another thread
or asyncio task. Attaching an OpenTelemetry context in the first and detaching it in the second would fail
("Failed to detach context") and leak it into the caller; so nothing is attached. Each span is parented
explicitly: on the span of ``parent_run_id`` when that run is open here, else on the span current when the
run started (the rollout's, or the user's own)::

    from agentlightning.instrumentation import RunSpans

    runs = RunSpans(tracer)                                   # one per handler

    def on_chain_start(self, serialized, inputs, *, run_id, parent_run_id=None, **kw):
        runs.start_agent(run_id, f"invoke_workflow {name}", attrs, parent_run_id=parent_run_id, workflow=True)

    def on_chat_model_start(self, serialized, messages, *, run_id, parent_run_id=None, **kw):
        runs.start_llm(run_id, f"chat {model}", attrs, parent_run_id=parent_run_id)

    def on_llm_end(self, response, *, run_id, **kw):
        runs.stop(run_id, attributes_from(response))

    def on_llm_error(self, error, *, run_id, **kw):
        runs.fail(run_id, error)

Every end path (``stop``, ``fail``, :meth:`RunSpans.close_all`) frees the run's entry; ending a run that
is not open (never started, already ended) does nothing. An open LLM run is also registered as the LLM span
of the model call on the thread/task that started it, so the provider's wrapper underneath (the OpenAI plugin)
adds its attributes to it instead of opening a second span. The framework must therefore call the provider
on that thread/task, between the start and end callbacks -- LangChain does when the handler runs inline
(``run_inline = True``).
"""

from __future__ import annotations

import threading
from collections.abc import Hashable
from typing import TYPE_CHECKING, Any

from opentelemetry import trace

from ._context import register_pending, unregister_pending
from ._spans import Attributes, Invocation, Kind, _start

if TYPE_CHECKING:
    from opentelemetry.trace import Tracer

__all__ = ["RunSpans"]


class _Run:
    __slots__ = ("invocation", "pending")

    def __init__(self, invocation: Invocation, pending: tuple[int, int] | None) -> None:
        self.invocation = invocation
        self.pending = pending


class RunSpans:
    """Open spans by run id, thread-safe; parented explicitly, never attached to a context."""

    def __init__(self, tracer: Tracer) -> None:
        self._tracer = tracer
        self._runs: dict[Hashable, _Run] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._runs)

    def __contains__(self, run_id: object) -> bool:
        return run_id in self._runs

    def get(self, run_id: Hashable) -> Invocation | None:
        """The open run's invocation (to add attributes mid-run), or ``None``."""
        run = self._runs.get(run_id)
        return run.invocation if run is not None else None

    def start(
        self,
        run_id: Hashable,
        kind: Kind,
        name: str,
        attributes: Attributes | None = None,
        *,
        parent_run_id: Hashable | None = None,
        capture: bool = False,
    ) -> Invocation:
        """Open the span of run ``run_id`` (a run id already open is ended first, as its framework forgot it)."""
        parent: Any = None
        with self._lock:
            parent_run = self._runs.get(parent_run_id) if parent_run_id is not None else None
            if parent_run is not None:
                parent = parent_run.invocation.span
        if parent is None:
            parent = trace.get_current_span()
        invocation = _start(self._tracer, kind, name, attributes, capture, parent)
        pending = register_pending(invocation) if kind == "llm" else None
        with self._lock:
            previous = self._runs.pop(run_id, None)
            self._runs[run_id] = _Run(invocation, pending)
        if previous is not None:
            self._release(previous)
            previous.invocation.stop()
        return invocation

    def start_llm(
        self,
        run_id: Hashable,
        name: str,
        attributes: Attributes | None = None,
        *,
        parent_run_id: Hashable | None = None,
        capture: bool = False,
    ) -> Invocation:
        """A model call (``chat {model}``); the provider wrapper underneath adds to this span."""
        return self.start(run_id, "llm", name, attributes, parent_run_id=parent_run_id, capture=capture)

    def start_agent(
        self,
        run_id: Hashable,
        name: str,
        attributes: Attributes | None = None,
        *,
        parent_run_id: Hashable | None = None,
        workflow: bool = False,
        capture: bool = False,
    ) -> Invocation:
        """An agent step (``invoke_agent {name}``) or, with ``workflow``, a chain/graph (``invoke_workflow``)."""
        kind: Kind = "workflow" if workflow else "agent"
        return self.start(run_id, kind, name, attributes, parent_run_id=parent_run_id, capture=capture)

    def start_tool(
        self,
        run_id: Hashable,
        name: str,
        attributes: Attributes | None = None,
        *,
        parent_run_id: Hashable | None = None,
        capture: bool = False,
    ) -> Invocation:
        """A tool run (``execute_tool {name}``)."""
        return self.start(run_id, "tool", name, attributes, parent_run_id=parent_run_id, capture=capture)

    def _pop(self, run_id: Hashable) -> _Run | None:
        with self._lock:
            run = self._runs.pop(run_id, None)
        if run is not None:
            self._release(run)
        return run

    @staticmethod
    def _release(run: _Run) -> None:
        if run.pending is not None:
            unregister_pending(run.pending, run.invocation)

    def stop(self, run_id: Hashable, attributes: Attributes | None = None) -> bool:
        """End run ``run_id`` successfully; ``False`` when it was not open."""
        run = self._pop(run_id)
        if run is None:
            return False
        run.invocation.stop(attributes)
        return True

    def fail(self, run_id: Hashable, error: BaseException, attributes: Attributes | None = None) -> bool:
        """End run ``run_id`` with ``error`` recorded; ``False`` when it was not open."""
        run = self._pop(run_id)
        if run is None:
            return False
        run.invocation.fail(error, attributes)
        return True

    def close_all(self) -> int:
        """End every open run (uninstrument, shutdown); returns how many were open."""
        with self._lock:
            runs, self._runs = list(self._runs.values()), {}
        for run in runs:
            self._release(run)
            run.invocation.stop()
        return len(runs)
