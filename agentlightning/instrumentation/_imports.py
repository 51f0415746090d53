"""A small post-import trigger for top-level modules, so arming a plugin costs nothing until its framework
is imported.

:func:`when_imported` calls ``callback()`` once, right after the first of the given top-level modules has
been imported (executed), or at once when one is imported already. It is a finder at the front of
``sys.meta_path`` that answers only for the names it waits for: it finds the module's spec with the other
finders and gives it a loader that runs the real loader, then the callbacks. Everything else passes by
with one dictionary look-up. The instrumentors' patches themselves then go through wrapt's post-import
hooks, which are imported only at that point; this module imports nothing beyond the standard library's
basics, so ``instrument_all()`` at start-up stays cheap.

A callback that fails is reported by the guard, never raised into the user's ``import``.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING, Any

from ._guard import guard

if TYPE_CHECKING:
    from importlib.machinery import ModuleSpec

__all__ = ["when_imported"]

_lock = threading.RLock()
_waiting: dict[str, list[Callable[[], None]]] = {}  # top-level module name -> callbacks
_HOOK = guard("instrumentation.import_trigger")


def when_imported(modules: tuple[str, ...], callback: Callable[[], None]) -> None:
    """Run ``callback()`` once: now if one of ``modules`` is imported, else right after the first of them is."""
    with _lock:
        if not any(name in sys.modules for name in modules):
            once = _Once(callback)
            for name in modules:
                _waiting.setdefault(name, []).append(once)
            if not any(isinstance(finder, _Finder) for finder in sys.meta_path):
                sys.meta_path.insert(0, _Finder())
            return
    callback()


def _fire(name: str) -> None:
    with _lock:
        callbacks = _waiting.pop(name, [])
    for callback in callbacks:
        with _HOOK:
            callback()


class _Once:
    """A callback that runs at most once, whichever of its modules comes first."""

    __slots__ = ("callback", "done")

    def __init__(self, callback: Callable[[], None]) -> None:
        self.callback = callback
        self.done = False

    def __call__(self) -> None:
        with _lock:
            if self.done:
                return
            self.done = True
        self.callback()


class _Finder:
    """Answers for the waited-for names only, with the spec the other finders give and a chained loader."""

    def __init__(self) -> None:
        self._finding: set[str] = set()

    def find_spec(self, fullname: str, path: Any = None, target: ModuleType | None = None) -> ModuleSpec | None:
        if fullname not in _waiting or fullname in self._finding:
            return None
        self._finding.add(fullname)
        try:
            spec: ModuleSpec | None = None
            for finder in list(sys.meta_path):
                if finder is self:
                    continue
                find = getattr(finder, "find_spec", None)
                if find is None:
                    continue
                spec = find(fullname, path, target)
                if spec is not None:
                    break
        finally:
            self._finding.discard(fullname)
        loader = getattr(spec, "loader", None)
        if spec is None or loader is None or not hasattr(loader, "exec_module"):
            return spec  # nothing to chain: the module is imported as usual (and not waited for any more)
        spec.loader = _ChainedLoader(loader, fullname)  # type: ignore[assignment]  # a Loader in all but name
        return spec

    def invalidate_caches(self) -> None:
        return None


class _ChainedLoader:
    """The real loader's work, then the callbacks waiting for the module; the module keeps the real loader."""

    def __init__(self, loader: Any, name: str) -> None:
        self.loader = loader
        self.name = name

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        create = getattr(self.loader, "create_module", None)
        return create(spec) if create is not None else None

    def exec_module(self, module: ModuleType) -> None:
        module.__loader__ = self.loader
        spec = getattr(module, "__spec__", None)
        if spec is not None and spec.loader is self:
            spec.loader = self.loader
        self.loader.exec_module(module)
        _fire(self.name)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.loader, name)
