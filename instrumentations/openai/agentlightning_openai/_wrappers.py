"""The wrapper around one OpenAI API method: guarded before-step, the original call, guarded after-step.

An :class:`Operation` says how to read one kind of call (chat, Responses, embeddings): the span name and
request attributes from the keyword arguments, the response attributes from the result, and a stream
handler for ``stream=True``. :func:`sync_wrapper` / :func:`async_wrapper` turn it into a wrapt wrapper
factory for :class:`agentlightning.instrumentation.Patch`.

What the after-step returns, by result:

- a model object (``ChatCompletion``, ...): the very same object, after its attributes were recorded;
- a ``Stream`` / ``AsyncStream`` (``stream=True``): a proxy that ends the span when the stream ends, or when
  its ``.response`` is closed (what openai's ``.stream()`` helpers do when their ``with`` is left early);
- a ``LegacyAPIResponse`` (``with_raw_response``): the same object when not streaming (its body is already
  read, so it is parsed once -- ``parse()`` caches -- and the span ends at once); when streaming, a proxy
  whose ``parse()`` returns the stream proxy. ``.headers``, ``.http_response``, ... are untouched;
- an ``APIResponse`` (``with_streaming_response``): a proxy whose ``parse()`` records the answer; the span
  ends there, when the response is closed (leaving the ``with`` after ``iter_lines()``, ``read()``, ...,
  without ``parse()``), or when it is garbage-collected.
"""

from __future__ import annotations

import inspect
import sys
import traceback
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import wrapt
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from agentlightning.instrumentation import (
    AsyncStreamProxy,
    InstrumentationConfig,
    Switch,
    SyncStreamProxy,
    capture_enabled,
    enter_llm_span,
    exit_llm_span,
    guard,
    is_suppressed,
    llm_span_active,
)
from agentlightning.semconv import ERROR_TYPE

if TYPE_CHECKING:
    from opentelemetry.trace import Span, Tracer

    from agentlightning.instrumentation import StreamHandler

__all__ = ["Call", "Operation", "async_wrapper", "record_error", "sync_wrapper"]

_REQUEST = guard("openai.request")
_RESPONSE = guard("openai.response")
_ERROR = guard("openai.error")
_PARSE = guard("openai.raw_response.parse")

_IS_RAW: dict[type, bool] = {}
"""Result type -> is it a raw response (``with_raw_response`` / ``with_streaming_response``)?"""

_attach = otel_context.attach
_detach = otel_context.detach
_set_span_in_context = trace.set_span_in_context


@dataclass(frozen=True)
class Operation:
    """How to read one kind of OpenAI call."""

    request: Callable[[dict[str, Any], bool], tuple[str, dict[str, Any]]]
    """``(kwargs, capture_content) -> (span name, attributes)``."""
    response: Callable[[Any, bool], dict[str, Any]]
    """``(result, capture_content) -> attributes``."""
    stream_handler: Callable[[Call], StreamHandler] | None = None


def _is_api_error(error: BaseException) -> bool:
    openai = sys.modules.get("openai")  # loaded: the error came out of an openai call
    api_error = getattr(openai, "APIError", None)
    return isinstance(api_error, type) and isinstance(error, api_error)


def record_error(span: Span, error: BaseException, capture: bool = True) -> None:
    """Status ERROR, ``error.type`` and an ``exception`` event; the error itself is left untouched.

    Without content capture, only openai's ``APIError``s keep their message: any other error from a call
    comes from reading the model's output (``parse()``: pydantic's ``ValidationError`` quotes the answer as
    ``input_value=...``), so its message is withheld from the status and the event (type and frames stay).
    """
    kind = type(error)
    span.set_attribute(ERROR_TYPE, kind.__qualname__)
    if capture or _is_api_error(error):
        span.set_status(Status(StatusCode.ERROR, f"{kind.__name__}: {error}"))
        span.record_exception(error)
        return
    span.set_status(Status(StatusCode.ERROR, f"{kind.__name__} (message withheld: content capture is off)"))
    module = kind.__module__
    qualified = f"{module}.{kind.__qualname__}" if module and module != "builtins" else kind.__qualname__
    frames = "".join(traceback.format_tb(error.__traceback__))
    stacktrace = f"Traceback (most recent call last):\n{frames}{qualified} (message withheld: content capture is off)"
    span.add_event(
        "exception",
        {"exception.type": qualified, "exception.stacktrace": stacktrace, "exception.escaped": "False"},
    )


class Call:
    """One traced call: its span, and how to end it exactly once."""

    __slots__ = ("_tokens", "capture", "ended", "operation", "span")

    def __init__(self, span: Span, operation: Operation, capture: bool) -> None:
        self.span = span
        self.operation = operation
        self.capture = capture
        self.ended = False
        self._tokens: tuple[Any, Any] | None = None

    # ---- the call itself: the span is current and marked as the LLM span ----------------------
    def enter(self) -> None:
        self._tokens = (_attach(_set_span_in_context(self.span)), enter_llm_span(self.span))

    def leave(self) -> None:
        tokens, self._tokens = self._tokens, None
        if tokens is not None:
            exit_llm_span(tokens[1])
            _detach(tokens[0])

    # ---- ending ---------------------------------------------------------------------------------
    def end(self, attributes: dict[str, Any] | None = None, error: BaseException | None = None) -> None:
        if self.ended:
            return
        self.ended = True
        span = self.span
        try:
            if attributes:
                span.set_attributes(attributes)
            if error is not None:
                record_error(span, error, self.capture)
        finally:
            span.end()

    def fail(self, error: BaseException) -> None:
        with _ERROR:
            self.end(error=error)

    def finish_with(self, result: Any) -> None:
        """End with the attributes of a parsed, complete answer."""
        attributes = None
        try:
            attributes = self.operation.response(result, self.capture)
        finally:
            self.end(attributes)

    def done(self, result: Any, stream: bool, is_async: bool) -> Any:
        """The guarded after-step: returns ``result`` or a proxy standing in for it."""
        with _RESPONSE:
            try:
                return self._done(result, stream, is_async)
            except BaseException:
                if not self.ended:
                    self.end()
                raise
        return result

    def _done(self, result: Any, stream: bool, is_async: bool) -> Any:
        raw = _IS_RAW.get(type(result))
        if raw is None:  # once per result type: hasattr on a pydantic model is not free
            raw = _IS_RAW[type(result)] = hasattr(result, "http_response") and hasattr(result, "parse")
        if raw:
            return self._raw(result, stream, is_async)
        if stream:
            return self.stream_proxy(result, is_async)
        self.finish_with(result)
        return result

    def stream_proxy(self, stream: Any, is_async: bool) -> Any:
        factory = self.operation.stream_handler
        if factory is None:  # an operation without streams: nothing to accumulate
            self.end()
            return stream
        handler = factory(self)
        return _AsyncStream(stream, handler) if is_async else _SyncStream(stream, handler)

    def _raw(self, raw: Any, stream: bool, is_async: bool) -> Any:
        legacy = any(cls.__name__ == "LegacyAPIResponse" for cls in type(raw).__mro__)
        if legacy and not stream:
            # with_raw_response: the body is already read and parse() caches, so the user's own parse()
            # later returns this very object.
            parsed: Any = None
            with _PARSE:
                try:
                    parsed = raw.parse()
                except Exception:
                    parsed = None  # the user's parse() will raise the same error; not ours to report
            if parsed is None:
                self.end()
            else:
                self.finish_with(parsed)
            return raw
        return RawResponseProxy(raw, self, is_async)


class _ClosingResponse(wrapt.ObjectProxy):  # type: ignore[misc,type-arg]
    """The stream's HTTP response: closing it also ends the stream's span (once; later calls are no-ops).

    openai's ``.stream()`` helpers (``ChatCompletionStream``, ``ResponseStream``; openai 1.40-3.57) keep
    ``raw_stream.response`` and, on leaving their ``with`` early, close that response, never the stream.
    Holds the stream's finish-once object, not the stream proxy, so it keeps no cycle alive.
    """

    def __init__(self, wrapped: Any, finish: Callable[[BaseException | None], None]) -> None:
        super().__init__(wrapped)
        self._self_end_span = finish

    def close(self) -> None:
        try:
            self.__wrapped__.close()
        finally:
            self._self_end_span(None)

    async def aclose(self) -> None:
        try:
            await self.__wrapped__.aclose()
        finally:
            self._self_end_span(None)


class _SyncStream(SyncStreamProxy):
    @property
    def response(self) -> Any:
        return _ClosingResponse(self.__wrapped__.response, self._self_once.finish)


class _AsyncStream(AsyncStreamProxy):
    @property
    def response(self) -> Any:
        return _ClosingResponse(self.__wrapped__.response, self._self_once.finish)


class RawResponseProxy(wrapt.ObjectProxy):  # type: ignore[misc,type-arg]
    """Stands in for a raw response whose answer is read later, through ``parse()``."""

    def __init__(self, wrapped: Any, call: Call, is_async: bool) -> None:
        super().__init__(wrapped)
        self._self_call = call
        self._self_is_async = is_async
        self._self_stream: Any = None
        self._self_finalizer = weakref.finalize(self, call.end)

    def _self_parsed(self, parsed: Any) -> Any:
        call = self._self_call
        if self._self_stream is not None and self._self_stream.__wrapped__ is parsed:
            return self._self_stream
        with _RESPONSE:
            if not call.ended and (hasattr(parsed, "__next__") or hasattr(parsed, "__anext__")):
                self._self_finalizer.detach()  # the stream proxy owns the span from now on
                self._self_stream = call.stream_proxy(parsed, self._self_is_async)
                return self._self_stream
            if not call.ended:
                self._self_finalizer.detach()
                call.finish_with(parsed)
        return parsed

    def parse(self, *args: Any, **kwargs: Any) -> Any:
        parse = self.__wrapped__.parse
        if inspect.iscoroutinefunction(parse):
            return self._self_aparse(parse, args, kwargs)
        return self._self_parsed(parse(*args, **kwargs))

    async def _self_aparse(self, parse: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return self._self_parsed(await parse(*args, **kwargs))

    def close(self) -> Any:
        """``with_streaming_response``'s ``with`` closes the response here, whether or not it was parsed."""
        close = self.__wrapped__.close
        if inspect.iscoroutinefunction(close):
            return self._self_aclose(close)
        try:
            return close()
        finally:
            self._self_closed()

    async def _self_aclose(self, close: Any) -> Any:
        try:
            return await close()
        finally:
            self._self_closed()

    def _self_closed(self) -> None:
        with _RESPONSE:
            stream = self._self_stream
            if stream is not None:
                stream._self_once.finish(None)  # the connection is gone: so is the stream
            elif not self._self_call.ended:
                self._self_finalizer.detach()
                self._self_call.end()


def _start(tracer: Tracer, operation: Operation, config: InstrumentationConfig, kwargs: dict[str, Any]) -> Call:
    capture = capture_enabled(config)
    name, attributes = operation.request(kwargs, capture)
    span = tracer.start_span(name, kind=SpanKind.CLIENT, attributes=attributes)
    return Call(span, operation, capture)


def sync_wrapper(
    tracer: Tracer, operation: Operation, config: InstrumentationConfig
) -> Callable[[Switch], Callable[..., Any]]:
    def factory(switch: Switch) -> Callable[..., Any]:
        def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            if not switch.on or llm_span_active() or is_suppressed():
                return wrapped(*args, **kwargs)
            call = None
            with _REQUEST:
                call = _start(tracer, operation, config, kwargs)
                call.enter()
            if call is None:
                return wrapped(*args, **kwargs)
            try:
                result = wrapped(*args, **kwargs)
            except BaseException as error:
                call.leave()
                call.fail(error)
                raise
            call.leave()
            return call.done(result, kwargs.get("stream") is True, False)

        return wrapper

    return factory


def async_wrapper(
    tracer: Tracer, operation: Operation, config: InstrumentationConfig
) -> Callable[[Switch], Callable[..., Any]]:
    def factory(switch: Switch) -> Callable[..., Any]:
        async def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            if not switch.on or llm_span_active() or is_suppressed():
                return await wrapped(*args, **kwargs)
            call = None
            with _REQUEST:
                call = _start(tracer, operation, config, kwargs)
                call.enter()
            if call is None:
                return await wrapped(*args, **kwargs)
            try:
                result = await wrapped(*args, **kwargs)
            except BaseException as error:
                call.leave()
                call.fail(error)
                raise
            call.leave()
            return call.done(result, kwargs.get("stream") is True, True)

        return wrapper

    return factory
