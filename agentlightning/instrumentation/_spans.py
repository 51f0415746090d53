"""The span lifecycle every plugin uses: LLM calls, agent/workflow steps, tool runs.

A plugin describes *what* to read; the core does the rest (the should-I-trace test, the guarded before-step,
the bare original call, the guarded after-step, the user's exception recorded and re-raised unchanged, streams
ended exactly once)::

    from agentlightning.instrumentation import Operation, Patch, wrap

    CREATE = Operation(
        "llm",
        request=lambda instance, args, kwargs, capture: (f"chat {kwargs['model']}", {...}),   # name, attributes
        response=lambda result, capture: {...},                                              # attributes
        stream=ChatStreamHandler,                 # Invocation -> StreamHandler, for stream=True results
    )
    Patch("acme.client", "Client.complete", wrap(tracer, config, CREATE))            # sync
    Patch("acme.client", "AsyncClient.complete", wrap(tracer, config, CREATE, "async"))
    Patch("acme.agents", "Agent.run_stream", wrap(tracer, config, TURN, "async_gen"))  # an async generator

Kinds (``Operation.kind``) and their spans:

==============  ====================================  =========  ========================================
kind            span name (what ``request`` returns)  span kind  notes
==============  ====================================  =========  ========================================
``llm``         ``chat {model}``, ``text_completion    CLIENT     one LLM span per model call (below)
                {model}``, ``embeddings {model}``
``agent``       ``invoke_agent {name}``               INTERNAL
``workflow``    ``invoke_workflow {name}``            INTERNAL
``tool``        ``execute_tool {name}``               INTERNAL
``retrieval``   ``retrieval {name}``                  INTERNAL   a retriever (documents only with capture)
==============  ====================================  =========  ========================================

Without a wrapper (callbacks, manual code) the same lifecycle is :func:`start_llm`, :func:`start_agent`,
:func:`start_tool` returning an :class:`Invocation` with ``stop()`` / ``fail()`` (util-genai's
``TelemetryHandler`` shape), and :class:`~agentlightning.instrumentation.RunSpans` for spans keyed by a
framework's run id.

Who owns the LLM span of a model call
-------------------------------------
The **outermost** layer that sees the model call owns its span: it opens it, parents it (in its framework's
run tree), and ends it. A lower layer that finds that span (:func:`current_llm_invocation`: our own wrapper
further up, a callback plugin's open LLM run on this thread/task, or another instrumentation's GenAI CLIENT
span that is current) opens no span of its own; it *provides* its attributes to the owner's span
(:meth:`Invocation.provide`). Provided keys win over what the owner writes at ``stop()``: the provider layer
reads the exact request, the response id, the usage and the token ids a vLLM-style server returns, while the
framework layer knows the run tree and its own view of the call. So the span carries the union of both, and
token counts are written once (they are the same keys), whatever the install or import order.

The outer layer owns it because only it knows the span's place in the run tree (LangChain's parent run,
AutoGen's agent turn) and when the framework's view of the call ends (after parsing, retries, callbacks).

When another library's LLM instrumentation wrapped the same method underneath ours
(``opentelemetry-instrumentation-openai-v2`` or AgentOps' instrumented first), that layer would open a second
span for the same call; our wrapper steps over it for that call (:data:`FOREIGN_LLM_LAYERS`), whether it owns
the call's LLM span or provides to an outer layer's (a LangChain or AutoGen plugin's span over an OpenAI call).
"""

from __future__ import annotations

import traceback
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import wrapt
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from agentlightning.semconv import ERROR_TYPE
from agentlightning.tracer import current_trace_state

from ._config import InstrumentationConfig
from ._context import _LLM, current_llm_invocation, is_suppressed
from ._guard import guard
from ._streams import AsyncStreamProxy, StreamHandler, SyncStreamProxy

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.trace import Span, Tracer

    from ._base import Switch

__all__ = [
    "FOREIGN_LLM_LAYERS",
    "Invocation",
    "Kind",
    "Operation",
    "record_error",
    "should_trace",
    "start_agent",
    "start_llm",
    "start_tool",
    "wrap",
]

Kind = Literal["llm", "agent", "workflow", "tool", "retrieval"]
Attributes = dict[str, Any]

_REQUEST = guard("instrumentation.request")
_RESPONSE = guard("instrumentation.response")
_ERROR = guard("instrumentation.error")
_STOP = guard("instrumentation.stop")

_attach = otel_context.attach
_detach = otel_context.detach
_set_span_in_context = trace.set_span_in_context
_PROXY_BASE: type = getattr(wrapt, "BaseObjectProxy", wrapt.ObjectProxy)

FOREIGN_LLM_LAYERS: tuple[str, ...] = (
    "opentelemetry.instrumentation.",
    "openinference.instrumentation.",
    "agentops.instrumentation.",  # AgentOps' own LLM instrumentation (agentops 0.4, instrument_llm_calls)
)
"""Module prefixes of other libraries' wrappers that open an LLM span of their own; an outer agentlightning
LLM wrapper calls past them (see the module docstring)."""


def should_trace(switch: Switch) -> bool:
    """The wrapper is installed and instrumentation is not suppressed here."""
    return switch.on and not is_suppressed()


def _message_withheld(error: BaseException) -> str:
    return f"{type(error).__name__} (message withheld: content capture is off)"


def record_error(
    span: Span, error: BaseException, capture: bool = True, message_is_safe: bool = False, set_type: bool = True
) -> None:
    """Status ERROR, ``error.type`` and an ``exception`` event; the error itself is left untouched.

    Without content capture the error's message is left out (status and event keep its type and frames)
    unless ``message_is_safe``: a message can quote the model's output (pydantic's ``ValidationError`` does).
    ``set_type=False`` keeps an ``error.type`` a provider layer already wrote (the same error, as the provider
    names it: langchain-openai re-raises openai's errors as its own subclasses).
    """
    kind = type(error)
    if set_type:
        span.set_attribute(ERROR_TYPE, kind.__qualname__)
    if capture or message_is_safe:
        span.set_status(Status(StatusCode.ERROR, f"{kind.__name__}: {error}"))
        span.record_exception(error)
        return
    span.set_status(Status(StatusCode.ERROR, _message_withheld(error)))
    module = kind.__module__
    qualified = f"{module}.{kind.__qualname__}" if module and module != "builtins" else kind.__qualname__
    frames = "".join(traceback.format_tb(error.__traceback__))
    stacktrace = f"Traceback (most recent call last):\n{frames}{qualified} (message withheld: content capture is off)"
    span.add_event(
        "exception",
        {"exception.type": qualified, "exception.stacktrace": stacktrace, "exception.escaped": "False"},
    )


class Invocation:
    """One traced operation: its span, and how to end it exactly once (``stop`` / ``fail``).

    ``owned`` is false when this layer found the LLM span of the call already open (another layer owns it):
    then ``stop``/``fail`` *provide* attributes to that span and never end it.
    """

    __slots__ = ("_provided", "_tokens", "capture", "ended", "kind", "message_is_safe", "owned", "span")

    def __init__(self, span: Span, kind: Kind, capture: bool, owned: bool = True) -> None:
        self.span = span
        self.kind = kind
        self.capture = capture
        self.owned = owned
        self.ended = False
        self.message_is_safe: Callable[[BaseException], bool] | None = None
        self._tokens: tuple[Any, Any] | None = None
        self._provided: set[str] | None = None

    # ---- attributes ---------------------------------------------------------------------------
    def set(self, attributes: Attributes | None) -> None:
        """Record attributes now; keys a lower (provider) layer already provided are kept as provided."""
        if not attributes or not self.span.is_recording():
            return
        provided = self._provided
        if provided:
            attributes = {k: v for k, v in attributes.items() if k not in provided}
        self.span.set_attributes(attributes)

    def provide(self, attributes: Attributes | None) -> None:
        """A lower layer's attributes: written at once, and not overwritten by the owner's ``set``/``stop``."""
        if not attributes or not self.span.is_recording():
            return
        self.span.set_attributes(attributes)
        if self._provided is None:
            self._provided = set()
        self._provided.update(attributes)

    def borrow(self, capture: bool) -> Invocation:
        """A non-owning handle on this span for a lower layer: what it provides wins over this layer's ``set``."""
        if self._provided is None:
            self._provided = set()
        borrowed = Invocation(self.span, self.kind, capture, owned=False)
        borrowed._provided = self._provided
        return borrowed

    # ---- the call itself: the span is current (and the LLM span of the call) -----------------------
    def enter(self) -> None:
        """Make the span current for the wrapped call; pair with :meth:`leave` in the same context."""
        self._tokens = (_attach(_set_span_in_context(self.span)), _LLM.set(self) if self.kind == "llm" else None)

    def leave(self) -> None:
        tokens, self._tokens = self._tokens, None
        if tokens is not None:
            if tokens[1] is not None:
                _LLM.reset(tokens[1])
            _detach(tokens[0])

    # ---- ending ---------------------------------------------------------------------------------
    def stop(self, attributes: Attributes | None = None) -> None:
        """End successfully (once; later calls do nothing). Our failure here never reaches the caller."""
        with _STOP:
            self._end(attributes, None)

    def fail(self, error: BaseException, attributes: Attributes | None = None) -> None:
        """End with the user's (or the framework's) exception recorded; the exception is not touched."""
        with _ERROR:
            self._end(attributes, error)

    def _end(self, attributes: Attributes | None, error: BaseException | None) -> None:
        if self.ended:
            return
        self.ended = True
        span = self.span
        try:
            if not self.owned:
                if error is not None:
                    attributes = {**(attributes or {}), ERROR_TYPE: type(error).__qualname__}
                self.provide(attributes)
                return
            self.set(attributes)
            if error is not None:
                safe = self.message_is_safe
                keep_type = bool(self._provided and ERROR_TYPE in self._provided)
                record_error(span, error, self.capture, bool(safe is not None and safe(error)), not keep_type)
        finally:
            if self.owned:
                span.end()

    def finish_with(self, result: Any, response: Callable[[Any, bool], Attributes] | None) -> None:
        """End with the attributes ``response(result, capture)`` reads from a complete answer."""
        attributes = None
        try:
            if response is not None:
                attributes = response(result, self.capture)
        finally:
            with _STOP:
                self._end(attributes, None)


_LEAN: Callable[..., Any] | None = None


def _load_lean() -> Callable[..., Any]:
    """``agentlightning.tracer.lean.lean_start``, imported at the first span (it imports the SDK)."""
    global _LEAN
    from agentlightning.tracer.lean import lean_start

    _LEAN = lean_start
    return lean_start


def _start(
    tracer: Tracer,
    kind: Kind,
    name: str,
    attributes: Attributes | None,
    capture: bool,
    parent: Span | Context | None,
    span_kind: SpanKind | None = None,
) -> Invocation:
    if span_kind is None:
        span_kind = SpanKind.CLIENT if kind == "llm" else SpanKind.INTERNAL
    # (``None`` first: ``trace.Span`` is an ABC, and an isinstance check against one is not cheap)
    context = None if parent is None else _set_span_in_context(parent) if isinstance(parent, trace.Span) else parent
    lean = _LEAN or _load_lean()
    span = lean(tracer, name, context, span_kind, attributes)  # the SDK's span, made with less work
    if span is None:
        span = tracer.start_span(name, context=context, kind=span_kind, attributes=attributes)
    return Invocation(span, kind, capture)


def start_llm(
    tracer: Tracer,
    name: str,
    attributes: Attributes | None = None,
    *,
    capture: bool = False,
    parent: Span | Context | None = None,
) -> Invocation:
    """Open the LLM span of one model call (``chat {model}``): a CLIENT span, child of ``parent`` or the
    current span. The span is not made current; use :meth:`Invocation.enter` around the call if it should be."""
    return _start(tracer, "llm", name, attributes, capture, parent)


def start_agent(
    tracer: Tracer,
    name: str,
    attributes: Attributes | None = None,
    *,
    workflow: bool = False,
    capture: bool = False,
    parent: Span | Context | None = None,
) -> Invocation:
    """Open an agent step (``invoke_agent {name}``) or, with ``workflow``, a workflow (``invoke_workflow {name}``)."""
    return _start(tracer, "workflow" if workflow else "agent", name, attributes, capture, parent)


def start_tool(
    tracer: Tracer,
    name: str,
    attributes: Attributes | None = None,
    *,
    capture: bool = False,
    parent: Span | Context | None = None,
) -> Invocation:
    """Open a tool run (``execute_tool {name}``)."""
    return _start(tracer, "tool", name, attributes, capture, parent)


def _default_is_stream(args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    return kwargs.get("stream") is True


@dataclass(frozen=True)
class Operation:
    """How to read one kind of call: the plugin's half of a wrapper (the core supplies the lifecycle)."""

    kind: Kind
    request: Callable[[Any, tuple[Any, ...], dict[str, Any], bool], tuple[str, Attributes]]
    """``(instance, args, kwargs, capture) -> (span name, attributes)``: the before-step (guarded)."""
    response: Callable[[Any, bool], Attributes] | None = None
    """``(result, capture) -> attributes``: read from a complete result (guarded)."""
    stream: Callable[[Invocation], StreamHandler] | None = None
    """For results that are streams: a handler fed each item and told the end (``on_finish``)."""
    is_stream: Callable[[tuple[Any, ...], dict[str, Any]], bool] = _default_is_stream
    """Whether this call returns a stream (default: ``stream=True`` was passed)."""
    result: Callable[[Invocation, Any, bool, bool], Any] | None = None
    """A custom after-step ``(invocation, result, is_stream, is_async) -> what the caller gets`` (it must end
    the invocation, now or later); default: a stream proxy for streams, else :meth:`Invocation.finish_with`."""
    message_is_safe: Callable[[BaseException], bool] | None = None
    """Errors whose message cannot carry content (an HTTP API error): kept even without content capture."""

    def begin(self, tracer: Tracer, config: InstrumentationConfig, instance: Any, args: Any, kwargs: Any) -> Invocation:
        """The before-step (call it inside a guard): an owned span, or the LLM span of this call if one is open."""
        capture = config.capture_content
        if capture is None:  # unset: the trace context decides (capture_enabled, inlined on the hot path)
            state = current_trace_state()
            capture = bool(state is not None and state.capture_content)
        if self.kind == "llm":
            outer = current_llm_invocation()
            if outer is not None:  # another layer owns this call's LLM span: add to it
                _, attributes = self.request(instance, args, kwargs, capture)
                invocation = outer.borrow(capture)
                invocation.provide(attributes)
                return invocation
        name, attributes = self.request(instance, args, kwargs, capture)
        invocation = _start(tracer, self.kind, name, attributes, capture, None)
        invocation.message_is_safe = self.message_is_safe
        return invocation

    def done(self, invocation: Invocation, result: Any, is_stream: bool, is_async: bool) -> Any:
        """The guarded after-step: returns ``result`` or a proxy standing in for it."""
        with _RESPONSE:
            try:
                if self.result is not None:
                    return self.result(invocation, result, is_stream, is_async)
                if is_stream:
                    return self.stream_proxy(invocation, result, is_async)
                invocation.finish_with(result, self.response)
                return result
            except BaseException:
                invocation.stop()
                raise
        return result

    def stream_proxy(self, invocation: Invocation, stream: Any, is_async: bool) -> Any:
        """``stream`` behind a proxy that ends ``invocation`` when the stream ends (any way it ends)."""
        factory = self.stream
        if factory is None:
            invocation.stop()
            return stream
        handler = factory(invocation)
        return AsyncStreamProxy(stream, handler) if is_async else SyncStreamProxy(stream, handler)


def _step_over_foreign(wrapped: Any) -> Any:
    """``wrapped`` without other libraries' LLM-span layers directly under ours (see the module docstring)."""
    for _ in range(8):
        if not isinstance(wrapped, _PROXY_BASE):
            break
        module = getattr(getattr(wrapped, "_self_wrapper", None), "__module__", None) or ""
        if not module.startswith(FOREIGN_LLM_LAYERS):
            break
        wrapped = getattr(wrapped, "__wrapped__", wrapped)
    return wrapped


Style = Literal["sync", "async", "async_gen", "gen"]


def wrap(
    tracer: Tracer, config: InstrumentationConfig, operation: Operation, style: Style = "sync"
) -> Callable[[Switch], Callable[..., Any]]:
    """A :class:`~agentlightning.instrumentation.Patch` factory tracing every call of the patched method.

    ``style``: ``sync`` (a plain function, may return a stream), ``async`` (a coroutine function), ``gen`` /
    ``async_gen`` (a (async) generator function: the span covers the whole iteration, is current while the
    generator runs, and never while the caller runs between items).
    """
    llm = operation.kind == "llm"
    begin = operation.begin
    is_stream = operation.is_stream
    default_stream = is_stream is _default_is_stream
    done = operation.done

    def factory(switch: Switch) -> Callable[..., Any]:
        def sync_wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            if not switch.on or is_suppressed():
                return wrapped(*args, **kwargs)
            invocation = None
            with _REQUEST:
                invocation = begin(tracer, config, instance, args, kwargs)
                invocation.enter()
            if invocation is None:
                return wrapped(*args, **kwargs)
            if llm and isinstance(wrapped, _PROXY_BASE):  # the call's LLM span is open: ours or an outer layer's
                wrapped = _step_over_foreign(wrapped)
            try:
                result = wrapped(*args, **kwargs)
            except BaseException as error:
                invocation.leave()
                invocation.fail(error)
                raise
            invocation.leave()
            streaming = kwargs.get("stream") is True if default_stream else is_stream(args, kwargs)
            return done(invocation, result, streaming, False)

        async def async_wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            if not switch.on or is_suppressed():
                return await wrapped(*args, **kwargs)
            invocation = None
            with _REQUEST:
                invocation = begin(tracer, config, instance, args, kwargs)
                invocation.enter()
            if invocation is None:
                return await wrapped(*args, **kwargs)
            if llm and isinstance(wrapped, _PROXY_BASE):  # the call's LLM span is open: ours or an outer layer's
                wrapped = _step_over_foreign(wrapped)
            try:
                result = await wrapped(*args, **kwargs)
            except BaseException as error:
                invocation.leave()
                invocation.fail(error)
                raise
            invocation.leave()
            streaming = kwargs.get("stream") is True if default_stream else is_stream(args, kwargs)
            return done(invocation, result, streaming, True)

        def generator_wrapper(proxy: type[_GeneratorBase]) -> Callable[..., Any]:
            """Generators (sync or async) are called without running: the span lives in ``proxy``'s hands."""

            def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
                if not switch.on or is_suppressed():
                    return wrapped(*args, **kwargs)
                invocation = None
                with _REQUEST:
                    invocation = begin(tracer, config, instance, args, kwargs)
                if invocation is None:
                    return wrapped(*args, **kwargs)
                try:
                    generator = wrapped(*args, **kwargs)
                except BaseException as error:
                    invocation.fail(error)
                    raise
                return proxy(generator, invocation, operation)

            return wrapper

        if style == "gen":
            return generator_wrapper(_TracedGenerator)
        if style == "async_gen":
            return generator_wrapper(_TracedAsyncGenerator)
        return {"sync": sync_wrapper, "async": async_wrapper}[style]

    return factory


_ITEM = guard("instrumentation.generator.item")


class _GeneratorBase(_PROXY_BASE):  # type: ignore[misc]
    """A (async) generator whose span is current only while the generator runs, ended once however it ends."""

    __wrapped__: Any

    def __init__(self, wrapped: Any, invocation: Invocation, operation: Operation) -> None:
        super().__init__(wrapped)
        self._self_invocation = invocation
        handler = operation.stream(invocation) if operation.stream is not None else None
        self._self_handler = handler
        self._self_finalizer = weakref.finalize(self, invocation.stop)

    def _self_enter(self) -> Invocation:
        invocation = self._self_invocation
        invocation.enter()
        return invocation

    def _self_item(self, item: Any) -> None:
        handler = self._self_handler
        if handler is not None:
            try:
                handler.on_item(item)
            except Exception as exc:
                _ITEM.handle(exc)

    def _self_end(self, error: BaseException | None) -> None:
        self._self_finalizer.detach()
        invocation = self._self_invocation
        if invocation.ended:
            return
        handler = self._self_handler
        if handler is not None:
            with _RESPONSE:
                handler.on_finish(error)  # the handler ends the invocation
            if not invocation.ended:
                invocation.stop()
        elif error is not None:
            invocation.fail(error)
        else:
            invocation.stop()


class _TracedGenerator(_GeneratorBase):
    def __iter__(self) -> _TracedGenerator:
        return self

    def __next__(self) -> Any:
        return self.send(None)

    def send(self, value: Any) -> Any:
        return self._self_step(self.__wrapped__.send, value)

    def throw(self, *args: Any) -> Any:
        return self._self_step(self.__wrapped__.throw, *args)

    def _self_step(self, step: Callable[..., Any], *args: Any) -> Any:
        token = self._self_enter()
        try:
            item = step(*args)
        except StopIteration:
            self._self_end(None)
            raise
        except BaseException as exc:
            self._self_end(exc)
            raise
        finally:
            token.leave()
        self._self_item(item)
        return item

    def close(self) -> None:
        try:
            self.__wrapped__.close()
        finally:
            self._self_end(None)


class _TracedAsyncGenerator(_GeneratorBase):
    def __aiter__(self) -> _TracedAsyncGenerator:
        return self

    def __anext__(self) -> Any:
        return self.asend(None)

    async def asend(self, value: Any) -> Any:
        return await self._self_step(self.__wrapped__.asend, value)

    async def athrow(self, *args: Any) -> Any:
        return await self._self_step(self.__wrapped__.athrow, *args)

    async def _self_step(self, step: Callable[..., Any], *args: Any) -> Any:
        token = self._self_enter()
        try:
            item = await step(*args)
        except StopAsyncIteration:
            self._self_end(None)
            raise
        except BaseException as exc:
            if isinstance(exc, GeneratorExit):
                self._self_end(None)
            else:
                self._self_end(exc)
            raise
        finally:
            token.leave()
        self._self_item(item)
        return item

    async def aclose(self) -> None:
        try:
            await self.__wrapped__.aclose()
        finally:
            self._self_end(None)
