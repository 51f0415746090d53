"""Rollouts/s of real ``agentlightning worker`` processes (trivial agent), PostgreSQL next to SQLite.

Run from the repository root (needs the PostgreSQL server programs; a throw-away server is started)::

    uv run python bench/worker_throughput.py
    uv run python bench/worker_throughput.py --rollouts 3000 --processes 1,2,4,8 --dsn postgresql://...

For each store and each process count N: a fresh database (or SQLite file) gets ``--rollouts`` queued
rollouts, then ``agentlightning worker --store URL --agent benchagent:agent -n N`` is started as a
subprocess -- the real command, its real runner processes, tracer and heartbeat -- and runs them all; the
bench then stops it with SIGTERM. The agent opens one span of its own and returns a reward, so each
rollout is: dequeue, attempt ``running``, resources read, three spans written (root, the agent's, the
reward), attempt ``succeeded``.

What is printed, per line:

- ``rollouts/s``: in the steady state, when all N runners were at work: from the latest of the runners'
  first claims to the earliest of their last finishes (read back from the store: attempt start times,
  worker ids, rollout end times), so process start-up (imports, connecting) is not counted.
- ``client ms`` and ``server ms``: CPU time per rollout, of the runner processes and of the PostgreSQL
  backends serving them, over the same window (sampled from ``/proc``; SQLite has no server). Unlike the
  wall rate, these do not depend on what else the machine is doing: if they stay flat as N grows, the
  work per rollout does not grow with the number of workers (no lock contention, no notification storm),
  and the rate scales with the cores given to it.

The machine's cores are shared by everything on it -- the runners, the server and this bench -- so
the rate is capped by the cores: more processes than cores measure contention, not scaling. The
settings of the server used are printed first; the throw-away server runs with ``fsync=off``,
``full_page_writes=off`` (a bench server: a commit survives a crash of the server, not of the machine)
and default ``synchronous_commit``; numbers for a durable server on a network are lower by the
fsyncs and the round trips.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg

import agentlightning as agl
from agentlightning.store import LightningStore, open_store
from agentlightning.testing.postgres import TemporaryPostgres

AGENT = textwrap.dedent(
    """
    from opentelemetry import trace
    import agentlightning as agl

    _tracer = trace.get_tracer("bench")

    @agl.rollout
    def agent(task, llm):
        with _tracer.start_as_current_span("work"):
            pass
        return 1.0
    """
)
CLI = str(Path(sys.executable).parent / "agentlightning")
_TICKS = os.sysconf("SC_CLK_TCK")
_TERMINAL = ["succeeded", "failed", "cancelled"]


def _cpu(pid: int) -> float:
    """Seconds of CPU (user + system) the live process ``pid`` used so far; 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICKS


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


class _Sampler(threading.Thread):
    """Every 50 ms: (time, CPU of the runner processes, CPU of the server's backends)."""

    def __init__(self, worker_pid: int, postmaster_pid: int | None) -> None:
        super().__init__(daemon=True)
        self.worker_pid, self.postmaster_pid = worker_pid, postmaster_pid
        self.samples: list[tuple[float, float, float]] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(0.05):
            runners = _children(self.worker_pid)
            backends = _children(self.postmaster_pid) if self.postmaster_pid is not None else []
            self.samples.append(
                (time.time(), sum(map(_cpu, runners)) + _cpu(self.worker_pid), sum(map(_cpu, backends)))
            )

    def between(self, start: float, end: float) -> tuple[float, float]:
        """CPU used by the runners and by the server between two moments (nearest samples)."""
        inside = [s for s in self.samples if start <= s[0] <= end]
        if len(inside) < 2:
            return float("nan"), float("nan")
        return inside[-1][1] - inside[0][1], inside[-1][2] - inside[0][2]


async def _fill(store: LightningStore, n: int) -> list[str]:
    await store.add_resources({"llm": agl.LLM(endpoint="http://127.0.0.1:9/v1", model="m")})  # never called
    return [(await store.enqueue_rollout({"i": i})).rollout_id for i in range(n)]


async def _finished(store: LightningStore, n: int) -> bool:
    return bool(await store.query_rollouts(status_in=_TERMINAL, offset=n - 1, limit=1))


async def _timings(store: LightningStore, ids: list[str]) -> list[tuple[str, float, float]]:
    """(worker id, start of its attempt, end of the rollout) of every rollout."""
    rows = []
    for rollout in await store.query_rollouts(rollout_id_in=ids):
        attempt = await store.get_latest_attempt(rollout.rollout_id)
        assert attempt is not None and rollout.end_time is not None and rollout.status == "succeeded", rollout
        rows.append((attempt.worker_id or "", attempt.start_time, rollout.end_time))
    return rows


def _one(url: str, processes: int, rollouts: int, postmaster_pid: int | None) -> str:
    store = open_store(url)
    try:
        ids = asyncio.run(_fill(store, rollouts))
        with tempfile.TemporaryDirectory() as folder:
            (Path(folder) / "benchagent.py").write_text(AGENT)
            env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AGENTLIGHTNING_"))}
            env["AGENTLIGHTNING_AUTO_INSTRUMENT"] = "0"
            worker = subprocess.Popen(
                [CLI, "worker", "--store", url, "--agent", "benchagent:agent", "-n", str(processes)],
                cwd=folder,
                env=env,
                stderr=subprocess.PIPE,
                text=True,
            )
            sampler = _Sampler(worker.pid, postmaster_pid)
            sampler.start()
            try:
                give_up = time.monotonic() + 600
                while not asyncio.run(_finished(store, rollouts)):
                    if worker.poll() is not None or time.monotonic() > give_up:
                        raise RuntimeError(f"the worker stopped early: {worker.stderr.read() if worker.stderr else ''}")
                    time.sleep(0.2)
            finally:
                sampler.stopping.set()
                worker.send_signal(signal.SIGTERM)
                _, err = worker.communicate(timeout=120)
            if worker.returncode != 0:
                raise RuntimeError(f"agentlightning worker exited {worker.returncode}: {err}")
        rows = asyncio.run(_timings(store, ids))
    finally:
        store.close()
    by_worker: dict[str, list[tuple[float, float]]] = {}
    for worker_id, start, end in rows:
        by_worker.setdefault(worker_id, []).append((start, end))
    if len(by_worker) < processes:
        return f"only {len(by_worker)} of {processes} runners took rollouts: use more --rollouts"
    window_start = max(min(s for s, _ in spans) for spans in by_worker.values())
    window_end = min(max(e for _, e in spans) for spans in by_worker.values())
    inside = sum(1 for _, start, end in rows if start >= window_start and end <= window_end)
    if window_end - window_start < 1.0 or inside < processes * 10:
        return f"steady state too short ({window_end - window_start:.2f} s): use more --rollouts"
    rate = inside / (window_end - window_start)
    client, server = sampler.between(window_start, window_end)
    server_text = f"{server / inside * 1e3:6.2f}" if postmaster_pid is not None else "     -"
    return (
        f"{rate:9,.0f}   client ms {client / inside * 1e3:5.2f}   server ms {server_text}   "
        f"({inside} of {rollouts} rollouts in {window_end - window_start:.1f} s with all runners at work)"
    )


def _server_settings(dsn: str) -> str:
    names = ["server_version", "fsync", "synchronous_commit", "full_page_writes", "shared_buffers", "max_connections"]
    with psycopg.connect(dsn) as conn:
        values = [conn.execute(f"SHOW {name}").fetchone()[0] for name in names]  # type: ignore[index]
    return ", ".join(f"{n}={v}" for n, v in zip(names, values, strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--dsn", help="an existing PostgreSQL server (default: start a throw-away one)")
    parser.add_argument("--rollouts", type=int, default=2000)
    parser.add_argument("--processes", default="1,4,8", help="comma-separated runner process counts")
    parser.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")
    args = parser.parse_args()
    counts = [int(n) for n in args.processes.split(",")]
    server = None if args.dsn else TemporaryPostgres().start()
    dsn: str = args.dsn or server.dsn()  # type: ignore[union-attr]
    postmaster = None if server is None else int((server.data_dir / "postmaster.pid").read_text().split()[0])
    try:
        print(f"cores {os.cpu_count()}, load average {os.getloadavg()[0]:.1f} at start")
        print(f"PostgreSQL: {_server_settings(dsn)}" + (", Unix socket" if server is not None else ""))
        print(f"{'store':<9} {'runners':>7} {'rollouts/s':>10}")
        for processes in counts:
            name = f"bench_{uuid.uuid4().hex[:12]}"
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute(f"CREATE DATABASE {name}")
            url = server.dsn(name) if server is not None else _as_url(dsn, name)
            print(f"{'postgres':<9} {processes:>7} {_one(url, processes, args.rollouts, postmaster)}", flush=True)
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute(f"DROP DATABASE {name}")
        if not args.no_sqlite:
            for processes in counts:
                with tempfile.TemporaryDirectory() as tmp:
                    path = str(Path(tmp) / "store.db")
                    print(f"{'sqlite':<9} {processes:>7} {_one(path, processes, args.rollouts, None)}", flush=True)
    finally:
        if server is not None:
            server.stop()


def _as_url(dsn: str, dbname: str) -> str:
    """``dsn`` pointing at another database, as a ``postgresql://`` URL (what ``--store`` recognises)."""
    params: dict[str, Any] = {k: v for k, v in psycopg.conninfo.conninfo_to_dict(dsn).items() if v is not None}
    params.pop("dbname", None)
    user = params.pop("user", "")
    password = params.pop("password", None)
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return f"postgresql://{auth}/{dbname}" + (f"?{query}" if query else "")


if __name__ == "__main__":
    main()
