"""``setup_logging()``: readable agentlightning log lines on stderr (``agentlightning.logging``).

::

    import agentlightning as agl

    agl.setup_logging()                      # INFO and above from agentlightning.* on stderr
    agl.setup_logging("DEBUG")               # more detail; calling it again replaces, never duplicates
    agl.setup_logging(apply_to=["my_app"])   # the same handler and level for your own loggers too
    agl.setup_logging(apply_to=[""])         # ... or the root logger, only when asked

Only the ``agentlightning`` logger (and the loggers named in ``apply_to``) is touched: its level, one
handler of ours, and ``propagate`` (off by default, so a root handler does not print each line twice).
Calling it again removes the handler it added before. ``setup_module_logging`` and ``configure_logger``
are agent-lightning 0.3's older names; they still work and warn ``DeprecationWarning``.
"""

from __future__ import annotations

import logging
import sys
import warnings
from collections.abc import Mapping, Sequence

__all__ = ["configure_logger", "setup_logging", "setup_module_logging"]

DEFAULT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
_MARK = "_agentlightning_handler"  # set on the handlers we add, so a second call finds and replaces them


def _level(level: int | str) -> int:
    if isinstance(level, int):
        return level
    value = logging.getLevelName(level.strip().upper())
    if not isinstance(value, int):
        raise ValueError(f"Unknown logging level {level!r}; use DEBUG, INFO, WARNING, ERROR or CRITICAL")
    return value


def _configure(
    logger: logging.Logger, level: int, *, console: bool, propagate: bool, formatter: logging.Formatter
) -> None:
    for handler in [h for h in logger.handlers if getattr(h, _MARK, False)]:
        logger.removeHandler(handler)
    logger.setLevel(level)
    if console:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(formatter)
        setattr(handler, _MARK, True)
        logger.addHandler(handler)
    logger.propagate = propagate


def setup_logging(
    level: int | str = "INFO",
    *,
    console: bool = True,
    propagate: bool = False,
    capture_warnings: bool = False,
    submodule_levels: Mapping[str, int | str] | None = None,
    apply_to: Sequence[str] = (),
    formatter: logging.Formatter | None = None,
) -> logging.Logger:
    """Configure the ``agentlightning`` logger; returns it.

    ``level``: a name (``"DEBUG"``) or a number. ``console``: add a stderr handler (else only the level is
    set). ``propagate``: let records reach the parent (root) handlers as well. ``capture_warnings``: route
    ``warnings.warn`` through logging (``logging.captureWarnings``). ``submodule_levels``: other levels for
    parts, e.g. ``{"agentlightning.store": "DEBUG"}``. ``apply_to``: more logger names configured the same
    way (``""`` is the root logger, touched only when named here). Idempotent.
    """
    resolved = _level(level)
    fmt = formatter or logging.Formatter(DEFAULT_FORMAT)
    logger = logging.getLogger("agentlightning")
    _configure(logger, resolved, console=console, propagate=propagate, formatter=fmt)
    for name, sub_level in (submodule_levels or {}).items():
        if name != "agentlightning" and not name.startswith("agentlightning."):
            raise ValueError(f"submodule_levels takes agentlightning.* logger names, got {name!r}; use apply_to")
        logging.getLogger(name).setLevel(_level(sub_level))
    for name in apply_to:
        _configure(logging.getLogger(name or None), resolved, console=console, propagate=True, formatter=fmt)
    if capture_warnings:
        logging.captureWarnings(True)
    return logger


def setup_module_logging(level: int | str = "INFO", name: str = "agentlightning") -> logging.Logger:
    """Deprecated (agent-lightning 0.3): use :func:`setup_logging`."""
    warnings.warn(
        "setup_module_logging() is deprecated; use agentlightning.setup_logging()", DeprecationWarning, stacklevel=2
    )
    return _named(level, name)


def configure_logger(level: int | str = logging.INFO, name: str = "agentlightning") -> logging.Logger:
    """Deprecated (agent-lightning 0.3): use :func:`setup_logging`."""
    warnings.warn(
        "configure_logger() is deprecated; use agentlightning.setup_logging()", DeprecationWarning, stacklevel=2
    )
    return _named(level, name)


def _named(level: int | str, name: str) -> logging.Logger:
    if name == "agentlightning":
        return setup_logging(level)
    logger = logging.getLogger(name)
    _configure(logger, _level(level), console=True, propagate=True, formatter=logging.Formatter(DEFAULT_FORMAT))
    return logger
