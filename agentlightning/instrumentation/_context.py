"""When not to trace: OpenTelemetry suppression, and the "an LLM span is already open" marker.

**Suppression.** Code running under ``opentelemetry.instrumentation.utils.suppress_instrumentation()``
(the OpenTelemetry convention; exporters use it so their own HTTP calls are not traced) makes no spans
from agentlightning instrumentations. The OpenLLMetry key ``suppress_language_model_instrumentation``
is honoured too. :func:`is_suppressed` checks both.

**One model call, one LLM span.** Several instrumentations may see the same model call: LangChain's
chat model calls the OpenAI client, which is itself instrumented. The instrumentation that opens an LLM
span marks the context with :func:`llm_span_scope` for the duration of the call; an instrumentation that
finds :func:`llm_span_active` true makes no LLM span of its own (it calls the original untraced). So the
outermost instrumentation owns the LLM span, whichever order they were installed in::

    from agentlightning.instrumentation import current_llm_span, llm_span_active, llm_span_scope

    def wrapper(wrapped, instance, args, kwargs):
        if llm_span_active():                 # someone above already traces this model call
            return wrapped(*args, **kwargs)
        span = tracer.start_span("chat gpt-4o")
        with llm_span_scope(span):            # callees see llm_span_active() == True
            ...

An outer instrumentation that would rather let the provider's span win (it has token ids and exact
usage) simply does not open a scope; :func:`current_llm_span` lets an inner one enrich the outer span.
The marker is a ``ContextVar``: threads and asyncio tasks each see their own.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from typing import TYPE_CHECKING

from opentelemetry import context as otel_context

if TYPE_CHECKING:
    from opentelemetry.trace import Span

__all__ = [
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

_LLM_SPAN: ContextVar[Span | None] = ContextVar("agentlightning_llm_span", default=None)

_get_current = otel_context.get_current


def is_suppressed() -> bool:
    """True when OpenTelemetry instrumentation (or language-model instrumentation) is suppressed here."""
    ctx = _get_current()
    return bool(ctx.get(_SUPPRESS_KEY) or ctx.get(_SUPPRESS_PLAIN) or ctx.get(_SUPPRESS_LLM))


def llm_span_active() -> bool:
    """True inside a model call that an instrumentation already traces with an LLM span."""
    return _LLM_SPAN.get() is not None


def current_llm_span() -> Span | None:
    """The LLM span of the model call in progress, if an instrumentation opened one."""
    return _LLM_SPAN.get()


def enter_llm_span(span: Span) -> Token[Span | None]:
    """Low-level form of :func:`llm_span_scope` for wrappers: pair it with :func:`exit_llm_span`."""
    return _LLM_SPAN.set(span)


def exit_llm_span(token: Token[Span | None]) -> None:
    _LLM_SPAN.reset(token)


@contextmanager
def llm_span_scope(span: Span) -> Iterator[Span]:
    """Mark ``span`` as the LLM span of the model call running inside the ``with`` block."""
    token = _LLM_SPAN.set(span)
    try:
        yield span
    finally:
        _LLM_SPAN.reset(token)
