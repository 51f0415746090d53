"""A ``logging.Logger`` stand-in that imports :mod:`logging` on first use.

``logging`` (with ``traceback``, ``string``, ``weakref``, ...) is a noticeable part of what
``instrument_all()`` at start-up would import; the modules on that path only log when something is skipped
or fails, so their module-level loggers are these. Every attribute is the real logger's (``getLogger(name)``,
so ``caplog`` and handlers see the same records).
"""

from __future__ import annotations

from typing import Any

__all__ = ["lazy_logger"]


class _LazyLogger:
    __slots__ = ("_logger", "_name")

    def __init__(self, name: str) -> None:
        self._name = name
        self._logger: Any = None

    def __getattr__(self, attribute: str) -> Any:
        logger = self._logger
        if logger is None:
            import logging

            logger = self._logger = logging.getLogger(self._name)
        return getattr(logger, attribute)

    def __repr__(self) -> str:
        return f"<lazy logger {self._name!r}>"


def lazy_logger(name: str) -> Any:
    """``logging.getLogger(name)``, looked up when first used (typed as ``Any``: a Logger's methods)."""
    return _LazyLogger(name)
