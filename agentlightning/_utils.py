"""Small internal helpers shared across the package."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import threading
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")

_helper: ThreadPoolExecutor | None = None
_helper_lock = threading.Lock()


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from synchronous code.

    With no event loop running in this thread, a fresh loop runs it and is closed (a loop kept per thread
    would outlive short-lived threads unclosed). Inside a running loop (sync code called from an
    ``async def``) the loop cannot be re-entered, so the coroutine runs on a helper thread and this thread
    waits for it.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        loop = asyncio.new_event_loop()
        try:
            return loop.run_until_complete(coro)
        finally:
            loop.close()
    global _helper
    with _helper_lock:
        if _helper is None:
            _helper = ThreadPoolExecutor(max_workers=2, thread_name_prefix="agentlightning-sync")
    future: Future[T] = _helper.submit(run_sync, coro)  # type: ignore[arg-type]
    return future.result()


class DeadlineExceeded(asyncio.TimeoutError):
    """Raised by :func:`wait_for` when *its* time limit passes (never for a ``TimeoutError`` from inside)."""


async def wait_for(awaitable: Awaitable[T], timeout: float | None) -> T:
    """``asyncio.wait_for`` that never swallows a cancellation.

    On Python 3.10/3.11, ``asyncio.wait_for`` can lose the caller's cancellation when the inner awaitable
    finishes at the same moment (CPython gh-86296): a Ctrl-C then goes unnoticed. Built on
    ``asyncio.wait``, which always lets the caller's ``CancelledError`` through. Raises
    :class:`DeadlineExceeded` (an ``asyncio.TimeoutError``) after ``timeout`` seconds, cancelling the inner
    task; a ``TimeoutError`` raised by the awaitable itself passes through as it is.
    """
    if timeout is None:
        return await awaitable
    task = asyncio.ensure_future(awaitable)
    try:
        done, _ = await asyncio.wait({task}, timeout=timeout)
    except BaseException:
        task.cancel()
        raise
    if not done:
        task.cancel()
        await asyncio.wait({task}, timeout=1.0)  # let it unwind; an agent that ignores cancellation is left behind
        raise DeadlineExceeded(f"not done after {timeout} s")
    return task.result()


async def run_in_daemon_thread(func: Callable[..., T], *args: Any) -> T:
    """Run ``func(*args)`` on a new daemon thread, in a copy of the caller's context; await its result.

    Unlike a bounded thread pool, a call abandoned by its caller (a timed-out agent) neither holds a worker
    that the next call queues behind, nor keeps the process from exiting.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()
    context = contextvars.copy_context()

    def deliver(setter: Callable[[Any], None], value: Any) -> None:
        if not future.done():
            setter(value)

    def target() -> None:
        try:
            result = context.run(func, *args)
        except BaseException as exc:  # handed to the awaiting coroutine, which re-raises it
            outcome: tuple[Callable[[Any], None], Any] = (future.set_exception, exc)
        else:
            outcome = (future.set_result, result)
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting any more
            loop.call_soon_threadsafe(deliver, *outcome)

    threading.Thread(target=target, name=f"agentlightning-{getattr(func, '__name__', 'call')}", daemon=True).start()
    return await future
