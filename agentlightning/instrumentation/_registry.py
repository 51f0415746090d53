"""The registry: which instrumentors exist, and turning them all on or off.

Plugins register under the entry-point group ``agentlightning.instrumentors``; the entry point names
the framework and points at an :class:`~agentlightning.instrumentation.Instrumentor` subclass (or a
ready instance)::

    [project.entry-points."agentlightning.instrumentors"]
    openai = "agentlightning_openai:OpenAIInstrumentor"

Entry points are read when :func:`instrument_all` (or ``instrument(name)``) is first called, never at
import time, straight from the installed metadata folders (``_dists``; ``importlib.metadata`` only for a
layout that reader does not know). One instrumentor instance per name lives here for the whole process, so
``instrument_openai()``, ``instrument_all()`` and ``uninstrument_all()`` all act on the same patches.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from agentlightning._lazylog import lazy_logger

from . import _dists
from ._base import InstrumentationUnavailableError, Instrumentor
from ._config import OPTIONS, check_keywords, disabled_from_env, normalize_names

__all__ = [
    "ENTRY_POINT_GROUP",
    "available_instrumentors",
    "get_instrumentor",
    "instrument",
    "instrument_all",
    "register_instrumentor",
    "uninstrument",
    "uninstrument_all",
]

logger = lazy_logger("agentlightning.instrumentation")

ENTRY_POINT_GROUP = "agentlightning.instrumentors"

_lock = threading.RLock()
_factories: dict[str, Any] = {}  # name -> class/instance/entry point, not loaded yet
_instances: dict[str, Instrumentor] = {}
_discovered = False


def _discover() -> None:
    global _discovered
    if _discovered:
        return
    _discovered = True
    found: Iterable[Any] | None = _dists.entry_points(ENTRY_POINT_GROUP)
    if found is None:
        import importlib.metadata

        found = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
    for entry_point in found:
        _factories.setdefault(entry_point.name.lower(), _EntryPoint(entry_point))


class _EntryPoint:
    """A registered entry point, not loaded yet (ours or importlib.metadata's: both have ``load()``)."""

    __slots__ = ("entry_point",)

    def __init__(self, entry_point: Any) -> None:
        self.entry_point = entry_point


def register_instrumentor(name: str, factory: type[Instrumentor] | Instrumentor) -> None:
    """Make an instrumentor known without packaging metadata (an entry point does the same)."""
    with _lock:
        _factories[name.lower()] = factory


def available_instrumentors() -> list[str]:
    """Names of the instrumentors that are registered (installed), whether or not their framework is."""
    with _lock:
        _discover()
        return sorted({*_factories, *_instances})


def get_instrumentor(name: str) -> Instrumentor:
    """The process-wide instrumentor for ``name``; ``KeyError`` when no plugin provides it."""
    name = name.lower()
    with _lock:
        instance = _instances.get(name)
        if instance is not None:
            return instance
        _discover()
        factory = _factories.get(name)
        if factory is None:
            installed = ", ".join(available_instrumentors()) or "none"
            raise KeyError(
                f"No agentlightning instrumentor named {name!r} (installed: {installed}). "
                f"Install its plugin, e.g. pip install 'agentlightning[{name}]'."
            )
        if isinstance(factory, _EntryPoint):
            factory = factory.entry_point.load()
        instance = factory() if isinstance(factory, type) else factory
        if not isinstance(instance, Instrumentor):
            raise TypeError(f"Entry point {name!r} gave {instance!r}, not an agentlightning Instrumentor")
        _instances[name] = instance
        return instance


def instrument(name: str, **options: Any) -> Instrumentor:
    """Instrument one framework by name. Raises when its plugin or the framework itself is missing."""
    try:
        instrumentor = get_instrumentor(name)
    except KeyError as exc:
        raise InstrumentationUnavailableError(exc.args[0]) from None
    instrumentor.instrument(**options)
    return instrumentor


def uninstrument(name: str) -> None:
    with _lock:
        instance = _instances.get(name.lower())
    if instance is not None:
        instance.uninstrument()


def instrument_all(*, disabled: Iterable[str] | str | None = None, **options: Any) -> list[str]:
    """Instrument every installed framework plugin; frameworks imported later are patched on import.

    ``capture_content=True`` records message content (off by default; see the configuration table in
    ``agentlightning.instrumentation``). ``disabled`` (and ``AGENTLIGHTNING_DISABLED_INSTRUMENTATIONS``)
    names plugins to skip. A plugin whose framework is missing or too old is skipped with a debug line.
    Returns the names instrumented.
    """
    skip = normalize_names(disabled) | disabled_from_env()
    selected: list[tuple[str, Instrumentor]] = []
    for name in available_instrumentors():
        if name in skip:
            logger.debug("agentlightning: instrumentation %r disabled", name)
            continue
        try:
            selected.append((name, get_instrumentor(name)))
        except Exception:
            logger.exception("agentlightning: instrumentation %r failed to load and is skipped", name)
    core = {o.keyword for o in OPTIONS if o.keyword and o.where == "instrumentation"} - {"disabled"}
    plugin_keywords = {o.keyword for _, i in selected for o in i.options if o.keyword}
    check_keywords(options, core | plugin_keywords)
    done: list[str] = []
    for name, instrumentor in selected:
        own = {o.keyword for o in instrumentor.options}
        try:
            instrumentor.instrument(**{k: v for k, v in options.items() if k in core or k in own})
        except InstrumentationUnavailableError as exc:
            logger.debug("agentlightning: skipping instrumentation %r: %s", name, exc)
            continue
        except Exception:
            logger.exception("agentlightning: instrumentation %r failed to load and is skipped", name)
            continue
        done.append(name)
    return done


def uninstrument_all() -> None:
    """Remove every patch made by any instrumentor; later imports are no longer patched either."""
    with _lock:
        instances = list(_instances.values())
    for instance in instances:
        instance.uninstrument()
