"""Fixtures of the instrumentation-core tests: in-memory spans on the shared global provider."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentlightning.instrumentation._guard import reset_guard_reports
from agentlightning.testing.otel import get_open_span_tracker, get_test_exporter


@pytest.fixture(scope="session")
def span_exporter() -> InMemorySpanExporter:
    return get_test_exporter()


@pytest.fixture
def spans(span_exporter: InMemorySpanExporter) -> Iterator[InMemorySpanExporter]:
    span_exporter.clear()
    reset_guard_reports()
    tracker = get_open_span_tracker()
    before = tracker.open_spans()
    yield span_exporter
    span_exporter.clear()
    leaked = {k: v for k, v in tracker.open_spans().items() if k not in before}
    assert not leaked, f"spans left open: {sorted(leaked.values())}"
