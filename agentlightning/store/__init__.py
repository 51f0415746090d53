"""The store: where rollouts, attempts, spans and resources live (``agentlightning.store``).

- :class:`LightningStore`: the contract (``agentlightning.store.base``), with the state machine.
- :class:`InMemoryLightningStore`: in process memory; fast, not persistent (``agentlightning.store.memory``).
- :class:`SqliteLightningStore`: one SQLite file, durable, shared by processes (``agentlightning.store.sqlite``).

agent-lightning 0.3's ``LightningStoreClient`` / ``LightningStoreServer`` (its HTTP store) raise
``ImportError`` naming the PostgreSQL store, this project's store for more than one machine.

Both backends share one implementation of the rules (``agentlightning.store._core``) and one test suite.
"""

from __future__ import annotations

from .base import LightningStore
from .memory import InMemoryLightningStore
from .sqlite import SqliteLightningStore

__all__ = ["InMemoryLightningStore", "LightningStore", "SqliteLightningStore"]


def __getattr__(name: str) -> object:
    from ._http import HTTP_STORE_NAMES, http_store_import_error

    if name in HTTP_STORE_NAMES:
        raise http_store_import_error(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
