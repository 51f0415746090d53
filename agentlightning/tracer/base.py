"""The tracer contract (``agentlightning.tracer.base``).

A tracer turns everything an agent does into spans attributed to a rollout::

    tracer = OtelTracer()
    with tracer.lifespan(store):                               # init + init_worker + teardown
        async with tracer.trace_context("task-1", rollout_id=r.rollout_id, attempt_id=r.attempt.attempt_id):
            ...                                                  # every span here lands in rollout r
        spans = tracer.get_last_trace()

``trace_context`` works with ``with`` and ``async with``. The active context lives in a ContextVar, so
concurrent contexts in threads and asyncio tasks never mix their spans.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from agentlightning.types import ParallelWorkerBase

from ._state import current_trace_state

# (tracer, spans) of the last trace context that closed in this thread or task
_LAST_TRACE: ContextVar[tuple[Tracer, LastTrace] | None] = ContextVar("agentlightning_last_trace", default=None)

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import TypeAlias

    from agentlightning.store.base import LightningStore
    from agentlightning.types import Span

    # The spans of a closed trace context: a list, or a function that reads them (from the store) when asked.
    LastTrace: TypeAlias = list[Span] | Callable[[], list[Span]]

__all__ = ["Tracer", "get_active_tracer"]

logger = logging.getLogger(__name__)

LANGCHAIN_PLUGIN = "langchain"
"""Registry name of the plugin whose instrumentor's ``callback_handler()`` backs
:meth:`Tracer.get_langchain_handler`."""


class Tracer(ParallelWorkerBase):
    """Base class of tracers. Subclasses implement :meth:`trace_context`, :meth:`create_span` and
    :meth:`operation_context`."""

    def __init__(self) -> None:
        self._store: LightningStore | None = None
        self._last_trace: LastTrace = []

    @property
    def store(self) -> LightningStore | None:
        """The store spans are written to (set by :meth:`init_worker` or :meth:`lifespan`)."""
        return self._store

    def init_worker(self, worker_id: int | str, store: LightningStore | None = None, *args: Any, **kwargs: Any) -> None:
        super().init_worker(worker_id)
        if store is not None:
            self._store = store

    @contextmanager
    def lifespan(self, store: LightningStore | None = None) -> Iterator[Tracer]:
        """``init`` + ``init_worker(0, store)`` on entry, ``teardown_worker`` + ``teardown`` on exit."""
        self.init()
        self.init_worker(0, store)
        try:
            yield self
        finally:
            self.teardown_worker(0)
            self.teardown()

    def trace_context(
        self,
        name: str | None = None,
        *,
        store: LightningStore | None = None,
        rollout_id: str | None = None,
        attempt_id: str | None = None,
        capture_content: bool | None = None,
    ) -> Any:
        """A context manager (sync and async) inside which every span belongs to ``rollout_id``/``attempt_id``.

        ``capture_content=True`` records prompts and answers of the calls made inside it, unless the
        instrumentation was told otherwise (``instrument_all(capture_content=False)`` or the environment);
        ``None`` (the default) leaves it off. A :class:`~agentlightning.Trainer` opens its rollouts with it on.
        """
        raise NotImplementedError

    def get_last_trace(self) -> list[Span]:
        """The spans of the last trace context that closed, in ``sequence_id`` order.

        "Last" is per thread or asyncio task when this tracer's context closed there (so concurrent runners
        each see their own), else the last one to close anywhere. A context bound to a store keeps no span
        objects in memory; its spans are read back from the store here (so spans that ended after the
        context closed are included).
        """
        mine = _LAST_TRACE.get()
        last = mine[1] if mine is not None and mine[0] is self else self._last_trace
        return list(last) if isinstance(last, list) else last()

    def _set_last_trace(self, spans: LastTrace) -> None:
        self._last_trace = spans
        _LAST_TRACE.set((self, spans))

    def create_span(
        self,
        name: str,
        attributes: dict[str, Any] | None = None,
        timestamp: float | None = None,
        status: Any = None,
        *,
        end_timestamp: float | None = None,
    ) -> Any:
        """Record a span in the current context: it starts and ends now, or at ``timestamp`` and
        ``end_timestamp`` (seconds). ``status``: an OpenTelemetry ``Status`` or a ``TraceStatus``."""
        raise NotImplementedError

    def operation_context(self, name: str, attributes: dict[str, Any] | None = None) -> Any:
        """A context manager around a span that is current while the block runs; exceptions mark it ERROR."""
        raise NotImplementedError

    def get_langchain_handler(self) -> Any:
        """A LangChain callback handler that traces into the current rollout, or ``None`` (as in 0.3).

        It comes from the LangChain plugin: the instrumentor registered as ``langchain`` provides it through
        a ``callback_handler()`` method (the hook any plugin with a callback API can offer). Without that
        plugin this returns ``None``; it never imports LangChain itself.
        """
        from agentlightning.instrumentation import available_instrumentors, get_instrumentor

        if LANGCHAIN_PLUGIN not in available_instrumentors():
            return None
        try:
            provider = getattr(get_instrumentor(LANGCHAIN_PLUGIN), "callback_handler", None)
            return provider() if callable(provider) else None
        except Exception:  # a broken plugin must not break the agent that asked
            logger.exception("agentlightning: the %r plugin could not make a callback handler", LANGCHAIN_PLUGIN)
            return None


def get_active_tracer() -> Tracer | None:
    """The tracer whose trace context is active in this thread or task, if any."""
    state = current_trace_state()
    return None if state is None else state.tracer
