"""The background writer: finished spans go to the store in batches, off the caller's thread.

The caller pays for one ``deque.append`` per span (plus, when the writer sleeps, one token put in a C-level
``SimpleQueue`` to wake it). A single daemon thread
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

Waking is done with C-level primitives only, because with real model latencies every span is a batch of its
own and a ``threading.Event`` or ``Condition`` costs more Python bytecode per span than writing it: the writer
sleeps on a ``queue.SimpleQueue`` of wake-up tokens (``_idle`` says whether a producer must put one), and lingers
on ``_urgent``, a plain lock that is held while nobody is waiting and released to cut the linger short (so
"set" is a release, "wait and clear" an ``acquire`` with a timeout).

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
import queue as queue_module
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
        self._tokens: queue_module.SimpleQueue[None] = queue_module.SimpleQueue()  # wakes a sleeping writer
        self._idle = False  # the writer sleeps (or is about to): a producer puts a token
        self._urgent = threading.Lock()  # held: nobody waits; released: stop lingering (see the module's text)
        self._urgent.acquire()
        self._space = threading.Condition()  # producers waiting for room (counted in _room_waiters)
        self._room_waiters = 0
        self._lifecycle = threading.Lock()  # guards _closed, _running and _thread
        self._closed = False
        self._running = False
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None  # only for stores without a synchronous sink
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
        if self._idle:  # read after the append: the writer sets it before its last look at the queue
            self._wake()
        if len(queue) >= self.max_batch and self._urgent.locked():
            self._hurry()
        return True

    def _wake(self) -> None:
        self._idle = False
        self._tokens.put(None)

    def _hurry(self) -> None:
        """Cut the writer's linger short (a flush, a full batch or queue, closing)."""
        try:  # noqa: SIM105 (contextlib.suppress is a Python-level context manager: this runs per flush)
            self._urgent.release()
        except RuntimeError:  # released already (another thread hurried it first)
            pass

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
        self._hurry()
        self._wake()
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
        self._hurry()
        self._wake()
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
            self._room_waiters += 1  # before the check: the writer reads it after taking a batch
            try:
                while len(self._queue) >= self.max_queue and self._running:
                    self._hurry()
                    self._wake()
                    if deadline is None:
                        self._space.wait(0.05)
                        continue
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return False
                    self._space.wait(remaining)
            finally:
                self._room_waiters -= 1
        return True

    # ---- the writer thread ----------------------------------------------------------------------

    def _run(self) -> None:
        queue = self._queue
        tokens = self._tokens
        urgent = self._urgent
        linger = max(0.0, self.linger)
        max_batch = self.max_batch
        try:
            while True:
                if not queue:
                    self._idle = True  # before the last look: a span appended after it brings a token
                    if not queue:
                        try:  # noqa: SIM105 (no Python-level context manager on the per-span path)
                            tokens.get(timeout=1.0)
                        except queue_module.Empty:
                            pass
                    self._idle = False
                if queue:  # a closed writer lingers too: close() and flush() hurry it, late spans come in bursts
                    urgent.acquire(timeout=linger)  # gather a batch, unless someone hurries it; held again after
                else:
                    urgent.acquire(blocking=False)  # forget a hurry that came while nothing lingered
                while queue:
                    if len(queue) <= max_batch:  # the usual case: take all (popleft is atomic, the rest stays)
                        batch: list[Any] = [queue.popleft() for _ in range(len(queue))]
                    else:
                        batch = [queue.popleft() for _ in range(max_batch)]
                    if self._room_waiters:  # room now, not after the write: a waiting producer goes on at once
                        with self._space:
                            self._space.notify_all()
                    self._process(batch)
                    batch.clear()  # release the spans now, not when the next batch arrives
                if self._closed:
                    with self._lifecycle:  # a producer that appends after this check restarts the thread
                        if not queue:
                            self._close_loop()  # before _running goes: a restarted thread may make its own
                            self._running = False
                            return
        except BaseException:  # not reached in practice (_process catches everything); leave nothing open
            self._close_loop()
            raise

    def _close_loop(self) -> None:
        if self._loop is not None:
            self._loop.close()
            self._loop = None

    def _run_async(self, payload: list[Any]) -> None:
        """``add_otel_spans`` of a store without a synchronous sink, on the writer's own event loop."""
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
        self._loop.run_until_complete(self.store.add_otel_spans(payload))

    def _process(self, batch: list[Any]) -> None:
        items: list[tuple[TraceState, ReadableSpan]] = []
        markers: list[Future[None]] = []
        for entry in batch:
            if isinstance(entry, Future):
                markers.append(entry)
            else:
                items.append(entry)
        if items:
            try:
                self._write(items)
            except BaseException as exc:  # never let the thread die: later flushes would hang
                logger.exception("agentlightning's span writer failed unexpectedly; %d spans were lost", len(items))
                self._failed += len(items)
                for state, count in _count_by_state(items):
                    state.failed(count, exc)
        for marker in markers:
            if not marker.done():
                marker.set_result(None)

    def _write(self, items: list[tuple[TraceState, ReadableSpan]]) -> None:
        payload = [(state.rollout_id, state.attempt_id, span) for state, span in items]
        stored = False
        delay = 0.05
        direct = self._direct
        for attempt in range(4):
            try:
                if direct is not None:
                    direct(payload)
                else:
                    self._run_async(payload)
                stored = True
                break
            except ValueError:
                break  # an unknown rollout/attempt: retrying will not help; isolate it below
            except Exception:
                if attempt < 3:
                    time.sleep(delay)  # e.g. another process holds the database past its busy timeout
                    delay *= 4
        if not stored:
            self._write_by_context(items)
            return
        for state, count in _count_by_state(items):
            state.stored(count)

    def _write_by_context(self, items: list[tuple[TraceState, ReadableSpan]]) -> None:
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
                    self._run_async(payload)
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
