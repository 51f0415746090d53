"""The network guard refuses non-loopback lookups/connects and lets loopback through."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from agentlightning.testing.network import ENV_RECORD, NetworkBlocked, block_network, is_loopback


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "127.5.0.1", "::1", "[::1]", "/tmp/x.sock", None])
def test_loopback_hosts(host: object) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["api.openai.com", "8.8.8.8", "10.0.0.1", "2001:db8::1", 42])
def test_outside_hosts(host: object) -> None:
    assert not is_loopback(host)


def test_outside_lookup_and_connect_are_refused_and_recorded() -> None:
    with block_network() as attempts:
        with pytest.raises(NetworkBlocked, match=r"api\.agentops\.ai"):
            socket.getaddrinfo("api.agentops.ai", 443)
        sock = socket.socket()
        try:
            with pytest.raises(NetworkBlocked, match=r"203\.0\.113\.9"):
                sock.connect(("203.0.113.9", 443))
        finally:
            sock.close()
    assert attempts == [("socket.getaddrinfo", "api.agentops.ai"), ("socket.connect", "203.0.113.9")]


def test_loopback_passes_and_guard_switches_off() -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    try:
        with block_network() as attempts:
            client = socket.create_connection(server.getsockname(), timeout=2)
            client.close()
        assert attempts == []
    finally:
        server.close()
    # Outside the block nothing is refused (a lookup of an IP literal needs no DNS server). This session's own
    # guard (agentlightning_block_network) is on in this process, so the check runs in a fresh interpreter.
    code = textwrap.dedent(
        """
        import socket
        from agentlightning.testing.network import block_network
        with block_network():
            pass
        assert socket.getaddrinfo("203.0.113.9", 443)
        """
    )
    unguarded = {k: v for k, v in os.environ.items() if k != "AGENTLIGHTNING_TEST_BLOCK_NETWORK"}
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60, env=unguarded)


def test_subprocess_records_attempts_to_file(tmp_path: Path) -> None:
    record = tmp_path / "net.txt"
    code = textwrap.dedent(
        """
        import socket
        from agentlightning.testing.network import activate
        activate()
        try:
            socket.getaddrinfo("example.com", 80)
        except OSError:
            pass
        """
    )
    env = {**os.environ, ENV_RECORD: str(record)}
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=60)
    assert record.read_text().split() == ["socket.getaddrinfo", "example.com"]
