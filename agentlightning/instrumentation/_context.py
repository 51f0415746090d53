"""When not to trace, and the LLM span a model call already has.

**Suppression.** Code running under ``opentelemetry.instrumentation.utils.suppress_instrumentation()``
(the OpenTelemetry convention; exporters use it so their own HTTP calls are not traced) makes no spans
from agentlightning instrumentations. The OpenLLMetry key ``suppress_language_model_instrumentation``
is honoured too. :func:`is_suppressed` checks both.

**One model call, one LLM span.** Several layers may see the same model call: LangChain's chat model calls
the OpenAI client, which is itself instrumented; OpenTelemetry's own openai-v2 instrumentation may wrap the
same method. :func:`current_llm_invocation` finds the LLM span of the call in progress, in this order:

1. one opened by an agentlightning wrapper further up this call (marked with :func:`llm_span_scope`;
   a ``ContextVar``, so threads and tasks each see their own);
2. one opened by a callback of a framework plugin through :class:`~agentlightning.instrumentation.RunSpans`
   and still open on this thread / asyncio task (callbacks cannot leave a context attached, so the run-id
   form registers its open LLM run here instead; the framework calls its provider on the same thread or
   task, between its start and end callbacks);
3. the current span, when another instrumentation marked it as an LLM span: a recording CLIENT span with an
   LLM ``gen_ai.operation.name`` (OpenTelemetry's openai-v2 wrapping the method above ours) or OpenLLMetry's
   ``llm.request.type``, or an OpenInference ``LLM`` span.

The core LLM wrappers use it so that the provider layer (which sees the exact request, response id, usage and
server token ids) *adds* its attributes to that span instead of opening a second one; see the "who owns the
span" section of ``agentlightning.instrumentation._spans``. :func:`llm_span_active` is the yes/no form.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind
from opentelemetry.trace import propagation as _trace_propagation

from agentlightning.semconv import GEN_AI_OPERATION_NAME, LLM_OPERATIONS, OP_EMBEDDINGS

if TYPE_CHECKING:
    from opentelemetry.trace import Span

    from ._spans import Invocation

__all__ = [
    "current_llm_invocation",
    "current_llm_span",
    "enter_llm_span",
    "exit_llm_span",
    "is_suppressed",
    "llm_span_active",
    "llm_span_scope",
]

# The key object OpenTelemetry's own helpers set; the plain string is what older helpers set.
_SUPPRESS_KEY = getattr(otel_context, "_SUPPRESS_INSTRUMENTATION_KEY", "suppress_instrumentation")
_SUPPRESS_PLAIN = "suppress_instrumentation"
_SUPPRESS_LLM = "suppress_language_model_instrumentation"

_LLM: ContextVar[Any] = ContextVar("agentlightning_llm_span", default=None)  # an Invocation or a bare Span
# How other instrumentations mark an LLM span: (attribute, values, CLIENT kind required). The GenAI conventions
# (OpenTelemetry's own openai-v2, util-genai), OpenLLMetry (AgentOps' LLM instrumentation builds on it), and
# OpenInference (whose spans are INTERNAL).
_FOREIGN_MARKERS: tuple[tuple[str, frozenset[str], bool], ...] = (
    (GEN_AI_OPERATION_NAME, frozenset({*LLM_OPERATIONS, OP_EMBEDDINGS}), True),
    ("llm.request.type", frozenset({"chat", "completion", "embedding"}), True),
    ("openinference.span.kind", frozenset({"LLM", "EMBEDDING"}), False),
)

_FOREIGN_INTERNAL_MARKERS = tuple(marker for marker in _FOREIGN_MARKERS if not marker[2])

_get_current = otel_context.get_current
_get_current_span = trace.get_current_span
# The context key of the current span (OpenTelemetry's own; read directly on the hot path, one context fetch).
_SPAN_KEY: str | None = getattr(_trace_propagation, "_SPAN_KEY", None)
_get_ident = threading.get_ident

# (thread id, id of the running asyncio task or 0) -> the open LLM invocation of a callback framework's run.
_PENDING: dict[tuple[int, int], Invocation] = {}
_PENDING_LOCK = threading.Lock()


def is_suppressed() -> bool:
    """True when OpenTelemetry instrumentation (or language-model instrumentation) is suppressed here."""
    ctx = _get_current()
    return bool(ctx.get(_SUPPRESS_KEY) or ctx.get(_SUPPRESS_PLAIN) or ctx.get(_SUPPRESS_LLM))


def _task_key() -> tuple[int, int]:
    try:
        import asyncio

        task = asyncio.current_task()
    except RuntimeError:  # no running event loop on this thread
        task = None
    return (_get_ident(), id(task) if task is not None else 0)


def register_pending(invocation: Invocation) -> tuple[int, int]:
    """Make ``invocation`` the open LLM run of this thread/task (the run-id form); returns its key."""
    key = _task_key()
    with _PENDING_LOCK:
        _PENDING[key] = invocation
    return key


def unregister_pending(key: tuple[int, int], invocation: Invocation) -> None:
    with _PENDING_LOCK:
        if _PENDING.get(key) is invocation:
            del _PENDING[key]


_LEAN_SPAN: type | None = None


def _lean_span_type() -> type:
    global _LEAN_SPAN
    from agentlightning.tracer.lean import LeanSpan

    _LEAN_SPAN = LeanSpan
    return LeanSpan


def _foreign_llm_span() -> Span | None:
    span: Any = _get_current().get(_SPAN_KEY) if _SPAN_KEY is not None else _get_current_span()
    if span is None or type(span) is (_LEAN_SPAN or _lean_span_type()) or not span.is_recording():
        return None  # a lean span is ours: our LLM spans are found through _LLM, the rest are not LLM spans
    client = getattr(span, "kind", None) is SpanKind.CLIENT
    attributes = getattr(span, "attributes", None)
    if not attributes:
        return None
    for key, values, needs_client in _FOREIGN_MARKERS if client else _FOREIGN_INTERNAL_MARKERS:
        if (client or not needs_client) and attributes.get(key) in values:
            found: Span = span
            return found
    return None


def current_llm_invocation() -> Invocation | None:
    """The LLM span of the model call in progress (see the module docstring), as an :class:`Invocation`."""
    marked = _LLM.get()
    if marked is not None and not getattr(marked, "ended", False):  # an ended run's mark is inert
        return _as_invocation(marked)
    if _PENDING:
        pending = _PENDING.get(_task_key())
        if pending is not None and not pending.ended:
            return pending
    foreign = _foreign_llm_span()
    if foreign is not None:
        return _as_invocation(foreign)
    return None


def _as_invocation(marked: Any) -> Invocation:
    from ._spans import Invocation

    if isinstance(marked, Invocation):
        return marked
    return Invocation(marked, "llm", False, owned=False)


def llm_span_active() -> bool:
    """True inside a model call that already has an LLM span (ours, a callback plugin's, or another library's)."""
    return current_llm_invocation() is not None


def current_llm_span() -> Span | None:
    """The LLM span of the model call in progress, if there is one."""
    invocation = current_llm_invocation()
    return invocation.span if invocation is not None else None


def enter_llm_span(span: Span | Invocation) -> Token[Any]:
    """Low-level form of :func:`llm_span_scope` for wrappers: pair it with :func:`exit_llm_span`."""
    return _LLM.set(span)


def exit_llm_span(token: Token[Any]) -> None:
    _LLM.reset(token)


@contextmanager
def llm_span_scope(span: Span | Invocation) -> Iterator[Any]:
    """Mark ``span`` as the LLM span of the model call running inside the ``with`` block."""
    token = _LLM.set(span)
    try:
        yield span
    finally:
        _LLM.reset(token)
