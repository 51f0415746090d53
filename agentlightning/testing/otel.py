"""An in-memory span exporter on the global OpenTelemetry provider, for tests.

OpenTelemetry allows setting the global tracer provider once per process, so tests share one: the first
call of :func:`get_test_exporter` installs a global SDK ``TracerProvider`` if none is set yet (or joins
the SDK provider already installed, e.g. by the agentlightning tracer) and adds a ``SimpleSpanProcessor``
with an ``InMemorySpanExporter``. Later calls return the same exporter; clear it between tests::

    @pytest.fixture(scope="session")
    def span_exporter():
        return get_test_exporter()

    @pytest.fixture
    def spans(span_exporter):
        span_exporter.clear()
        yield span_exporter
        span_exporter.clear()

A global provider that is already an SDK ``TracerProvider`` is never replaced.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from opentelemetry import trace

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

__all__ = ["get_open_span_tracker", "get_test_exporter"]

_lock = threading.Lock()
_exporter: InMemorySpanExporter | None = None
_tracker: OpenSpanTracker | None = None


class OpenSpanTracker:
    """A span processor that knows which spans were started and not ended yet (a leak check for tests)."""

    def __init__(self) -> None:
        self._open: dict[int, str] = {}
        self._lock = threading.Lock()

    def open_spans(self) -> dict[int, str]:
        """``{span_id: name}`` of the spans started and not yet ended."""
        with self._lock:
            return dict(self._open)

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        with self._lock:
            self._open[span.context.span_id] = span.name

    def on_end(self, span: Any) -> None:
        with self._lock:
            self._open.pop(span.context.span_id, None)

    def _on_ending(self, span: Any) -> None:
        return None

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def get_test_exporter() -> InMemorySpanExporter:
    """The process-wide in-memory exporter fed by the global SDK tracer provider."""
    global _exporter
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    with _lock:
        if _exporter is not None:
            return _exporter
        provider = trace.get_tracer_provider()
        if not isinstance(provider, TracerProvider):
            trace.set_tracer_provider(TracerProvider())
            provider = trace.get_tracer_provider()
            if not isinstance(provider, TracerProvider):
                raise RuntimeError(
                    f"A non-SDK tracer provider ({type(provider).__name__}) is installed globally; "
                    "spans cannot be captured in memory."
                )
        exporter = InMemorySpanExporter()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        global _tracker
        _tracker = OpenSpanTracker()
        provider.add_span_processor(_tracker)  # type: ignore[arg-type]
        _exporter = exporter
        return exporter


def get_open_span_tracker() -> OpenSpanTracker:
    """The tracker installed with :func:`get_test_exporter` (installing both if needed)."""
    get_test_exporter()
    assert _tracker is not None
    return _tracker
