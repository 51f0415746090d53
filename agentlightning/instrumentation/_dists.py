"""Installed distributions, read the cheap way: entry points and versions without ``importlib.metadata``.

``instrument_all()`` at start-up needs two facts about the environment: which plugins are registered
(entry-point group ``agentlightning.instrumentors``) and which version of each framework is installed.
``importlib.metadata`` answers both but costs more to import than the rest of start-up together (``email``,
``zipfile``, ``pathlib``, ``csv``, ...). On the usual layout (every ``sys.path`` entry a directory or absent,
no custom finder that provides distributions) the same answers are read here straight from the
``*.dist-info`` / ``*.egg-info`` folders, with the same rules: ``sys.path`` order, the first distribution of
a (normalized) name wins. Anything else (a zip file on ``sys.path``, a meta-path finder that provides
distributions) makes these functions return ``None``, and the caller uses ``importlib.metadata``.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from typing import Any

__all__ = ["EntryPoint", "entry_points", "version"]

_SEPARATORS = re.compile(r"[-_.]+")
# module[:attr] [extras], as importlib.metadata.EntryPoint reads a value
_VALUE = re.compile(r"(?P<module>[\w.]+)\s*(:\s*(?P<attr>[\w.]+)\s*)?((?P<extras>\[.*\])\s*)?$")


def _normalize(name: str) -> str:
    return _SEPARATORS.sub("-", name).lower()


class EntryPoint:
    """One entry point (``name = module:attr``), loaded with :meth:`load` like ``importlib.metadata``'s."""

    __slots__ = ("group", "name", "value")

    def __init__(self, name: str, value: str, group: str) -> None:
        self.name = name
        self.value = value
        self.group = group

    def load(self) -> Any:
        match = _VALUE.match(self.value)
        if match is None:
            raise ValueError(f"entry point {self.name!r} has an invalid value {self.value!r}")
        loaded: Any = importlib.import_module(match.group("module"))
        for attribute in (match.group("attr") or "").split("."):
            if attribute:
                loaded = getattr(loaded, attribute)
        return loaded

    def __repr__(self) -> str:
        return f"EntryPoint(name={self.name!r}, value={self.value!r}, group={self.group!r})"


def _plain_layout() -> bool:
    """Whether every distribution is a folder in a ``sys.path`` directory (what this module can read)."""
    for finder in sys.meta_path:
        if hasattr(finder, "find_distributions") and getattr(finder, "__name__", "") != "PathFinder":
            return False
    return True


_cache: tuple[Any, list[tuple[str, str]] | None] | None = None


def _distributions() -> list[tuple[str, str]] | None:
    """``(normalized name, metadata folder or file)`` of each distribution, first of a name only, in
    ``sys.path`` order; ``None`` when the layout is not one this module reads.

    Cached while ``sys.path`` and the modification times of its folders stay the same (installing or
    removing a distribution adds or removes a folder there, which changes the time)."""
    global _cache
    if not _plain_layout():
        return None
    key: list[tuple[str, int | None]] = []
    for entry in sys.path:
        try:
            key.append((entry, os.stat(entry or ".").st_mtime_ns))
        except OSError:
            key.append((entry, None))
    cached = _cache
    if cached is not None and cached[0] == key:
        return cached[1]
    found: list[tuple[str, str]] = []
    seen: set[str] = set()
    for entry in sys.path:
        folder = entry or "."
        try:
            names = os.listdir(folder)
        except NotADirectoryError:
            _cache = (key, None)  # a zip file: importlib.metadata looks inside it
            return None
        except OSError:
            continue  # absent or unreadable: no distributions there
        for filename in names:
            lower = filename.lower()
            if not (lower.endswith(".dist-info") or lower.endswith(".egg-info")):
                continue
            name = _normalize(os.path.splitext(lower)[0].partition("-")[0])
            if name in seen:
                continue
            seen.add(name)
            found.append((name, os.path.join(folder, filename)))
    _cache = (key, found)
    return found


def entry_points(group: str) -> list[EntryPoint] | None:
    """The entry points of ``group`` (first distribution of a name wins), or ``None``: use importlib.metadata."""
    distributions = _distributions()
    if distributions is None:
        return None
    points: list[EntryPoint] = []
    header = f"[{group}]"
    for _, path in distributions:
        try:
            with open(os.path.join(path, "entry_points.txt"), encoding="utf-8") as file:
                text = file.read()
        except OSError:
            continue  # none (or an egg-info file)
        if header not in text:
            continue
        section = None
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line.startswith(("#", ";")):
                continue
            if line.startswith("[") and line.endswith("]"):
                section = line[1:-1].strip()
                continue
            if section == group:
                name, sep, value = line.partition("=")
                if sep:
                    points.append(EntryPoint(name.strip(), value.strip(), group))
    return points


def version(distribution: str) -> str | None:
    """The installed version of ``distribution``: ``""`` when it is not installed, ``None`` when this module
    cannot tell (the caller asks ``importlib.metadata``)."""
    distributions = _distributions()
    if distributions is None:
        return None
    wanted = _normalize(distribution)
    for name, path in distributions:
        if name != wanted:
            continue
        metadata = path
        if os.path.isdir(path):
            metadata = os.path.join(path, "METADATA" if path.lower().endswith(".dist-info") else "PKG-INFO")
        try:
            with open(metadata, encoding="utf-8", errors="replace") as file:
                for line in file:
                    if not line.strip():
                        break  # end of the headers
                    key, _, value = line.partition(":")
                    if key.strip().lower() == "version":
                        return value.strip()
        except OSError:
            return None
        return None
    return ""
