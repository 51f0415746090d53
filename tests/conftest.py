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

from agentlightning.store.base import LightningStore
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
