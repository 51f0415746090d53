"""The store: where rollouts, attempts, spans and resources live (``agentlightning.store``).

- :class:`LightningStore`: the contract (``agentlightning.store.base``), with the state machine.
- :class:`InMemoryLightningStore`: in process memory; fast, not persistent (``agentlightning.store.memory``).
- :class:`SqliteLightningStore`: one SQLite file, durable, shared by processes (``agentlightning.store.sqlite``).
- :class:`PostgresLightningStore`: one PostgreSQL database shared by processes on any number of hosts
  (``agentlightning.store.postgres``; ``pip install 'agentlightning[postgres]'``). Imported on first use.
- :func:`open_store`: the backend a path or URL names (``--store`` / ``AGENTLIGHTNING_STORE``).

- :class:`RunStore`: one run's view of a store, what a Trainer hands its algorithm (``agentlightning.store._run``).

Every backend passes one test suite of the rules.

agent-lightning 0.3's ``LightningStoreClient`` / ``LightningStoreServer`` (its HTTP store) raise
``ImportError`` naming the PostgreSQL store, this project's store for more than one machine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._open import open_store
from ._run import RunStore
from .base import LightningStore
from .memory import InMemoryLightningStore
from .sqlite import CorruptStoreError, NotASqliteDatabaseError, SqliteLightningStore

if TYPE_CHECKING:
    from .postgres import PostgresLightningStore

__all__ = [
    "CorruptStoreError",
    "InMemoryLightningStore",
    "LightningStore",
    "NotASqliteDatabaseError",
    "PostgresLightningStore",
    "RunStore",
    "SqliteLightningStore",
    "open_store",
]


def __getattr__(name: str) -> Any:
    if name == "PostgresLightningStore":  # psycopg is an optional extra: import it only when asked for
        from .postgres import PostgresLightningStore

        return PostgresLightningStore
    from ._http import HTTP_STORE_NAMES, http_store_import_error

    if name in HTTP_STORE_NAMES:
        raise http_store_import_error(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
