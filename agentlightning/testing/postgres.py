"""A throw-away PostgreSQL server for tests and benchmarks: the system's binaries, a temporary data directory.

Usage::

    from agentlightning.testing.postgres import TemporaryPostgres

    with TemporaryPostgres() as server:            # initdb + pg_ctl start, well under a second or two
        store = PostgresLightningStore(server.dsn)
        ...
        server.restart(mode="immediate")           # a crash-like restart (the WAL is replayed)

It needs the PostgreSQL server programs (``initdb``, ``pg_ctl``; Debian/Ubuntu: ``apt-get install -y
postgresql``), found on ``PATH`` or under ``/usr/lib/postgresql/<version>/bin``. PostgreSQL refuses to run
as root, so as root the server runs as the ``postgres`` system user (``runuser``), its directory owned by it.

The server listens on a Unix socket in its own directory only (no TCP port is opened), trusts local
connections, and runs with ``fsync=off`` (a test server: a commit survives a server crash, which is what
the tests need, not a power cut). Everything is deleted on :meth:`stop`.

If anything fails, :class:`PostgresUnavailableError` says what and how to fix it.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import Literal

__all__ = ["PostgresUnavailableError", "TemporaryPostgres", "find_postgres_bin"]

_INSTALL_HINT = "install the PostgreSQL server (Debian/Ubuntu: apt-get install -y postgresql)"


class PostgresUnavailableError(RuntimeError):
    """A temporary PostgreSQL server could not be set up; the message says why and what to do."""


def find_postgres_bin() -> Path:
    """The directory holding ``initdb`` and ``pg_ctl``: from ``PATH``, else the newest Debian install."""
    initdb = shutil.which("initdb")
    if initdb is not None:
        folder = Path(initdb).resolve().parent
        if (folder / "pg_ctl").exists():
            return folder
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version_key)
    if candidates:
        return Path(candidates[-1]).parent
    raise PostgresUnavailableError(f"PostgreSQL server programs (initdb, pg_ctl) not found: {_INSTALL_HINT}")


def _version_key(path: str) -> tuple[int, ...]:
    part = Path(path).parent.parent.name
    return tuple(int(x) for x in part.split(".") if x.isdigit())


def _free_port() -> int:
    # No TCP listener is opened; the port only names the socket file, so any number unused here will do.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class TemporaryPostgres:
    """A PostgreSQL server in a temporary directory. :meth:`start` / :meth:`stop`, or use it as a context manager.

    Args:
        user: The system user that runs the server when this process is root (default ``postgres``).
    """

    def __init__(self, *, user: str = "postgres") -> None:
        self.bin = find_postgres_bin()
        self._run_as = user if os.geteuid() == 0 else None
        self.root: Path | None = None
        self.port = _free_port()

    @property
    def data_dir(self) -> Path:
        return self._root / "data"

    @property
    def socket_dir(self) -> Path:
        return self._root

    @property
    def _root(self) -> Path:
        if self.root is None:
            raise PostgresUnavailableError("the temporary PostgreSQL server is not started: call start() first")
        return self.root

    def dsn(self, dbname: str = "postgres") -> str:
        """A libpq URL for the server's Unix socket (user ``postgres``, no password)."""
        return f"postgresql://postgres@/{dbname}?host={self.socket_dir}&port={self.port}"

    def _command(self, *args: str) -> list[str]:
        if self._run_as is None:
            return list(args)
        return ["runuser", "-u", self._run_as, "--", *args]

    def _run(self, *args: str, what: str) -> None:
        try:
            result = subprocess.run(self._command(*args), capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise PostgresUnavailableError(f"PostgreSQL {what} failed ({exc}); {_INSTALL_HINT}") from exc
        if result.returncode != 0:
            log = self._root / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise PostgresUnavailableError(
                f"PostgreSQL {what} failed (exit {result.returncode}): {result.stderr.strip() or result.stdout.strip()}"
                + (f"\nserver log:\n{tail}" if tail else "")
            )

    def start(self) -> TemporaryPostgres:
        """``initdb`` a fresh cluster and start it; returns ``self``."""
        self.root = Path(tempfile.mkdtemp(prefix="al-pg-"))
        if self._run_as is not None:
            try:
                shutil.chown(self.root, user=self._run_as)
            except (LookupError, OSError) as exc:
                raise PostgresUnavailableError(
                    f"cannot hand {self.root} to the system user {self._run_as!r} that runs PostgreSQL as root "
                    f"({exc}); {_INSTALL_HINT} (it creates that user) or run the tests as another user"
                ) from exc
        initdb = str(self.bin / "initdb")
        self._run(
            initdb, "-D", str(self.data_dir), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync",
            what="initdb",
        )  # fmt: skip
        self._pg_ctl("start")
        return self

    def _pg_ctl(self, action: str, *extra: str) -> None:
        options = (
            f"-c listen_addresses='' -c port={self.port} -c unix_socket_directories='{self.socket_dir}' "
            "-c fsync=off -c full_page_writes=off -c max_connections=200"
        )
        args = [str(self.bin / "pg_ctl"), action, "-D", str(self.data_dir), "-w", "-t", "60", *extra]
        if action in ("start", "restart"):
            args += ["-o", options, "-l", str(self.socket_dir / "server.log")]
        self._run(*args, what=f"pg_ctl {action}")

    def restart(self, mode: Literal["smart", "fast", "immediate"] = "fast") -> None:
        """Stop the server (``immediate``: abruptly, like a crash) and start it again on the same socket."""
        self._pg_ctl("stop", "-m", mode)
        self._pg_ctl("start")

    def stop(self) -> None:
        """Stop the server and delete its directory. Idempotent."""
        if self.root is None:
            return
        try:
            if (self.data_dir / "postmaster.pid").exists():
                self._pg_ctl("stop", "-m", "immediate")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    def __enter__(self) -> TemporaryPostgres:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
