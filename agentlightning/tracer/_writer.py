"""The background writer: finished spans go to the store in batches, off the caller's thread.

The caller pays for one ``deque.append`` per span (plus, rarely, an ``Event.set``). A single daemon thread
drains the queue, converts spans and writes each batch with one ``store.add_otel_spans`` call, which
backends run as one transaction. After the first span of a batch arrives the writer lingers up to
``linger`` seconds for more (a transaction per span would cost SQLite ~0.4 ms of CPU each); a flush, or a
full batch, cuts the wait short, so leaving a trace context never waits for the linger.

The queue is bounded (``max_queue`` spans, plus the batch being written), so a store that cannot keep up
never makes the program's memory grow. When it is full, the caller waits at most ``max_wait`` seconds (1 ms
by default) for room; then the span is dropped, and counted: the first drop of a writer logs one warning,
:attr:`SpanWriter.dropped` (and ``OtelTracer.dropped_spans``) give the count, and the trace context that
lost spans reports how many when it ends. A store that stalls or raises therefore never blocks the user's
calls for longer than ``max_wait``, nor breaks them. ``max_wait=None`` restores lossless back-pressure: the
caller waits as long as it takes.

A flush is a marker in the same FIFO queue, so when the writer reaches it, every span queued before it is
committed.

The fast path: a store whose :meth:`~agentlightning.store.LightningStore.otel_span_sink` offers a synchronous
sink (the memory and SQLite stores, while ``add_otel_spans`` is theirs) is written through it, which converts
spans to their stored form without pydantic (no ``Span`` model per span, no event loop per batch). Any other
store gets ``add_otel_spans``, as the :class:`~agentlightning.store.LightningStore` contract says.
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
from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan

    from agentlightning.store.base import LightningStore, OtelSpanItem

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
        self,
        store: LightningStore,
        *,
        max_queue: int = 16384,
        max_batch: int = 2048,
        linger: float = 0.05,
        max_wait: float | None = 0.001,
    ) -> None:
        self.store = store
        self.max_queue = max_queue
        self.max_batch = max_batch
        self.linger = linger
        self.max_wait = max_wait
        self._direct = _direct_ingest(store)
        self._dropped = 0  # spans dropped because the queue stayed full (updated under _space)
        self._failed = 0  # spans the store refused (only the writer thread updates it)
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

    @property
    def failed(self) -> int:
        """Spans the store could not take (it raised, even after retries); each loss is also logged."""
        return self._failed

    @property
    def dropped(self) -> int:
        """Spans dropped so far because the queue stayed full for ``max_wait`` (the store could not keep up)."""
        return self._dropped

    # ---- producer side (any thread) -------------------------------------------------------------

    def submit(self, state: TraceState, span: ReadableSpan) -> bool:
        """Queue one finished span; ``False`` if it was dropped (the queue stayed full for ``max_wait``)."""
        queue = self._queue
        full = len(queue) >= self.max_queue and threading.current_thread() is not self._thread
        if full and not self._wait_for_room():
            self._drop(state)
            return False
        queue.append((state, span))
        if self._closed:  # read after the append: either the exiting thread sees the span, or we restart it
            self._ensure_running()
        if not self._wake.is_set():
            self._wake.set()
        if len(queue) >= self.max_batch and not self._urgent.is_set():
            self._urgent.set()
        return True

    def _drop(self, state: TraceState) -> None:
        with self._space:
            self._dropped += 1
            first = self._dropped == 1
        state.dropped()
        if first:
            logger.warning(
                "agentlightning dropped a span of rollout %r: the span writer's queue for %r is full (%d spans "
                "waiting; the store does not keep up). Further drops are counted, not logged: see "
                "OtelTracer.dropped_spans. Give the tracer a larger max_queue, or max_wait=None to make callers "
                "wait for the store instead.",
                state.rollout_id,
                self.store,
                self.max_queue,
            )

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

    def _wait_for_room(self) -> bool:
        """Wait (at most ``max_wait``) until the queue has room; whether it has."""
        deadline = None if self.max_wait is None else time.monotonic() + self.max_wait
        with self._space:
            while len(self._queue) >= self.max_queue and self._running:
                self._urgent.set()
                self._wake.set()
                if deadline is None:
                    self._space.wait(0.05)
                    continue
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._space.wait(remaining)
        return True

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
                    with self._space:  # room now, not after the write: a waiting producer goes on at once
                        self._space.notify_all()
                    self._process(loop, batch)
                    batch.clear()  # release the spans now, not when the next batch arrives
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
                self._failed += len(items)
                for state, count in _count_by_state(items):
                    state.failed(count, exc)
        for marker in markers:
            if not marker.done():
                marker.set_result(None)

    def _write(self, loop: asyncio.AbstractEventLoop, items: list[tuple[TraceState, ReadableSpan]]) -> None:
        payload = [(state.rollout_id, state.attempt_id, span) for state, span in items]
        stored = False
        delay = 0.05
        direct = self._direct
        for attempt in range(4):
            try:
                if direct is not None:
                    direct(payload)
                else:
                    loop.run_until_complete(self.store.add_otel_spans(payload))
                stored = True
                break
            except ValueError:
                break  # an unknown rollout/attempt: retrying will not help; isolate it below
            except Exception:
                if attempt < 3:
                    time.sleep(delay)  # e.g. another process holds the database past its busy timeout
                    delay *= 4
        if not stored:
            self._write_by_context(loop, items)
            return
        for state, count in _count_by_state(items):
            state.stored(count)

    def _write_by_context(self, loop: asyncio.AbstractEventLoop, items: list[tuple[TraceState, ReadableSpan]]) -> None:
        """A batch failed: write each context's spans on their own, so one bad rollout cannot sink the rest."""
        groups: dict[int, tuple[TraceState, list[ReadableSpan]]] = {}
        for state, span in items:
            groups.setdefault(id(state), (state, []))[1].append(span)
        direct = self._direct
        for state, spans in groups.values():
            payload = [(state.rollout_id, state.attempt_id, s) for s in spans]
            try:
                if direct is not None:
                    direct(payload)
                else:
                    loop.run_until_complete(self.store.add_otel_spans(payload))
            except Exception as exc:
                logger.error(
                    "agentlightning could not store %d spans of rollout %r attempt %r: %s",
                    len(spans),
                    state.rollout_id,
                    state.attempt_id,
                    exc,
                )
                self._failed += len(spans)
                state.failed(len(spans), exc)
                continue
            state.stored(len(spans))


def _direct_ingest(store: LightningStore) -> Callable[[list[OtelSpanItem]], int] | None:
    """The store's synchronous fast path, if it has the core's and has not replaced ``add_otel_spans``."""
    sink = getattr(store, "otel_span_sink", None)  # a store that is not a LightningStore subclass has none
    return sink() if callable(sink) else None


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
