"""The shared helpers: the guard, suppression and the LLM-span marker, the stream proxies."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.instrumentation.utils import suppress_instrumentation

from agentlightning.instrumentation import (
    AsyncStreamProxy,
    SyncStreamProxy,
    current_llm_span,
    guard,
    is_suppressed,
    llm_span_active,
    llm_span_scope,
)
from agentlightning.instrumentation._guard import reset_guard_reports

# ---- guard --------------------------------------------------------------------------------------


def test_guard_logs_once_per_site_and_swallows(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("AGENTLIGHTNING_STRICT", "0")
    reset_guard_reports()
    site = guard("test.site")
    with caplog.at_level(logging.ERROR, logger="agentlightning.instrumentation"):
        for _ in range(3):
            with site:
                raise ValueError("boom")
        with guard("test.other"):
            raise KeyError("x")
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2
    assert "'test.site'" in messages[0] and "ValueError: boom" in messages[0]
    assert "Your call was not affected" in messages[0]


def test_guard_reraises_in_strict_mode() -> None:
    # tests/conftest.py sets AGENTLIGHTNING_STRICT=1 for the whole suite
    with pytest.raises(ValueError, match="strict"), guard("test.strict"):
        raise ValueError("strict")


def test_guard_as_decorator(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTLIGHTNING_STRICT", "0")

    @guard("test.decorated")
    def fails(x: int) -> int:
        raise RuntimeError(str(x))

    @guard("test.decorated.ok")
    def works(x: int) -> int:
        return x + 1

    assert fails(1) is None
    assert works(1) == 2
    assert works.__name__ == "works"


def test_guard_lets_cancellation_through(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTLIGHTNING_STRICT", "0")
    with pytest.raises(KeyboardInterrupt), guard("test.interrupt"):
        raise KeyboardInterrupt


# ---- suppression and the LLM-span marker ------------------------------------------------------


def test_suppression() -> None:
    assert not is_suppressed()
    with suppress_instrumentation():
        assert is_suppressed()
    assert not is_suppressed()


def test_llm_span_marker_is_per_task(spans: Any) -> None:
    tracer = trace.get_tracer("test")
    span = tracer.start_span("chat x")
    assert not llm_span_active()

    async def other_task() -> bool:
        return llm_span_active()

    async def main() -> tuple[bool, bool]:
        with llm_span_scope(span):
            inside = llm_span_active() and current_llm_span() is span
            # a task created inside copies the context; a fresh one elsewhere would not
            return inside, await asyncio.create_task(other_task())

    assert asyncio.run(main()) == (True, True)
    assert not llm_span_active()
    span.end()


# ---- stream proxies -----------------------------------------------------------------------------


class Handler:
    def __init__(self) -> None:
        self.items: list[Any] = []
        self.finished: list[BaseException | None] = []

    def on_item(self, item: Any) -> None:
        self.items.append(item)

    def on_finish(self, error: BaseException | None) -> None:
        self.finished.append(error)


class Resource:
    """A stream-like object: iterator, context manager, close()."""

    def __init__(self, n: int, fail_at: int | None = None) -> None:
        self.n, self.fail_at, self.i, self.closed = n, fail_at, 0, False

    def __iter__(self) -> Iterator[int]:
        return self

    def __next__(self) -> int:
        if self.fail_at is not None and self.i == self.fail_at:
            raise ConnectionError("cut")
        if self.i >= self.n:
            raise StopIteration
        self.i += 1
        return self.i

    def __enter__(self) -> Resource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.closed = True

    extra = "forwarded"


def test_sync_proxy_lifecycle() -> None:
    h = Handler()
    assert list(SyncStreamProxy(Resource(3), h)) == [1, 2, 3]
    assert h.items == [1, 2, 3] and h.finished == [None]

    h = Handler()
    proxy = SyncStreamProxy(Resource(3), h)
    next(proxy)
    proxy.close()
    proxy.close()
    assert h.finished == [None] and proxy.closed and proxy.extra == "forwarded"
    assert isinstance(proxy, Resource)

    h = Handler()
    with SyncStreamProxy(Resource(3), h) as proxy:
        assert isinstance(proxy, SyncStreamProxy)
        next(proxy)
    assert h.finished == [None]

    h = Handler()
    proxy = SyncStreamProxy(Resource(3, fail_at=1), h)
    with pytest.raises(ConnectionError):
        list(proxy)
    assert len(h.finished) == 1 and isinstance(h.finished[0], ConnectionError)

    h = Handler()
    proxy = SyncStreamProxy(Resource(3), h)
    del proxy
    gc.collect()
    assert h.finished == [None]


def test_sync_proxy_over_a_generator() -> None:
    def gen() -> Iterator[int]:
        yield from range(3)

    h = Handler()
    assert list(SyncStreamProxy(gen(), h)) == [0, 1, 2]
    assert h.finished == [None]


def test_a_loop_over_a_proxy_nobody_else_holds_sees_every_item_before_the_end() -> None:
    # `for chunk in client.create(stream=True)`: the loop holds only what iter() gave, yet the proxy's
    # finalizer must not end the span before the last item (even if the collector runs mid-loop)
    h = Handler()
    seen = []
    for item in SyncStreamProxy(Resource(3), h):
        gc.collect()
        seen.append((item, list(h.finished)))
    assert seen == [(1, []), (2, []), (3, [])] and h.items == [1, 2, 3] and h.finished == [None]


def test_next_and_a_loop_share_one_stream() -> None:
    h = Handler()
    proxy = SyncStreamProxy(Resource(4), h)
    assert next(proxy) == 1
    for item in proxy:
        if item == 2:
            break
    assert h.finished == []  # left the loop early: the stream is still open
    assert list(proxy) == [3, 4]
    assert h.items == [1, 2, 3, 4] and h.finished == [None]
    with pytest.raises(StopIteration):
        next(proxy)
    assert h.finished == [None]  # once


def test_a_failing_handler_never_breaks_the_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTLIGHTNING_STRICT", "0")

    class Broken(Handler):
        def on_item(self, item: Any) -> None:
            raise RuntimeError("handler bug")

        def on_finish(self, error: BaseException | None) -> None:
            raise RuntimeError("handler bug")

    assert list(SyncStreamProxy(Resource(2), Broken())) == [1, 2]


async def test_async_proxy_lifecycle() -> None:
    async def agen(n: int, fail: bool = False) -> AsyncIterator[int]:
        for i in range(n):
            if fail and i == 1:
                raise ConnectionError("cut")
            yield i

    h = Handler()
    assert [x async for x in AsyncStreamProxy(agen(3), h)] == [0, 1, 2]
    assert h.finished == [None]

    h = Handler()
    proxy = AsyncStreamProxy(agen(3), h)
    await proxy.__anext__()
    await proxy.aclose()
    assert h.finished == [None]

    h = Handler()
    with pytest.raises(ConnectionError):
        async for _ in AsyncStreamProxy(agen(3, fail=True), h):
            pass
    assert isinstance(h.finished[0], ConnectionError)

    h = Handler()
    proxy = AsyncStreamProxy(agen(3), h)
    del proxy
    gc.collect()
    assert h.finished == [None]

    h = Handler()
    seen = []
    async for item in AsyncStreamProxy(agen(3), h):  # held by the loop alone
        gc.collect()
        seen.append((item, list(h.finished)))
    assert seen == [(0, []), (1, []), (2, [])] and h.finished == [None]

    h = Handler()
    proxy = AsyncStreamProxy(agen(4), h)
    assert await proxy.__anext__() == 0
    assert [x async for x in proxy] == [1, 2, 3] and h.items == [0, 1, 2, 3] and h.finished == [None]
