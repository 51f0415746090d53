"""Which store a command uses, and opening it without surprises.

``--store`` (a SQLite file path), else ``AGENTLIGHTNING_STORE``, else ``.agentlightning/store.db`` in the
working directory -- the same default as ``Trainer``. Reading commands (``show``, ``ls``, ``export``,
``report``) never create a store: a missing one is a usage error saying how to make it.

:func:`open_store` is the one place that maps a URL or path to a store: a ``postgresql://`` URL opens
the PostgreSQL store (``agentlightning.store.open_store``), anything else a SQLite file.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from agentlightning._config import DEFAULT_STORE_PATH, option_value

from ._errors import UsageError

if TYPE_CHECKING:
    from agentlightning.store.base import LightningStore

__all__ = ["DEFAULT_STORE", "open_store", "store_location"]

DEFAULT_STORE = DEFAULT_STORE_PATH


def store_location(option: str | None) -> str:
    """The store URL or path from ``--store``, ``AGENTLIGHTNING_STORE`` or the default."""
    return str(option_value("store", option or None))


def open_store(url_or_path: str, *, create: bool) -> LightningStore:
    """Open the store; ``create=False`` refuses to make a new one. Bad input raises :class:`UsageError`."""
    if url_or_path.lower().startswith(("postgresql://", "postgres://")):
        return _open_postgres(url_or_path)
    if "://" in url_or_path:
        scheme = url_or_path.split("://", 1)[0]
        raise UsageError(
            f"store {url_or_path!r}: {scheme}:// stores are not supported; give the path of a SQLite store file "
            "(default .agentlightning/store.db) or a postgresql://user:password@host:port/dbname URL"
        )
    path = Path(url_or_path)
    if path.is_dir():
        raise UsageError(f"store {url_or_path!r} is a directory; give the path of the store file inside it")
    if not create and not path.exists():
        raise UsageError(
            f"no store at {url_or_path}: run a script with `agentlightning-run script.py` first, "
            "or point --store / AGENTLIGHTNING_STORE at an existing store"
        )
    from agentlightning.store.sqlite import NotASqliteDatabaseError, SqliteLightningStore

    try:
        return SqliteLightningStore(path)
    except NotASqliteDatabaseError as exc:
        raise UsageError(f"store {url_or_path!r} is not an agentlightning store ({exc}); give another path") from None
    except OSError as exc:
        raise UsageError(f"cannot open the store {url_or_path!r}: {exc.strerror or exc}") from None


def _open_postgres(url: str) -> LightningStore:
    shown = re.sub(r"://([^:/@]*):[^@]*@", r"://\1:***@", url)  # never print a password
    from agentlightning.store import open_store as open_any

    try:
        return open_any(url)
    except ImportError as exc:
        raise UsageError(
            f"store {shown}: the PostgreSQL store needs psycopg ({exc}); pip install 'agentlightning[postgres]'"
        ) from None
    except Exception as exc:
        raise UsageError(f"cannot open the store {shown}: {type(exc).__name__}: {exc}") from None
