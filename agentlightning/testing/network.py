"""Refuse every network attempt that leaves the machine, and say who tried.

Tests here run offline by rule: cassettes or a local server on 127.0.0.1. This module enforces the rule with a
CPython audit hook (PEP 578), which sees every DNS lookup (``socket.getaddrinfo``, ``socket.gethostbyname``) and
every ``connect`` / ``sendto`` made through the :mod:`socket` module, whichever library makes it (httpx, urllib3,
psycopg's Python side, OpenTelemetry's exporters, AgentOps' uploader)::

    from agentlightning.testing.network import block_network

    with block_network() as attempts:
        run_the_program()
    assert attempts == []

Inside the block, a non-loopback attempt raises :class:`NetworkBlocked` in the code that made it (an
``OSError``, so well-behaved clients treat it as "network unreachable") and is recorded in ``attempts`` as a
``(event, host)`` pair. Loopback hosts (``localhost``, ``127.0.0.0/8``, ``::1``) and Unix sockets pass.

Audit hooks cannot be removed, so :func:`install` adds one process-wide hook, once; :func:`block_network`
switches it on and off. For a subprocess, :func:`install` + :func:`activate` at the top of the child (or
``sitecustomize``) do the same; :data:`ENV_RECORD` names a file that receives one line per attempt, so the
parent can read what the child tried even if the child swallowed the error.
"""

from __future__ import annotations

import ipaddress
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = [
    "ENV_RECORD",
    "NetworkBlocked",
    "activate",
    "attempts",
    "block_network",
    "deactivate",
    "install",
    "is_loopback",
    "unclaimed_attempts",
]

ENV_RECORD = "AGENTLIGHTNING_TEST_NETWORK_RECORD"
"""Environment variable: a file path; each blocked attempt appends ``event host`` to it."""

_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback", ""})


class NetworkBlocked(OSError):
    """A test tried to reach a host other than this machine."""


class _State:
    def __init__(self) -> None:
        self.installed = False
        self.active = 0
        self.attempts: list[tuple[str, str]] = []
        self.claimed: set[int] = set()  # indexes of attempts a block_network() block yielded to its caller
        self.lock = threading.Lock()
        self.record_path: str | None = None


_state = _State()


def is_loopback(host: object) -> bool:
    """True for a host that stays on this machine (loopback names and addresses, Unix socket paths)."""
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return False
    name = host.strip("[]").lower()
    if name in _LOOPBACK_NAMES or name.startswith("/"):
        return True
    try:
        return ipaddress.ip_address(name.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def _host_of(event: str, args: tuple[Any, ...]) -> object:
    if event in ("socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyname_ex", "socket.gethostbyaddr"):
        return args[0] if args else None
    # socket.connect / socket.sendto: (socket, address)
    if len(args) >= 2:
        address = args[1]
        if isinstance(address, tuple) and address:
            return address[0]
        return address  # a Unix socket path (str/bytes)
    return None


_EVENTS = frozenset(
    {
        "socket.getaddrinfo",
        "socket.gethostbyname",
        "socket.gethostbyname_ex",
        "socket.gethostbyaddr",
        "socket.connect",
        "socket.sendto",
    }
)


def _hook(event: str, args: tuple[Any, ...]) -> None:
    if not _state.active or event not in _EVENTS:
        return
    host = _host_of(event, args)
    if is_loopback(host):
        return
    entry = (event, str(host))
    with _state.lock:
        _state.attempts.append(entry)
    if _state.record_path:
        try:
            with open(_state.record_path, "a", encoding="utf-8") as fh:
                fh.write(f"{entry[0]} {entry[1]}\n")
        except OSError:
            pass
    raise NetworkBlocked(f"network access to {host!r} blocked in tests ({event}); use a cassette or the local server")


def install() -> None:
    """Add the process-wide audit hook (idempotent). It does nothing until :func:`activate`."""
    if not _state.installed:
        sys.addaudithook(_hook)
        _state.installed = True
    _state.record_path = os.environ.get(ENV_RECORD) or None


def activate() -> None:
    install()
    _state.active += 1


def deactivate() -> None:
    _state.active = max(0, _state.active - 1)


def attempts() -> list[tuple[str, str]]:
    """Every blocked attempt so far in this process."""
    with _state.lock:
        return list(_state.attempts)


def unclaimed_attempts(start: int = 0) -> list[tuple[str, str]]:
    """The blocked attempts from index ``start`` on that no :func:`block_network` block took as its own.

    A block yields its attempts to its caller (a test asserting on them); a session-wide guard (the pytest
    plugin's ``agentlightning_block_network``) reports only the others, the ones nobody expected.
    """
    with _state.lock:
        return [a for i, a in enumerate(_state.attempts[start:], start) if i not in _state.claimed]


@contextmanager
def block_network() -> Iterator[list[tuple[str, str]]]:
    """Refuse non-loopback DNS lookups and connects inside the block; yields the attempts made inside it."""
    activate()
    with _state.lock:
        start = len(_state.attempts)
    seen: list[tuple[str, str]] = []
    try:
        yield seen
    finally:
        deactivate()
        with _state.lock:
            seen.extend(_state.attempts[start:])
            _state.claimed.update(range(start, len(_state.attempts)))
