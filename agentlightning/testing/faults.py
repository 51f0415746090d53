"""Forced faults at the instrumentation's guarded sites: find every ``guard(site)`` and make it fail.

Every piece of instrumentation code that runs around a user's call sits in a :func:`guard` (see
``agentlightning/instrumentation/_guard.py``): a ``with SITE:`` block, a ``try`` whose ``except`` calls
``SITE.handle(exc)``, or a ``@guard(site)`` function. This module finds all of them by reading the source
(so a new site is covered without listing it anywhere) and raises an :class:`InjectedFault` on the first line
of one chosen block, as if the instrumentation's own code had a bug there::

    from agentlightning.testing.faults import FaultInjector, discover_sites

    sites = discover_sites()                      # every guarded block of the core and the plugins
    with FaultInjector(sites[0]) as injector:     # the next run of that block raises InjectedFault
        result = client.chat.completions.create(...)
    assert injector.fired                         # the block did run (and failed)

    with FaultInjector(None, record=True) as seen:  # no fault: only record which blocks ran
        client.chat.completions.create(...)
    seen.reached                                   # {GuardSite, ...}

The fault is raised by a trace function (``sys.settrace``) on the block's first line, so nothing in the
instrumentation is patched or changed for it, and the block fails before any of its work is done (the
harshest place). Tracing covers the calling thread and threads started while the injector is active. Once
the fault fires, Python removes the trace function of that thread, so one injector raises at most once;
use a new one (or :meth:`FaultInjector.arm`) for the next call. Tests only: tracing is slow.
"""

from __future__ import annotations

import ast
import sys
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

__all__ = ["FaultInjector", "GuardSite", "InjectedFault", "discover_sites", "source_roots"]


class InjectedFault(Exception):
    """Raised inside a guarded block by :class:`FaultInjector` (never by the instrumentation itself)."""


@dataclass(frozen=True, order=True)
class GuardSite:
    """One guarded block: the guard's site name and where the block's first statement is."""

    site: str
    path: str
    """Absolute path of the source file."""
    line: int
    """Line of the first statement the guard protects."""
    form: str
    """``with``, ``handle`` (a ``try`` whose handler calls ``.handle``) or ``decorator``."""
    handled: bool = False
    """The block's first statement is a ``try`` that catches ``Exception`` itself and does not re-raise: a
    fault there is the block's own business (nothing reaches the guard, so nothing is logged)."""

    @property
    def id(self) -> str:
        """A short, stable name for test ids: ``site@file.py:line``."""
        return f"{self.site}@{Path(self.path).name}:{self.line}"


def source_roots() -> list[Path]:
    """The core package and every plugin package of this checkout (``instrumentations/*/agentlightning_*``)."""
    import agentlightning

    core = Path(agentlightning.__file__).resolve().parent
    roots = [core]
    plugins = core.parent / "instrumentations"
    if plugins.is_dir():
        roots.extend(sorted(p for p in plugins.glob("*/agentlightning_*") if p.is_dir()))
    return roots


def _guard_call_site(node: ast.AST) -> str | None:
    """``"name"`` when ``node`` is ``guard("name")`` (any spelling ending in ``guard``), else ``None``."""
    if not isinstance(node, ast.Call):
        return None
    func = node.func
    name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
    if name != "guard":
        return None
    if len(node.args) != 1 or not isinstance(node.args[0], ast.Constant) or not isinstance(node.args[0].value, str):
        raise ValueError(
            f"guard() at line {node.lineno} has no literal site name; give it a string literal so the fault "
            "tests (agentlightning.testing.faults) can find and cover it"
        )
    return node.args[0].value


def _catches_everything(handler: ast.ExceptHandler) -> bool:
    kind = handler.type
    names = kind.elts if isinstance(kind, ast.Tuple) else [kind]
    broad = kind is None or any(isinstance(n, ast.Name) and n.id in ("Exception", "BaseException") for n in names)
    return broad and not any(isinstance(node, ast.Raise) for node in ast.walk(handler))


def _first_line(body: list[ast.stmt]) -> tuple[int, bool]:
    """The line of the first statement that runs in ``body``, and whether a ``try`` inside the block catches
    a failure there. A ``try`` line itself runs nothing (and its line event may come before the enclosing
    block's handler is in place), so look inside it."""
    statement, handled = body[0], False
    while isinstance(statement, ast.Try):
        handled = handled or any(_catches_everything(h) for h in statement.handlers)
        statement = statement.body[0]
    return statement.lineno, handled


def _sites_in(path: Path) -> list[GuardSite]:
    source = path.read_text(encoding="utf-8")
    if "guard" not in source:
        return []
    try:
        tree = ast.parse(source, str(path))
    except SyntaxError:
        return []
    names: dict[str, str] = {}  # NAME = guard("site"), at any scope of the file
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            site = _guard_call_site(node.value)
            if site is not None:
                names[node.targets[0].id] = site

    def site_of(expr: ast.AST) -> str | None:
        if isinstance(expr, ast.Name):
            return names.get(expr.id)
        return _guard_call_site(expr)

    found: list[GuardSite] = []
    where = str(path)
    for node in ast.walk(tree):
        if isinstance(node, (ast.With, ast.AsyncWith)):
            for item in node.items:
                site = site_of(item.context_expr)
                if site is not None:
                    line, handled = _first_line(node.body)
                    found.append(GuardSite(site, where, line, "with", handled))
        elif isinstance(node, ast.Try):
            for handler in node.handlers:
                for inner in ast.walk(handler):
                    if (
                        isinstance(inner, ast.Call)
                        and isinstance(inner.func, ast.Attribute)
                        and inner.func.attr == "handle"
                        and (site := site_of(inner.func.value)) is not None
                    ):
                        found.append(GuardSite(site, where, _first_line(node.body)[0], "handle"))
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for decorator in node.decorator_list:
                site = site_of(decorator)
                if site is not None:
                    line, handled = _first_line(node.body)
                    found.append(GuardSite(site, where, line, "decorator", handled))
    return found


def discover_sites(roots: Iterable[Path] | None = None) -> list[GuardSite]:
    """Every guarded block under ``roots`` (default :func:`source_roots`), sorted, without duplicates."""
    found: set[GuardSite] = set()
    for root in roots if roots is not None else source_roots():
        for path in sorted(Path(root).rglob("*.py")):
            if path.name == "_guard.py" or "testing" in path.relative_to(root).parts:
                continue  # the guard's own docstring examples; the test kit
            found.update(_sites_in(path.resolve()))
    return sorted(found)


class FaultInjector:
    """Raise :class:`InjectedFault` on the first line of ``target`` the next time it runs (see the module doc).

    ``record=True`` also records every discovered block that runs (``reached``); with ``target=None`` it only
    records. ``sites`` are the blocks to record (default: :func:`discover_sites`).
    """

    def __init__(
        self, target: GuardSite | None, *, record: bool = False, sites: Iterable[GuardSite] | None = None
    ) -> None:
        self.target = target
        self.record = record
        self.fired = 0
        self.reached: set[GuardSite] = set()
        watched = list(sites) if sites is not None else (discover_sites() if record else [])
        if target is not None:
            watched.append(target)
        self._lines: dict[str, dict[int, GuardSite]] = {}
        for site in watched:
            self._lines.setdefault(site.path, {})[site.line] = site
        self._armed = False
        self._previous: Any = None

    # ---- trace functions --------------------------------------------------------------------------
    def _global(self, frame: FrameType, event: str, arg: Any) -> Any:
        if not self._armed:
            return None
        return self._local if frame.f_code.co_filename in self._lines else None

    def _local(self, frame: FrameType, event: str, arg: Any) -> Any:
        if event != "line" or not self._armed:
            return self._local if self._armed else None
        site = self._lines[frame.f_code.co_filename].get(frame.f_lineno)
        if site is None:
            return self._local
        if self.record:
            self.reached.add(site)
        if site == self.target and not self.fired:
            self.fired += 1
            raise InjectedFault(f"fault injected by the test at guard site {site.id}")
        return self._local

    # ---- control --------------------------------------------------------------------------------
    def arm(self) -> None:
        """(Re)install the trace function in this thread and for new threads; the fault may fire once more."""
        self.fired = 0
        self._armed = True
        sys.settrace(self._global)
        threading.settrace(self._global)

    def disarm(self) -> None:
        self._armed = False
        sys.settrace(self._previous)
        threading.settrace(self._previous)  # type: ignore[arg-type]

    def __enter__(self) -> FaultInjector:
        self._previous = sys.gettrace()
        self.arm()
        return self

    def __exit__(self, *exc: object) -> None:
        self.disarm()
