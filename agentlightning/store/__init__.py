"""The store: where rollouts, attempts, spans and resources live (``agentlightning.store``).

- :class:`LightningStore`: the contract (``agentlightning.store.base``), with the state machine.
- :class:`InMemoryLightningStore`: in process memory; fast, not persistent (``agentlightning.store.memory``).
- :class:`SqliteLightningStore`: one SQLite file, durable, shared by processes (``agentlightning.store.sqlite``).

Both backends share one implementation of the rules (``agentlightning.store._core``) and one test suite.
"""

from __future__ import annotations

from .base import LightningStore
from .memory import InMemoryLightningStore
from .sqlite import CorruptStoreError, NotASqliteDatabaseError, SqliteLightningStore

__all__ = [
    "CorruptStoreError",
    "InMemoryLightningStore",
    "LightningStore",
    "NotASqliteDatabaseError",
    "SqliteLightningStore",
]
