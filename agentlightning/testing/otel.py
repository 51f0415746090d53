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
from typing import TYPE_CHECKING

from opentelemetry import trace

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

__all__ = ["get_test_exporter"]

_lock = threading.Lock()
_exporter: InMemorySpanExporter | None = None


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
        _exporter = exporter
        return exporter
