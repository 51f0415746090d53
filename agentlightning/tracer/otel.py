"""``OtelTracer``: the default tracer, on the OpenTelemetry SDK (``agentlightning.tracer.otel``).

Set-up: if the program already installed an SDK ``TracerProvider`` globally, the tracer joins it (adds
its span processor; the user's exporters keep working). Otherwise it creates one and makes it global, so
instrumentations and user code that call ``opentelemetry.trace.get_tracer(...)`` feed it too.

Every span started inside :meth:`OtelTracer.trace_context` goes to the store of the context through a
background writer (see ``_writer``): batched, bounded, flushed when the context exits and at process exit.
Without a store, or without a rollout id, the spans are kept in memory for :meth:`get_last_trace` only.

Each trace context opens one root span, ``agentlightning.rollout``, under which all its spans nest (one
trace per rollout attempt; under a span of the program's own when one is current). Work the agent hands
to a ``ThreadPoolExecutor`` (``loop.run_in_executor`` too) or a ``threading.Thread`` carries the trace
context along (see ``agentlightning.tracer._threads``; installed when the first ``OtelTracer`` is used,
removed with :func:`agentlightning.tracer.uninstall_context_propagation`).

The rollout root span and our plugins' spans are SDK spans made the lean way (``agentlightning.tracer.lean``):
the same span ``start_span`` would make, without the SDK's general per-span work; every processor and
exporter sees an ordinary SDK span.

``OtelTracer(otlp_endpoint="http://localhost:4318")`` (or ``OTEL_EXPORTER_OTLP_ENDPOINT``) also exports
every span to an OpenTelemetry collector over OTLP/HTTP; see ``agentlightning.tracer._otlp``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from contextvars import Token
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import trace as trace_api
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_ON
from opentelemetry.trace import SpanKind, Status, StatusCode

from agentlightning import semconv
from agentlightning._config import option_value
from agentlightning._utils import run_sync
from agentlightning.types import new_attempt_id, new_rollout_id

from ._processor import RolloutSpanProcessor, install_processor
from ._state import _CURRENT, TraceState, is_attempt_known
from ._threads import install_context_propagation
from ._writer import SpanWriter
from .base import Tracer
from .lean import lean_start

if TYPE_CHECKING:
    from opentelemetry.trace import Span as OtelSpan

    from agentlightning.store.base import LightningStore
    from agentlightning.types import Span

logger = logging.getLogger(__name__)

__all__ = ["OtelTracer"]

INSTRUMENTATION_NAME = "agentlightning"


class OtelTracer(Tracer):
    """The default tracer.

    ``max_queue`` bounds the spans waiting for the store; when the queue is full, the program's thread that
    ends a span waits at most ``max_wait`` seconds (1 ms) for room, then the span is dropped and counted
    (:attr:`dropped_spans`; one warning in the log; ``max_wait=None`` waits as long as it takes instead).
    ``max_batch`` is the most spans written in one store call; ``linger`` is how long (seconds) the writer
    waits to gather a batch when nobody is waiting for it (leaving a trace context never waits for it).
    ``flush_timeout`` bounds how long leaving a trace context waits for its spans to reach the store (a
    store that stalls cannot hang the program; what is still queued is stored when it recovers).
    ``otlp_endpoint`` (a collector's base URL) also exports every span over OTLP/HTTP
    (``pip install 'agentlightning[otlp]'``).
    """

    def __init__(
        self,
        *,
        max_queue: int = 16384,
        max_batch: int = 2048,
        linger: float = 0.05,
        max_wait: float | None = 0.001,
        flush_timeout: float | None = 30.0,
        otlp_endpoint: str | None = None,
    ) -> None:
        super().__init__()
        self.max_queue = max_queue
        self.max_batch = max_batch
        self.linger = linger
        self.max_wait = max_wait
        self.flush_timeout = flush_timeout
        self._dropped_by_closed = 0  # spans dropped by writers this tracer no longer holds
        self._failed_by_closed = 0  # spans refused by the stores of those writers
        self.otlp_endpoint = otlp_endpoint
        self.otlp_processor: Any = None  # the BatchSpanProcessor exporting over OTLP, when one is configured
        self._provider: TracerProvider | None = None
        self._processor: RolloutSpanProcessor | None = None
        self._otel_tracer: trace_api.Tracer | None = None
        self._writers: dict[int, SpanWriter] = {}
        self._lock = threading.Lock()

    # ---- lifecycle ------------------------------------------------------------------------------

    def init(self, *args: Any, **kwargs: Any) -> None:
        self._ensure_provider()

    def _setup_provider(self) -> TracerProvider:
        """The provider to attach to: the global SDK provider, or a new one made global."""
        current = trace_api.get_tracer_provider()
        if isinstance(current, TracerProvider):
            description = current.sampler.get_description()
            if description != "AlwaysOnSampler" and not description.startswith("ParentBased{root:AlwaysOnSampler,"):
                logger.warning(
                    "The global OpenTelemetry TracerProvider samples spans (%s): spans it drops are missing from "
                    "their rollouts, rewards included. Give it an always-on sampler for complete training data.",
                    description,
                )
            return current
        # Every span of a rollout matters (a dropped reward span is a lost reward), so this provider records
        # all of them, whatever OTEL_TRACES_SAMPLER says (that setting is for exporters' volume, not ours).
        sampler = option_value("otel_sampler")
        if sampler is not None and sampler.lower() not in ("always_on", "parentbased_always_on"):
            logger.warning(
                "OTEL_TRACES_SAMPLER=%s is not applied to agentlightning's tracer provider: it records every span, "
                "so that no span of a rollout is lost.",
                sampler,
            )
        provider = TracerProvider(sampler=ALWAYS_ON)
        trace_api.set_tracer_provider(provider)
        if trace_api.get_tracer_provider() is not provider:
            logger.warning(
                "A non-SDK OpenTelemetry TracerProvider (%s) is installed globally; agentlightning records its own "
                "spans and emitters, but spans made through the global provider will not reach the store. Install "
                "an opentelemetry.sdk.trace.TracerProvider globally instead.",
                type(trace_api.get_tracer_provider()).__name__,
            )
        return provider

    def _ensure_provider(self) -> trace_api.Tracer:
        tracer = self._otel_tracer
        if tracer is not None:
            return tracer
        with self._lock:
            if self._otel_tracer is None:
                joined = isinstance(trace_api.get_tracer_provider(), TracerProvider)
                provider = self._setup_provider()
                self._processor = install_processor(provider)
                self._setup_otlp(provider, joined)
                self._provider = provider
                self._otel_tracer = provider.get_tracer(INSTRUMENTATION_NAME)
                install_context_propagation()  # work the agent hands to threads stays in its rollout
            return self._otel_tracer

    def _setup_otlp(self, provider: TracerProvider, joined: bool) -> None:
        """OTLP export: the keyword always; the environment only on a provider of our own (see ``_otlp``)."""
        endpoint, exact = self.otlp_endpoint, False
        if endpoint is None and not joined:
            traces = option_value("otlp_traces_endpoint")
            endpoint, exact = (traces, True) if traces else (option_value("otlp_endpoint"), False)
        if not endpoint:
            return
        from ._otlp import install_otlp_export

        try:
            self.otlp_processor = install_otlp_export(provider, endpoint, from_env=exact)
        except ImportError as exc:
            if self.otlp_endpoint is not None:
                raise
            logger.warning("%s; spans are stored but not exported.", exc)

    @property
    def provider(self) -> TracerProvider:
        """The OpenTelemetry ``TracerProvider`` this tracer records through."""
        self._ensure_provider()
        assert self._provider is not None
        return self._provider

    def teardown_worker(self, worker_id: int | str | None = None, *args: Any, **kwargs: Any) -> None:
        self.flush()

    def teardown(self, *args: Any, **kwargs: Any) -> None:
        with self._lock:
            writers, self._writers = list(self._writers.values()), {}
        for writer in writers:
            writer.close()
        with self._lock:
            self._dropped_by_closed += sum(writer.dropped for writer in writers)
            self._failed_by_closed += sum(writer.failed for writer in writers)

    @property
    def dropped_spans(self) -> int:
        """Spans dropped so far because a store did not keep up (its writer's queue stayed full)."""
        with self._lock:
            return self._dropped_by_closed + sum(writer.dropped for writer in self._writers.values())

    def stats(self) -> dict[str, int]:
        """The state of the span path, for monitoring: ``queued`` (spans waiting for a store), ``dropped``
        (see :attr:`dropped_spans`), ``failed`` (spans a store raised on, after retries; each logged) and
        ``writers`` (one background writer per store)."""
        with self._lock:
            writers = list(self._writers.values())
            dropped = self._dropped_by_closed + sum(writer.dropped for writer in writers)
            failed = self._failed_by_closed + sum(writer.failed for writer in writers)
        return {
            "queued": sum(writer.pending() for writer in writers),
            "dropped": dropped,
            "failed": failed,
            "writers": len(writers),
        }

    def flush(self, timeout: float | None = 30.0) -> None:
        """Wait until every span finished so far is in its store."""
        for writer in list(self._writers.values()):
            writer.flush().result(timeout)

    def _writer_for(self, store: LightningStore) -> SpanWriter:
        writer = self._writers.get(id(store))
        if writer is None or writer.store is not store:
            with self._lock:
                writer = self._writers.get(id(store))
                if writer is None or writer.store is not store:
                    writer = SpanWriter(
                        store,
                        max_queue=self.max_queue,
                        max_batch=self.max_batch,
                        linger=self.linger,
                        max_wait=self.max_wait,
                    )
                    self._writers[id(store)] = writer
        return writer

    # ---- trace contexts -------------------------------------------------------------------------

    def trace_context(
        self,
        name: str | None = None,
        *,
        store: LightningStore | None = None,
        rollout_id: str | None = None,
        attempt_id: str | None = None,
        capture_content: bool | None = None,
    ) -> _TraceContext:
        if (rollout_id is None) != (attempt_id is None):
            raise ValueError(
                "trace_context needs rollout_id and attempt_id together, or neither "
                f"(got rollout_id={rollout_id!r}, attempt_id={attempt_id!r})"
            )
        self._ensure_provider()
        store = store if store is not None else self._store
        writer = None
        if store is not None and rollout_id is not None:
            writer = self._writer_for(store)
        state = TraceState(self, name, rollout_id or new_rollout_id(), attempt_id or new_attempt_id(), writer)
        state.capture_content = capture_content
        return _TraceContext(self, state, check=writer is not None)

    def _finish(self, state: TraceState) -> None:
        writer = state.writer
        if writer is None:
            self._set_last_trace(state.finished_spans())
        else:  # read back from the store when asked: the context kept no span objects
            self._set_last_trace(_StoredTrace(writer.store, state.rollout_id, state.attempt_id))
        dropped = state.dropped_count
        if dropped:
            logger.error(
                "agentlightning dropped %d spans of rollout %r attempt %r: the store did not keep up",
                dropped,
                state.rollout_id,
                state.attempt_id,
            )
        failure = state.first_error()
        if failure is not None:
            logger.error(
                "agentlightning could not store %d spans of rollout %r attempt %r: %s",
                failure[0],
                state.rollout_id,
                state.attempt_id,
                failure[1],
            )

    # ---- spans ----------------------------------------------------------------------------------

    def create_span(
        self,
        name: str,
        attributes: dict[str, Any] | None = None,
        timestamp: float | None = None,
        status: Any = None,
        *,
        end_timestamp: float | None = None,
    ) -> OtelSpan:
        start = int(timestamp * 1e9) if timestamp is not None else None
        end = int(end_timestamp * 1e9) if end_timestamp is not None else start
        span = self._ensure_provider().start_span(name, attributes=attributes, start_time=start)
        if status is not None:
            span.set_status(_otel_status(status))
        span.end(end_time=end)
        return span

    @contextmanager
    def operation_context(self, name: str, attributes: dict[str, Any] | None = None) -> Iterator[OtelSpan]:
        with self._ensure_provider().start_as_current_span(name, attributes=attributes) as span:
            yield span


def _otel_status(status: Any) -> Status:
    """An OpenTelemetry ``Status`` from itself or from an agentlightning ``TraceStatus``."""
    if isinstance(status, Status):
        return status
    code = getattr(status, "status_code", "UNSET")
    return Status(StatusCode[code] if code in StatusCode.__members__ else StatusCode.UNSET, status.description)


class _StoredTrace:
    """The spans of a finished store-bound trace context, read from its store when asked."""

    __slots__ = ("attempt_id", "rollout_id", "store")

    def __init__(self, store: LightningStore, rollout_id: str, attempt_id: str) -> None:
        self.store = store
        self.rollout_id = rollout_id
        self.attempt_id = attempt_id

    def __call__(self) -> list[Span]:
        return run_sync(self.store.query_spans(self.rollout_id, self.attempt_id))


async def _check_ids(store: LightningStore, rollout_id: str, attempt_id: str) -> None:
    attempts = await store.query_attempts(rollout_id)  # one read; empty for an unknown rollout
    if not attempts:
        raise ValueError(
            f"Rollout {rollout_id!r} not found in the store (or it has no attempt); "
            "start or enqueue it before tracing it"
        )
    if not any(a.attempt_id == attempt_id for a in attempts):
        raise ValueError(f"Attempt {attempt_id!r} not found in rollout {rollout_id!r}")


def _known(state: TraceState) -> bool:
    """Whether the code opening the context just took its attempt from the store (a runner): no check then."""
    assert state.writer is not None
    return is_attempt_known(state.writer.store, state.rollout_id, state.attempt_id)


class _TraceContext:
    """What :meth:`OtelTracer.trace_context` returns: usable with ``with`` and ``async with``.

    Entering opens the context's root span (:data:`~agentlightning.semconv.AGL_ROLLOUT`, with the rollout
    and attempt ids), makes it current, and yields the OpenTelemetry tracer of the agentlightning tracer:
    every span of the context nests under the root, so one rollout attempt is one trace. Opened under a
    span of the program's own, the root nests under that span. An exception leaving the block marks the
    root ERROR. Leaving ends the root and waits until the context's spans are in the store (``async with``
    awaits without blocking the event loop).
    """

    __slots__ = ("_check", "_otel_token", "_parent", "_root", "_state", "_token", "_tracer")

    def __init__(self, tracer: OtelTracer, state: TraceState, check: bool) -> None:
        self._tracer = tracer
        self._state = state
        self._check = check
        self._token: Token[TraceState | None] | None = None
        self._root: OtelSpan | None = None
        self._otel_token: object = None
        self._parent: otel_context.Context | None = None

    @property
    def rollout_id(self) -> str:
        return self._state.rollout_id

    @property
    def attempt_id(self) -> str:
        return self._state.attempt_id

    @property
    def root_span(self) -> OtelSpan | None:
        """The context's root span while the context is open."""
        return self._root

    def _enter(self) -> trace_api.Tracer:
        state = self._state
        tracer = self._tracer._otel_tracer
        assert tracer is not None
        self._token = _CURRENT.set(state)  # first, so that the processor attributes the root span too
        attributes: dict[str, Any] = {
            semconv.AGL_ROLLOUT_ID: state.rollout_id,
            semconv.AGL_ATTEMPT_ID: state.attempt_id,
        }
        if state.name is not None:
            attributes[semconv.AGL_TRACE_NAME] = state.name
        self._parent = otel_context.get_current()
        root: OtelSpan | None = lean_start(tracer, semconv.AGL_ROLLOUT, self._parent, SpanKind.INTERNAL, attributes)
        if root is None:
            root = tracer.start_span(semconv.AGL_ROLLOUT, context=self._parent, attributes=attributes)
        self._root = root
        self._otel_token = otel_context.attach(trace_api.set_span_in_context(root, self._parent))
        return tracer

    def _leave(self, exc: BaseException | None) -> None:
        root, self._root = self._root, None
        if root is not None:
            if exc is not None:
                root.record_exception(exc)
                root.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
                root.set_attribute(semconv.ERROR_TYPE, type(exc).__qualname__)
            root.end()
        token, self._token = self._token, None
        if token is None:
            return
        otel_token, self._otel_token = self._otel_token, None
        try:
            _CURRENT.reset(token)
        except ValueError:  # left in another context (e.g. an async generator finalized elsewhere)
            _CURRENT.set(None)
            otel_context.attach(self._parent or otel_context.Context())  # its token belongs to the other context
        else:
            otel_context.detach(otel_token)  # type: ignore[arg-type]  # the same context: the token is valid
        self._parent = None

    def __enter__(self) -> trace_api.Tracer:
        state = self._state
        if self._check and state.writer is not None and not _known(state):
            run_sync(_check_ids(state.writer.store, state.rollout_id, state.attempt_id))
        return self._enter()

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        self._leave(exc)
        state = self._state
        if state.writer is not None:
            flushed = state.writer.flush()
            try:
                flushed.result(self._tracer.flush_timeout)
            except FutureTimeout:  # the builtin TimeoutError from Python 3.11; a class of its own on 3.10
                _flush_timed_out(self._tracer, state)
        self._tracer._finish(state)

    async def __aenter__(self) -> trace_api.Tracer:
        state = self._state
        if self._check and state.writer is not None and not _known(state):
            await _check_ids(state.writer.store, state.rollout_id, state.attempt_id)
        return self._enter()

    async def __aexit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        self._leave(exc)
        state = self._state
        if state.writer is not None:
            flushed = asyncio.wrap_future(state.writer.flush())
            try:
                await asyncio.wait_for(asyncio.shield(flushed), self._tracer.flush_timeout)
            except asyncio.TimeoutError:
                _flush_timed_out(self._tracer, state)
        self._tracer._finish(state)


def _flush_timed_out(tracer: OtelTracer, state: TraceState) -> None:
    assert state.writer is not None
    logger.warning(
        "agentlightning: the spans of rollout %r attempt %r were not in %r after %s s (%d spans queued); "
        "leaving the trace context without waiting longer. They are stored when the store catches up.",
        state.rollout_id,
        state.attempt_id,
        state.writer.store,
        tracer.flush_timeout,
        state.writer.pending(),
    )
