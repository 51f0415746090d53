"""Shared test set-up.

``AGENTLIGHTNING_STRICT=1`` makes the instrumentation guard re-raise instead of swallowing, so a bug in
our own wrappers fails the test that triggered it instead of hiding (the habit of Sentry's and Logfire's
test suites).
"""

from __future__ import annotations

import os
import signal
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

os.environ.setdefault("AGENTLIGHTNING_STRICT", "1")

# A shell starts a background job (`bash .ci/run &`, nohup) with SIGINT ignored, and an ignored signal stays
# ignored across exec: the Ctrl-C tests' children would never get their KeyboardInterrupt. Python's own
# handler here becomes the default disposition in every child (xdist workers load this file too).
if hasattr(signal, "SIGINT") and signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentlightning.instrumentation._guard import reset_guard_reports
from agentlightning.store.base import LightningStore
from agentlightning.testing.otel import get_open_span_tracker, get_test_exporter
from agentlightning.tracer.otel import OtelTracer

if TYPE_CHECKING:
    from agentlightning.store.postgres import PostgresLightningStore
    from agentlightning.testing.postgres import TemporaryPostgres


def _memory_store(tmp_path: Path) -> LightningStore:
    from agentlightning.store.memory import InMemoryLightningStore

    return InMemoryLightningStore()


def _sqlite_store(tmp_path: Path) -> LightningStore:
    from agentlightning.store.sqlite import SqliteLightningStore

    return SqliteLightningStore(tmp_path / "store.db")


# Every store backend; a new one joins every store-using test by adding one entry. PostgreSQL is one too, made
# by make_store() through the make_postgres_store fixture (its stores need the session's server).
STORE_FACTORIES = {"memory": _memory_store, "sqlite": _sqlite_store}
STORE_NAMES = [*sorted(STORE_FACTORIES), "postgres"]


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[TemporaryPostgres]:
    """One real PostgreSQL server for the whole session (the system's binaries, a temporary directory).

    Fails every test that needs it, with the reason, when it cannot start: never a silent skip.
    """
    from agentlightning.testing.postgres import PostgresUnavailableError, TemporaryPostgres

    try:
        server = TemporaryPostgres().start()
    except PostgresUnavailableError as exc:
        pytest.fail(f"cannot start the test PostgreSQL server: {exc}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def make_postgres_store(postgres_server: TemporaryPostgres) -> Callable[..., PostgresLightningStore]:
    """``make_postgres_store(**kwargs)``: a ``PostgresLightningStore`` in a fresh schema of the session's server."""
    from agentlightning.store.postgres import PostgresLightningStore

    def make(**kwargs: Any) -> PostgresLightningStore:
        kwargs.setdefault("schema", f"t_{uuid.uuid4().hex[:16]}")
        return PostgresLightningStore(postgres_server.dsn(), **kwargs)

    return make


def make_store(name: str, request: pytest.FixtureRequest, tmp_path: Path) -> LightningStore:
    """The store backend ``name`` (a key of ``STORE_FACTORIES``), empty."""
    if name == "postgres":  # needs the session's server, so it is made through its fixture
        store: LightningStore = request.getfixturevalue("make_postgres_store")()
        return store
    return STORE_FACTORIES[name](tmp_path)


@pytest.fixture(params=STORE_NAMES)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LightningStore]:
    """Each test that takes ``store`` runs once per backend."""
    backend = make_store(request.param, request, tmp_path)
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
