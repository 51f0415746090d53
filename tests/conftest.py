"""Shared test set-up.

``AGENTLIGHTNING_STRICT=1`` makes the instrumentation guard re-raise instead of swallowing, so a bug in
our own wrappers fails the test that triggered it instead of hiding (the habit of Sentry's and Logfire's
test suites).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("AGENTLIGHTNING_STRICT", "1")

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentlightning.instrumentation._guard import reset_guard_reports
from agentlightning.store.base import LightningStore
from agentlightning.testing.otel import get_open_span_tracker, get_test_exporter
from agentlightning.tracer.otel import OtelTracer


def _memory_store(tmp_path: Path) -> LightningStore:
    from agentlightning.store.memory import InMemoryLightningStore

    return InMemoryLightningStore()


def _sqlite_store(tmp_path: Path) -> LightningStore:
    from agentlightning.store.sqlite import SqliteLightningStore

    return SqliteLightningStore(tmp_path / "store.db")


# Every store backend; a new one (a server-grade store, say) joins every store-using test by adding one entry.
STORE_FACTORIES = {"memory": _memory_store, "sqlite": _sqlite_store}


@pytest.fixture(params=sorted(STORE_FACTORIES))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LightningStore]:
    """Each test that takes ``store`` runs once per backend."""
    backend = STORE_FACTORIES[request.param](tmp_path)
    try:
        yield backend
    finally:
        backend.close()


@pytest.fixture
def tracer(request: pytest.FixtureRequest) -> Iterator[OtelTracer]:
    """An initialized ``OtelTracer``, bound to the test's ``store`` when the test uses one."""
    tracer = OtelTracer()
    tracer.init()
    if "store" in request.fixturenames:
        tracer.init_worker(0, request.getfixturevalue("store"))
    try:
        yield tracer
    finally:
        tracer.teardown()


@pytest.fixture(scope="session")
def span_exporter() -> InMemorySpanExporter:
    """In-memory spans from the global OpenTelemetry provider (installed once per test session)."""
    return get_test_exporter()


@pytest.fixture
def spans(span_exporter: InMemorySpanExporter) -> Iterator[InMemorySpanExporter]:
    """The exporter, cleared for the test; fails the test if it leaves a span open."""
    span_exporter.clear()
    reset_guard_reports()
    tracker = get_open_span_tracker()
    before = tracker.open_spans()
    yield span_exporter
    span_exporter.clear()
    leaked = {k: v for k, v in tracker.open_spans().items() if k not in before}
    assert not leaked, f"spans left open: {sorted(leaked.values())}"
