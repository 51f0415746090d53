"""``open_store``: pick a store backend from a path or a URL -- what ``--store`` and ``AGENTLIGHTNING_STORE`` mean.

Usage::

    from agentlightning.store import open_store

    store = open_store()                                   # $AGENTLIGHTNING_STORE, else .agentlightning/store.db
    store = open_store("runs/store.db")                    # SqliteLightningStore (the embedded default)
    store = open_store("sqlite:////abs/path/store.db")     # the same, as a URL (sqlite:///relative.db)
    store = open_store("postgresql://user:pw@db:5432/agents")   # PostgresLightningStore (more than one machine)

``postgresql://`` and ``postgres://`` URLs (libpq's own forms, query parameters included) open a
:class:`~agentlightning.store.postgres.PostgresLightningStore`, which needs ``pip install
'agentlightning[postgres]'``. Anything else is a file path for
:class:`~agentlightning.store.SqliteLightningStore`; so are ``sqlite:///relative.db`` and
``sqlite:////absolute.db`` (SQLAlchemy's forms). Another ``scheme://`` is refused with a ``ValueError``
naming the accepted forms.
"""

from __future__ import annotations

import os
import re

from agentlightning._config import DEFAULT_STORE_PATH, option_value

from .base import LightningStore

__all__ = ["DEFAULT_STORE_PATH", "open_store"]

_POSTGRES_SCHEMES = ("postgresql://", "postgres://")
_SQLITE_SCHEME = "sqlite://"
_URL = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")


def open_store(target: str | os.PathLike[str] | None = None) -> LightningStore:
    """Open the store that ``target`` names (``None``: ``$AGENTLIGHTNING_STORE``, else :data:`DEFAULT_STORE_PATH`)."""
    if target is None:
        target = str(option_value("store"))
    text = os.fspath(target)
    if not text.strip():
        raise ValueError("the store must be a file path or a postgresql:// URL, got an empty string")
    if text.lower().startswith(_POSTGRES_SCHEMES):
        from .postgres import PostgresLightningStore

        return PostgresLightningStore(text)
    if text.lower().startswith(_SQLITE_SCHEME):
        path = text[len(_SQLITE_SCHEME) :]
        if not path.startswith("/") or path == "/":
            raise ValueError(
                f"{text!r}: a sqlite URL has three slashes before its path "
                "(sqlite:///relative/path.db, sqlite:////absolute/path.db), or pass the path alone"
            )
        text = path[1:]
    elif (match := _URL.match(text)) is not None:
        scheme = match.group(1)
        raise ValueError(
            f"unsupported store URL scheme {scheme!r} in {text!r}: use a file path (SQLite) or a "
            "postgresql://user:password@host:port/dbname URL (PostgreSQL)"
        )
    from .sqlite import SqliteLightningStore

    return SqliteLightningStore(text)
