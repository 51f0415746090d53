"""The store: where rollouts, attempts, spans and resources live (``agentlightning.store``).

- :class:`LightningStore`: the contract (``agentlightning.store.base``), with the state machine.
- :class:`InMemoryLightningStore`: in process memory; fast, not persistent (``agentlightning.store.memory``).
- :class:`SqliteLightningStore`: one SQLite file, durable, shared by processes (``agentlightning.store.sqlite``).

- :class:`RunStore`: one run's view of a store, what a Trainer hands its algorithm (``agentlightning.store._run``).

Both backends share one implementation of the rules (``agentlightning.store._core``) and one test suite.
"""

from __future__ import annotations

from ._run import RunStore
from .base import LightningStore
from .memory import InMemoryLightningStore
from .sqlite import CorruptStoreError, NotASqliteDatabaseError, SqliteLightningStore

__all__ = [
    "CorruptStoreError",
    "InMemoryLightningStore",
    "LightningStore",
    "NotASqliteDatabaseError",
    "RunStore",
    "SqliteLightningStore",
]
