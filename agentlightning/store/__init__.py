"""The store: where rollouts, attempts, spans and resources live (``agentlightning.store``).

- :class:`LightningStore`: the contract (``agentlightning.store.base``), with the state machine.
- :class:`InMemoryLightningStore`: in process memory; fast, not persistent (``agentlightning.store.memory``).
- :class:`SqliteLightningStore`: one SQLite file, durable, shared by processes (``agentlightning.store.sqlite``).
- :class:`PostgresLightningStore`: one PostgreSQL database shared by processes on any number of hosts
  (``agentlightning.store.postgres``; ``pip install 'agentlightning[postgres]'``). Imported on first use.
- :func:`open_store`: the backend a path or URL names (``--store`` / ``AGENTLIGHTNING_STORE``).

All backends share one implementation of the rules (``agentlightning.store._core``) and one test suite.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._open import open_store
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
    "SqliteLightningStore",
    "open_store",
]


def __getattr__(name: str) -> Any:
    if name == "PostgresLightningStore":  # psycopg is an optional extra: import it only when asked for
        from .postgres import PostgresLightningStore

        return PostgresLightningStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
