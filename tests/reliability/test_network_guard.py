"""The session-wide network guard (``agentlightning_block_network``): a test that reaches beyond this machine
fails, named, with the host -- even when the code swallowed the error or ran on another thread; loopback passes;
a test's own ``block_network()`` block keeps its attempts to itself. Run in child pytest sessions."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

USER_TESTS = textwrap.dedent(
    """
    import socket
    import threading

    import pytest

    from agentlightning.testing.network import NetworkBlocked, block_network


    def test_swallowed_lookup():
        try:
            socket.getaddrinfo("api.openai.com", 443)
        except OSError:
            pass  # a client that treats it as "network unreachable"


    def test_connect_on_a_thread():
        def reach():
            sock = socket.socket()
            try:
                sock.connect(("203.0.113.7", 80))
            except OSError:
                pass
            finally:
                sock.close()
        worker = threading.Thread(target=reach)
        worker.start()
        worker.join()


    @pytest.fixture
    def remote():
        with pytest.raises(NetworkBlocked):
            socket.getaddrinfo("fixture.example.com", 443)
        yield


    def test_in_a_fixture(remote):
        pass


    def test_loopback_passes():
        server = socket.socket()
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        try:
            socket.create_connection(server.getsockname(), timeout=2).close()
            socket.getaddrinfo("localhost", 80)
        finally:
            server.close()


    def test_own_block_is_its_own_business():
        with block_network() as attempts:
            with pytest.raises(NetworkBlocked):
                socket.getaddrinfo("expected.example.com", 443)
        assert attempts == [("socket.getaddrinfo", "expected.example.com")]
    """
)


def _unguarded() -> dict[str, str]:
    """This session's environment without its guard for children (these children make attempts on purpose)."""
    return {k: v for k, v in os.environ.items() if k != "AGENTLIGHTNING_TEST_BLOCK_NETWORK"}


def _run(project: Path, ini: str) -> subprocess.CompletedProcess[str]:
    (project / "pytest.ini").write_text(f"[pytest]\n{ini}\n")
    (project / "test_user.py").write_text(USER_TESTS)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(project), "-rfE"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
        env={**_unguarded(), "AGENTLIGHTNING_STRICT": "1"},
    )


def _failed(output: str) -> dict[str, str]:
    return {
        line.split(" ", 2)[1]: line
        for line in output.splitlines()
        if line.startswith("FAILED ") or line.startswith("ERROR ")
    }


def test_guard_fails_each_test_that_reaches_out_naming_it_and_the_host(tmp_path: Path) -> None:
    done = _run(tmp_path, "agentlightning_block_network = true")
    failed = _failed(done.stdout)
    assert sorted(failed) == [
        "test_user.py::test_connect_on_a_thread",
        "test_user.py::test_in_a_fixture",
        "test_user.py::test_swallowed_lookup",
    ], done.stdout
    out = done.stdout
    assert "test_user.py::test_swallowed_lookup (call) tried to reach the network: api.openai.com" in out
    assert "test_user.py::test_connect_on_a_thread (call) tried to reach the network: 203.0.113.7" in out
    assert "test_user.py::test_in_a_fixture (setup) tried to reach the network: fixture.example.com" in out
    assert failed["test_user.py::test_in_a_fixture"].startswith("ERROR ")  # failed in its set-up
    assert "use a cassette" in out  # and what to do instead
    assert "2 passed" in done.stdout


LITERAL_TEST = textwrap.dedent(
    """
    import socket

    def test_literal_lookup():
        socket.getaddrinfo("203.0.113.9", 443)  # an IP literal: resolved locally, no packet leaves
    """
)


def test_guard_is_off_unless_the_project_asks(tmp_path: Path) -> None:
    for ini, outcome in (("", "1 passed"), ("agentlightning_block_network = true", "1 failed")):
        (tmp_path / "pytest.ini").write_text(f"[pytest]\n{ini}\n")
        (tmp_path / "test_user.py").write_text(LITERAL_TEST)
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(tmp_path)],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            env=_unguarded(),
        )
        assert outcome in done.stdout, (ini, done.stdout)


CHILD_TEST = textwrap.dedent(
    """
    import subprocess
    import sys

    def test_child_reaches_out():
        code = "import socket\\ntry:\\n    socket.getaddrinfo('child.example.com', 443)\\nexcept OSError:\\n    pass"
        subprocess.run([sys.executable, "-c", code], check=True)

    def test_child_stays_home():
        subprocess.run([sys.executable, "-c", "import socket; socket.getaddrinfo('localhost', 80)"], check=True)
    """
)


def test_guard_covers_child_processes(tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text("[pytest]\nagentlightning_block_network = true\n")
    (tmp_path / "test_user.py").write_text(CHILD_TEST)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(tmp_path), "-rfE"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env=_unguarded(),
    )
    out = done.stdout
    assert "1 failed, 1 passed" in out, out
    assert "test_user.py::test_child_reaches_out (call) tried to reach the network: child.example.com" in out
    assert "in a child process" in out
