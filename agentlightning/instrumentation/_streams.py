"""Stream proxies that finish their span exactly once.

A streamed model call returns before its answer exists; its span must end when the stream does. The
proxies here stand in for the framework's stream object (a wrapt object proxy: every attribute, method
and ``isinstance`` check reaches the real stream) and tell a :class:`StreamHandler` about each item and,
exactly once, about the end:

========================================  ============================================
how the stream ends                       ``on_finish(error)``
========================================  ============================================
iterated to the end                       ``None``
the stream raised (server error, cut)     the exception (recorded before the span ends)
``close()`` / ``aclose()``                ``None``
``__exit__`` / ``__aexit__`` (early too)  ``None``
dropped without any of the above          ``None``, when garbage-collected
========================================  ============================================

::

    class ChatHandler:                         # a plugin's accumulator
        def on_item(self, chunk): ...          # guarded: a failure here never reaches the user
        def on_finish(self, error): span.end() # guarded, called once

    return SyncStreamProxy(stream, ChatHandler(span))

``__enter__`` returns the proxy, not the inner stream, so ``with client.create(stream=True) as s`` stays
traced. State lives in ``_self_*`` attributes, as wrapt proxies require; garbage collection is caught by
``weakref.finalize`` on the proxy, which holds no reference back to it. ``iter(proxy)`` (what a ``for``
loop calls) returns a small plain iterator over the same items, which keeps the proxy alive while it runs:
reading a wrapt proxy's own attributes on every chunk cost more than the rest of the per-chunk work.
"""

from __future__ import annotations

import weakref
from types import TracebackType
from typing import Any, Protocol

import wrapt

from ._guard import guard

__all__ = ["AsyncStreamProxy", "StreamHandler", "SyncStreamProxy"]

_ITEM = guard("instrumentation.stream.item")
_FINISH = guard("instrumentation.stream.finish")


class StreamHandler(Protocol):
    def on_item(self, item: Any) -> None: ...

    def on_finish(self, error: BaseException | None) -> None: ...


class _Once:
    """Calls ``handler.on_finish`` at most once, whoever asks first (the proxy or the garbage collector)."""

    __slots__ = ("done", "handler")

    def __init__(self, handler: StreamHandler) -> None:
        self.handler = handler
        self.done = False

    def finish(self, error: BaseException | None) -> None:
        if self.done:
            return
        self.done = True
        with _FINISH:
            self.handler.on_finish(error)


class _StreamProxyBase(wrapt.ObjectProxy):  # type: ignore[misc,type-arg]
    def __init__(self, wrapped: Any, handler: StreamHandler) -> None:
        super().__init__(wrapped)
        once = _Once(handler)
        self._self_once = once
        self._self_on_item = handler.on_item
        self._self_finalizer = weakref.finalize(self, once.finish, None)

    def _self_finish(self, error: BaseException | None) -> None:
        self._self_finalizer.detach()
        self._self_once.finish(error)

    @property
    def _self_finished(self) -> bool:
        return self._self_once.done


class _FeedBase:
    """What ``iter(proxy)`` / ``aiter(proxy)`` return: the proxy's items, read through a plain object.

    A loop over a stream takes one item per chunk, and a wrapt proxy's own attributes cost about four times a
    plain object's to read; so the loop gets this, which holds what each step needs (and, through
    ``finish``, the proxy: the proxy's finalizer cannot end the span while a loop still runs). ``next(proxy)``
    called directly takes a step of a fresh one over the same iterator. (openai's ``Stream`` is no different:
    ``iter(stream)`` is a generator, not the stream.)
    """

    __slots__ = ("finish", "iterator", "on_item")

    def __init__(self, iterator: Any, on_item: Any, finish: Any) -> None:
        self.iterator = iterator
        self.on_item = on_item
        self.finish = finish


class _Feed(_FeedBase):
    __slots__ = ()

    def __iter__(self) -> _Feed:
        return self

    def __next__(self) -> Any:
        try:
            item = next(self.iterator)
        except StopIteration:
            self.finish(None)
            raise
        except BaseException as exc:
            self.finish(exc)
            raise
        try:
            self.on_item(item)
        except Exception as exc:
            _ITEM.handle(exc)
        return item


class _AsyncFeed(_FeedBase):
    __slots__ = ()

    def __aiter__(self) -> _AsyncFeed:
        return self

    async def __anext__(self) -> Any:
        try:
            item = await self.iterator.__anext__()
        except StopAsyncIteration:
            self.finish(None)
            raise
        except BaseException as exc:
            self.finish(exc)
            raise
        try:
            self.on_item(item)
        except Exception as exc:
            _ITEM.handle(exc)
        return item


class SyncStreamProxy(_StreamProxyBase):
    """Proxy of a synchronous iterator/stream (``Stream``, a generator, ...)."""

    def __init__(self, wrapped: Any, handler: StreamHandler) -> None:
        super().__init__(wrapped, handler)
        self._self_iterator = wrapped if hasattr(type(wrapped), "__next__") else None

    def __iter__(self) -> _Feed:
        iterator = self._self_iterator
        if iterator is None:
            iterator = self._self_iterator = iter(self.__wrapped__)
        return _Feed(iterator, self._self_on_item, self._self_finish)

    def __next__(self) -> Any:
        return self.__iter__().__next__()  # one step of a fresh feed: the same iterator, the same once

    def close(self) -> None:
        try:
            close = getattr(self.__wrapped__, "close", None)
            if close is not None:
                close()
        finally:
            self._self_finish(None)

    def __enter__(self) -> SyncStreamProxy:
        enter = getattr(self.__wrapped__, "__enter__", None)
        if enter is not None:
            enter()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> Any:
        try:
            exit_ = getattr(self.__wrapped__, "__exit__", None)
            return exit_(exc_type, exc, tb) if exit_ is not None else None
        finally:
            self._self_finish(None)


class AsyncStreamProxy(_StreamProxyBase):
    """Proxy of an asynchronous iterator/stream (``AsyncStream``, an async generator, ...)."""

    def __init__(self, wrapped: Any, handler: StreamHandler) -> None:
        super().__init__(wrapped, handler)
        self._self_iterator = wrapped if hasattr(type(wrapped), "__anext__") else None

    def __aiter__(self) -> _AsyncFeed:
        iterator = self._self_iterator
        if iterator is None:
            iterator = self._self_iterator = self.__wrapped__.__aiter__()
        return _AsyncFeed(iterator, self._self_on_item, self._self_finish)

    def __anext__(self) -> Any:
        return self.__aiter__().__anext__()  # the awaitable of one step of a fresh feed

    async def close(self) -> None:
        await self._self_close("close", "aclose")

    async def aclose(self) -> None:
        await self._self_close("aclose", "close")

    async def _self_close(self, *names: str) -> None:
        """Close the wrapped stream by the first of ``names`` it has (awaiting it if async), then end the span."""
        try:
            for name in names:
                method = getattr(self.__wrapped__, name, None)
                if method is not None:
                    result = method()
                    if hasattr(result, "__await__"):
                        await result
                    break
        finally:
            self._self_finish(None)

    async def __aenter__(self) -> AsyncStreamProxy:
        aenter = getattr(self.__wrapped__, "__aenter__", None)
        if aenter is not None:
            await aenter()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> Any:
        try:
            aexit = getattr(self.__wrapped__, "__aexit__", None)
            return (await aexit(exc_type, exc, tb)) if aexit is not None else None
        finally:
            self._self_finish(None)
