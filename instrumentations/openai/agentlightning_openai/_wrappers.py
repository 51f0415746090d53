"""OpenAI's own result shapes: what the after-step returns for raw responses and ``.stream()`` helpers.

The lifecycle (should-I-trace, guarded before/after steps, errors, stream proxies) is the core's
(``agentlightning.instrumentation.wrap``); this module only knows openai's result types:

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
import weakref
from collections.abc import Callable
from typing import Any

from agentlightning.instrumentation import (
    AsyncStreamProxy,
    BaseProxy,
    Invocation,
    Operation,
    StreamHandler,
    SyncStreamProxy,
    guard,
)

__all__ = ["is_api_error", "llm_operation"]

_RESPONSE = guard("openai.response")
_PARSE = guard("openai.raw_response.parse")

_IS_RAW: dict[type, bool] = {}
"""Result type -> is it a raw response (``with_raw_response`` / ``with_streaming_response``)?"""


def is_api_error(error: BaseException) -> bool:
    """openai's ``APIError``s carry the server's message, never the model's output: kept without capture."""
    openai = sys.modules.get("openai")  # loaded: the error came out of an openai call
    api_error = getattr(openai, "APIError", None)
    return isinstance(api_error, type) and isinstance(error, api_error)


def llm_operation(
    request: Callable[[Any, tuple[Any, ...], dict[str, Any], bool], tuple[str, dict[str, Any]]],
    response: Callable[[Any, bool], dict[str, Any]],
    stream: Callable[[Invocation], StreamHandler] | None = None,
) -> Operation:
    """An LLM :class:`Operation` whose after-step knows openai's raw responses and stream helpers."""
    operation: Operation

    def result(invocation: Invocation, value: Any, is_stream: bool, is_async: bool) -> Any:
        raw = _IS_RAW.get(type(value))
        if raw is None:  # once per result type: hasattr on a pydantic model is not free
            raw = _IS_RAW[type(value)] = hasattr(value, "http_response") and hasattr(value, "parse")
        if raw:
            return _raw(operation, invocation, value, is_stream, is_async)
        if is_stream:
            return stream_proxy(operation, invocation, value, is_async)
        invocation.finish_with(value, response)
        return value

    operation = Operation("llm", request, response, stream, result=result, message_is_safe=is_api_error)
    return operation


def stream_proxy(operation: Operation, invocation: Invocation, stream: Any, is_async: bool) -> Any:
    factory = operation.stream
    if factory is None:  # an operation without streams: nothing to accumulate
        invocation.stop()
        return stream
    handler = factory(invocation)
    return _AsyncStream(stream, handler) if is_async else _SyncStream(stream, handler)


def _raw(operation: Operation, invocation: Invocation, raw: Any, stream: bool, is_async: bool) -> Any:
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
            invocation.stop()
        else:
            invocation.finish_with(parsed, operation.response)
        return raw
    return RawResponseProxy(raw, operation, invocation, is_async)


class _ClosingResponse(BaseProxy):  # type: ignore[misc]
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


class RawResponseProxy(BaseProxy):  # type: ignore[misc]
    """Stands in for a raw response whose answer is read later, through ``parse()``."""

    def __init__(self, wrapped: Any, operation: Operation, invocation: Invocation, is_async: bool) -> None:
        super().__init__(wrapped)
        self._self_operation = operation
        self._self_call = invocation
        self._self_is_async = is_async
        self._self_stream: Any = None
        self._self_finalizer = weakref.finalize(self, invocation.stop)

    def _self_parsed(self, parsed: Any) -> Any:
        call = self._self_call
        if self._self_stream is not None and self._self_stream.__wrapped__ is parsed:
            return self._self_stream
        with _RESPONSE:
            if not call.ended and (hasattr(parsed, "__next__") or hasattr(parsed, "__anext__")):
                self._self_finalizer.detach()  # the stream proxy owns the span from now on
                self._self_stream = stream_proxy(self._self_operation, call, parsed, self._self_is_async)
                return self._self_stream
            if not call.ended:
                self._self_finalizer.detach()
                call.finish_with(parsed, self._self_operation.response)
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
                self._self_call.stop()
