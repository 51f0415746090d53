"""agent-lightning 0.3's HTTP store (``LightningStoreClient`` / ``LightningStoreServer``) is not provided.

Importing either name raises :class:`ImportError` with :data:`MESSAGE`: the multi-machine path of this
project is a PostgreSQL store that every machine connects to directly.
"""

from __future__ import annotations

HTTP_STORE_NAMES = frozenset({"LightningStoreClient", "LightningStoreServer"})

MESSAGE = (
    "{name} (agent-lightning 0.3's HTTP store) is not part of agentlightning. To share one store between "
    "processes on one machine use SqliteLightningStore; across machines use the PostgreSQL store "
    "(agentlightning.store.PostgresLightningStore, or --store postgresql://... / AGENTLIGHTNING_STORE="
    "postgresql://...), which every runner connects to directly instead of through a server."
)


def http_store_import_error(name: str) -> ImportError:
    return ImportError(MESSAGE.format(name=name), name=name)
