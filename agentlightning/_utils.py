"""Small internal helpers shared across the package."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
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
