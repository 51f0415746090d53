"""The background writer: finished spans go to the store in batches, off the caller's thread.

The caller pays for one ``deque.append`` per span (plus, rarely, an ``Event.set``). A single daemon thread
drains the queue, converts spans and writes each batch with one ``store.add_otel_spans`` call, which
backends run as one transaction. After the first span of a batch arrives the writer lingers up to
``linger`` seconds for more (a transaction per span would cost SQLite ~0.4 ms of CPU each); a flush, or a
full batch, cuts the wait short, so leaving a trace context never waits for the linger.

The queue is bounded: when it is full, the caller waits for room (back-pressure) instead of a span being
dropped. A flush is a marker in the same FIFO queue, so when the writer reaches it, every span queued
before it is committed.
"""

from __future__ import annotations

import asyncio
import atexit
import collections
import logging
import threading
import time
import weakref
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan

    from agentlightning.store.base import LightningStore

    from ._state import TraceState

logger = logging.getLogger(__name__)

__all__ = ["SpanWriter", "flush_all_writers"]

_WRITERS: weakref.WeakSet[SpanWriter] = weakref.WeakSet()


class SpanWriter:
    """Writes spans of many trace contexts into one store from one background thread."""

    def __init__(
        self, store: LightningStore, *, max_queue: int = 16384, max_batch: int = 2048, linger: float = 0.05
    ) -> None:
        self.store = store
        self.max_queue = max_queue
        self.max_batch = max_batch
        self.linger = linger
        self._queue: collections.deque[Any] = collections.deque()
        self._wake = threading.Event()  # something is queued
        self._urgent = threading.Event()  # someone waits (flush, full batch, full queue, close): stop lingering
        self._space = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="agentlightning-span-writer", daemon=True)
        self._thread.start()
        _WRITERS.add(self)

    # ---- producer side (any thread) -------------------------------------------------------------

    def submit(self, state: TraceState, span: ReadableSpan) -> None:
        """Queue one finished span. Blocks only while the queue is full."""
        queue = self._queue
        if len(queue) >= self.max_queue and threading.current_thread() is not self._thread:
            self._wait_for_room()
        queue.append((state, span))
        if not self._wake.is_set():
            self._wake.set()
        if len(queue) >= self.max_batch and not self._urgent.is_set():
            self._urgent.set()

    def flush(self) -> Future[None]:
        """A future that completes when every span queued before this call is in the store."""
        marker: Future[None] = Future()
        if not self._thread.is_alive():
            marker.set_exception(RuntimeError("agentlightning's span writer is closed; spans cannot be stored"))
            return marker
        self._queue.append(marker)
        self._urgent.set()
        self._wake.set()
        return marker

    def close(self, timeout: float | None = 30.0) -> None:
        """Flush what is queued (waiting at most ``timeout`` seconds) and stop the thread."""
        if self._closed:
            return
        try:
            self.flush().result(timeout)
        except Exception as exc:  # a writer that cannot finish must not stop the program from exiting
            logger.warning("agentlightning could not store %d queued spans at close: %s", len(self._queue), exc)
        self._closed = True
        self._urgent.set()
        self._wake.set()
        self._thread.join(timeout=5)

    def _wait_for_room(self) -> None:
        with self._space:
            while len(self._queue) >= self.max_queue and self._thread.is_alive():
                self._urgent.set()
                self._wake.set()
                self._space.wait(0.05)

    # ---- the writer thread ----------------------------------------------------------------------

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        queue = self._queue
        try:
            while True:
                self._wake.wait(1.0)
                if queue and not self._closed:
                    self._urgent.wait(self.linger)  # gather a batch, unless someone is waiting for it
                self._urgent.clear()
                self._wake.clear()
                while queue:
                    batch: list[Any] = []
                    while queue and len(batch) < self.max_batch:
                        batch.append(queue.popleft())
                    self._process(loop, batch)
                    with self._space:
                        self._space.notify_all()
                if self._closed:
                    return
        finally:
            loop.close()

    def _process(self, loop: asyncio.AbstractEventLoop, batch: list[Any]) -> None:
        items: list[tuple[TraceState, ReadableSpan]] = []
        markers: list[Future[None]] = []
        for entry in batch:
            if isinstance(entry, Future):
                markers.append(entry)
            else:
                items.append(entry)
        if items:
            try:
                self._write(loop, items)
            except BaseException as exc:  # never let the thread die: later flushes would hang
                logger.exception("agentlightning's span writer failed unexpectedly")
                for state, _ in items:
                    state.errors.append(exc)
        for marker in markers:
            if not marker.done():
                marker.set_result(None)

    def _write(self, loop: asyncio.AbstractEventLoop, items: list[tuple[TraceState, ReadableSpan]]) -> None:
        payload = [(state.rollout_id, state.attempt_id, span) for state, span in items]
        stored = None
        delay = 0.05
        for attempt in range(4):
            try:
                stored = loop.run_until_complete(self.store.add_otel_spans(payload))
                break
            except ValueError:
                break  # an unknown rollout/attempt: retrying will not help; isolate it below
            except Exception:
                if attempt < 3:
                    time.sleep(delay)  # e.g. another process holds the database past its busy timeout
                    delay *= 4
        if stored is None:
            self._write_by_context(loop, items)
            return
        for (state, _), span in zip(items, stored, strict=True):
            state.spans.append(span)

    def _write_by_context(self, loop: asyncio.AbstractEventLoop, items: list[tuple[TraceState, ReadableSpan]]) -> None:
        """A batch failed: write each context's spans on their own, so one bad rollout cannot sink the rest."""
        groups: dict[int, tuple[TraceState, list[ReadableSpan]]] = {}
        for state, span in items:
            groups.setdefault(id(state), (state, []))[1].append(span)
        for state, spans in groups.values():
            try:
                stored = loop.run_until_complete(
                    self.store.add_otel_spans([(state.rollout_id, state.attempt_id, s) for s in spans])
                )
            except Exception as exc:
                logger.error(
                    "agentlightning could not store %d spans of rollout %r attempt %r: %s",
                    len(spans),
                    state.rollout_id,
                    state.attempt_id,
                    exc,
                )
                state.errors.append(exc)
                continue
            state.spans.extend(stored)


def flush_all_writers(timeout: float = 30.0) -> None:
    """Store every span queued so far by every writer."""
    for writer in list(_WRITERS):
        try:
            writer.flush().result(timeout)
        except Exception as exc:  # exiting must go on
            logger.warning("agentlightning could not store the queued spans at exit: %s", exc)


def close_all_writers(timeout: float = 30.0) -> None:
    """Store what is queued and stop every writer (the last thing at process exit)."""
    for writer in list(_WRITERS):
        writer.close(timeout)


# Process exit, twice. First among threading's exit hooks, which run before any atexit handler: the spans
# are stored before a user's own atexit handler can close their store. Then as an atexit handler, which
# runs after non-daemon threads have finished: what those threads traced on their way out is stored too.
# (``threading._register_atexit`` is private, but what concurrent.futures relies on since Python 3.9.)
_register = getattr(threading, "_register_atexit", None)
if _register is not None:
    _register(flush_all_writers)
atexit.register(close_all_writers)
