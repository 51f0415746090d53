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
import contextvars
import logging
import sys
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
    """Writes spans of many trace contexts into one store from one background thread.

    Closing stops the thread once the queue is empty, but a closed writer still takes spans: work left
    running after its rollout ended (a timed-out agent's thread, say) may finish spans later. Such a span
    starts a short-lived thread that stores what is queued and stops again, so it is stored, or its loss is
    logged with a count, never dropped in silence. A flush of a closed writer with nothing queued is simply
    done.
    """

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
        self._lifecycle = threading.Lock()  # guards _closed, _running and _thread
        self._closed = False
        self._running = False
        self._thread: threading.Thread | None = None
        with self._lifecycle:
            self._start_locked()
        _WRITERS.add(self)

    @property
    def closed(self) -> bool:
        return self._closed

    # ---- producer side (any thread) -------------------------------------------------------------

    def submit(self, state: TraceState, span: ReadableSpan) -> None:
        """Queue one finished span. Blocks only while the queue is full."""
        queue = self._queue
        if len(queue) >= self.max_queue and threading.current_thread() is not self._thread:
            self._wait_for_room()
        queue.append((state, span))
        if self._closed:  # read after the append: either the exiting thread sees the span, or we restart it
            self._ensure_running()
        if not self._wake.is_set():
            self._wake.set()
        if len(queue) >= self.max_batch and not self._urgent.is_set():
            self._urgent.set()

    def flush(self) -> Future[None]:
        """A future that completes when every span queued before this call is in the store (or reported lost)."""
        marker: Future[None] = Future()
        if self._closed:
            with self._lifecycle:
                if not self._running and not self._queue:
                    marker.set_result(None)  # nothing queued nor being written: a closed writer is done
                    return marker
        self._queue.append(marker)
        if self._closed:
            self._ensure_running()
        self._urgent.set()
        self._wake.set()
        return marker

    def close(self, timeout: float | None = 30.0) -> None:
        """Store what is queued (waiting at most ``timeout`` seconds) and let the thread stop.

        Spans still queued when the wait ends are reported with their count. Closing a closed writer waits
        for the spans that arrived since (and is done at once when there are none).
        """
        flushed = self.flush()
        try:
            flushed.result(timeout)
        except Exception as exc:  # a writer that cannot finish must not stop the program from exiting
            lost = self.pending()
            if lost:
                logger.warning(
                    "agentlightning could not store %d spans queued for %r before closing: %s", lost, self.store, exc
                )
        with self._lifecycle:
            if self._closed:
                return
            self._closed = True
            thread = self._thread
        self._urgent.set()
        self._wake.set()
        if thread is not None and flushed.done():
            thread.join(timeout=5)

    def pending(self) -> int:
        """Spans queued and not yet handed to the store."""
        return sum(1 for entry in list(self._queue) if not isinstance(entry, Future))

    def _ensure_running(self) -> None:
        with self._lifecycle:
            if not self._running:
                self._start_locked()

    def _start_locked(self) -> None:
        if sys.is_finalizing():
            # A span ended during interpreter shutdown (an object's __del__, e.g. AgentOps' LangChain handler):
            # no thread can start any more (3.11 would wait forever, 3.12+ raises), so it stays unstored.
            logger.debug("agentlightning: a span ended during interpreter shutdown is not stored")
            return
        thread = threading.Thread(target=self._run, name="agentlightning-span-writer", daemon=True)
        self._thread = thread
        self._running = True
        # Start the thread in an empty context, so that it carries no trace context (see ``_threads``).
        contextvars.Context().run(thread.start)

    def _wait_for_room(self) -> None:
        with self._space:
            while len(self._queue) >= self.max_queue and self._running:
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
                    batch.clear()  # release the spans now, not when the next batch arrives
                    with self._space:
                        self._space.notify_all()
                if self._closed:
                    with self._lifecycle:  # a producer that appends after this check restarts the thread
                        if not queue:
                            self._running = False
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
                logger.exception("agentlightning's span writer failed unexpectedly; %d spans were lost", len(items))
                for state, count in _count_by_state(items):
                    state.failed(count, exc)
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
        for state, count in _count_by_state(items):
            state.stored(count)

    def _write_by_context(self, loop: asyncio.AbstractEventLoop, items: list[tuple[TraceState, ReadableSpan]]) -> None:
        """A batch failed: write each context's spans on their own, so one bad rollout cannot sink the rest."""
        groups: dict[int, tuple[TraceState, list[ReadableSpan]]] = {}
        for state, span in items:
            groups.setdefault(id(state), (state, []))[1].append(span)
        for state, spans in groups.values():
            try:
                loop.run_until_complete(
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
                state.failed(len(spans), exc)
                continue
            state.stored(len(spans))


def _count_by_state(items: list[tuple[TraceState, ReadableSpan]]) -> list[tuple[TraceState, int]]:
    counts: dict[int, list[Any]] = {}
    for state, _ in items:
        entry = counts.get(id(state))
        if entry is None:
            counts[id(state)] = [state, 1]
        else:
            entry[1] += 1
    return [(state, count) for state, count in counts.values()]


def flush_all_writers(timeout: float = 30.0) -> None:
    """Store every span queued so far by every writer; report the count of any that could not be stored."""
    for writer in list(_WRITERS):
        try:
            writer.flush().result(timeout)
        except Exception as exc:  # exiting must go on
            lost = writer.pending()
            if lost:
                logger.warning(
                    "agentlightning could not store %d spans queued for %r at exit: %s", lost, writer.store, exc
                )


def close_all_writers(timeout: float = 30.0) -> None:
    """Store what is queued and stop every writer (the last thing at process exit).

    Then say how many spans of store-bound trace contexts are still open: work still running at exit (a
    timed-out agent's thread, say) never finished them, so they cannot be stored.
    """
    for writer in list(_WRITERS):
        writer.close(timeout)
    from ._processor import open_store_spans

    still_open = open_store_spans()
    if still_open:
        rollouts = sorted({state.rollout_id for state in still_open})
        logger.warning(
            "agentlightning: %d spans of rollout(s) %s were still open at exit (work left running, such as a "
            "timed-out agent's thread, never ended them); they are not stored",
            len(still_open),
            ", ".join(rollouts[:5]) + (", ..." if len(rollouts) > 5 else ""),
        )


# Process exit, twice. First among threading's exit hooks, which run before any atexit handler: the spans
# are stored before a user's own atexit handler can close their store. Then as an atexit handler, which
# runs after non-daemon threads have finished: what those threads traced on their way out is stored too.
# (``threading._register_atexit`` is private, but what concurrent.futures relies on since Python 3.9.)
_register = getattr(threading, "_register_atexit", None)
if _register is not None:
    _register(flush_all_writers)
atexit.register(close_all_writers)
