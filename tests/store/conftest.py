"""The store suite runs every test against every backend through the ``store`` fixture.

A new backend joins by adding one entry to ``BACKENDS``: a name and a factory taking pytest's ``tmp_path``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import Tracer, TracerProvider

from agentlightning.store import InMemoryLightningStore, LightningStore, SqliteLightningStore

BACKENDS: dict[str, Callable[[Path], LightningStore]] = {
    "memory": lambda tmp_path: InMemoryLightningStore(),
    "sqlite": lambda tmp_path: SqliteLightningStore(tmp_path / "store.db"),
}
# PostgreSQL joins too; its stores need the session's server, so they come from the make_postgres_store fixture.
NAMES = [*sorted(BACKENDS), "postgres"]


@pytest.fixture(params=NAMES)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LightningStore]:
    """A fresh, empty store of each backend."""
    if request.param == "postgres":
        backend: LightningStore = request.getfixturevalue("make_postgres_store")()
    else:
        backend = BACKENDS[request.param](tmp_path)
    yield backend
    backend.close()


@pytest.fixture
def otel_tracer() -> Iterator[Tracer]:
    """An OpenTelemetry tracer on a private provider (the global provider is never touched)."""
    provider = TracerProvider(shutdown_on_exit=False)
    yield provider.get_tracer("tests.store")
    provider.shutdown()
