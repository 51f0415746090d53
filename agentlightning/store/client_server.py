"""agent-lightning 0.3's ``agentlightning.store.client_server``: not provided (see the error it raises)."""

from __future__ import annotations

from ._http import http_store_import_error

raise http_store_import_error("LightningStoreClient / LightningStoreServer")
