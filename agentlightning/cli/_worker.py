"""``agentlightning worker``: runner processes on this host that take rollouts from a shared store.

::

    agentlightning worker --store postgresql://user:pw@db/agents --agent my_pkg.agents:solver -n 8
    agentlightning worker --agent my_agent:agent --run-id run-3f2a9c01b4d2      # only that run's rollouts

``--agent module:attr`` names a :class:`~agentlightning.LitAgent` (an ``@agl.rollout`` function, say);
the module is imported with the working directory on ``sys.path``, like ``python -m``. ``--store`` is a
SQLite path or a ``postgresql://`` URL (default ``$AGENTLIGHTNING_STORE``, else
``.agentlightning/store.db``). ``--run-id`` (default ``$AGENTLIGHTNING_RUN_ID``) takes only the rollouts
of that run (a ``Trainer(run_id=...)`` or the id a ``Trainer(n_runners=0)`` prints); without it the worker
takes any run's rollouts. A Trainer with ``n_runners=0`` enqueues and waits for such workers.

Each of the ``-n`` runners (default 1) is a process of its own (``multiprocessing`` spawn) with its own
store connection and tracer: a :class:`~agentlightning.LitAgentRunner` that takes one rollout at a time,
heartbeating while the agent works. Its attempts carry the worker id ``HOST-PID-INDEX``. The agent gets
the task as the store keeps it (JSON data). Prompts and answers are recorded, as under a Trainer, unless
``--no-capture-content``.

Stopping. SIGTERM or SIGINT (Ctrl-C) asks every runner to stop: each *finishes its current attempt* (it
ends succeeded, failed or timeout as usual), takes no new rollout, and the command exits 0. A second
signal stops at once, abandoning the attempts in flight: like a dead worker's, they are marked
``unresponsive`` after their ``unresponsive_seconds`` and retried as their ``retry_condition`` says (exit
130). A runner process killed from outside (``kill -9``) is left dead, the same way; the others go on, and
the command then exits 1. When the command itself is killed, its runners stop at once too.

Bad input (no ``module:attr``, a module or attribute that does not exist, an object that is not an agent,
a store that cannot be opened) is reported in one line, exit 2, before any runner starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import multiprocessing
import os
import signal
import socket
import sys
import threading
from multiprocessing.connection import wait
from typing import TYPE_CHECKING, Any

from agentlightning import semconv
from agentlightning._config import option_value

from ._errors import UsageError
from ._store import store_location

if TYPE_CHECKING:
    import argparse

    from agentlightning.litagent.litagent import LitAgent
    from agentlightning.store.base import LightningStore

__all__ = ["RUN_ID_ENV", "load_agent", "worker_command"]

RUN_ID_ENV = semconv.RUN_ID_ENV
#: Seconds an idle runner waits before asking the queue again.
POLL_INTERVAL = 0.1


def load_agent(spec: str) -> LitAgent[Any]:
    """The agent ``module:attr`` names; bad input raises :class:`UsageError`."""
    from agentlightning.litagent.litagent import LitAgent

    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise UsageError(f"--agent {spec!r}: give it as module:attr, e.g. my_agents:solver")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and module_name.startswith(exc.name):
            raise UsageError(
                f"--agent {spec}: no module named {module_name!r}; check the name and the working directory"
            ) from None
        raise UsageError(f"--agent {spec}: importing {module_name} failed: {exc}") from None
    except Exception as exc:
        raise UsageError(f"--agent {spec}: importing {module_name} raised {type(exc).__name__}: {exc}") from None
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise UsageError(f"--agent {spec}: {module_name} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if not isinstance(obj, LitAgent):
        raise UsageError(
            f"--agent {spec}: {attr} is a {type(obj).__name__}, not an agent; decorate the function with "
            "@agl.rollout or point at a LitAgent instance"
        )
    return obj


def open_worker_store(location: str) -> LightningStore:
    """The shared store (created if missing, so workers may start before the trainer); bad input: UsageError."""
    from agentlightning.store import open_store

    if os.path.isdir(location):
        raise UsageError(f"store {location!r} is a directory; give the path of the store file inside it")
    try:
        return open_store(location)
    except ImportError as exc:
        raise UsageError(f"store {location!r}: {exc}") from None
    except (ValueError, OSError) as exc:  # not a store, a bad URL, a server that cannot be reached
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UsageError(f"cannot open the store {location!r}: {text}") from None


def worker_command(ns: argparse.Namespace) -> int:
    if ns.n < 1:
        raise UsageError(f"-n {ns.n}: give the number of runner processes, 1 or more")
    location = store_location(ns.store)
    run_id: str | None = option_value("run_id", ns.run_id or None)
    load_agent(ns.agent)  # check in this process, so bad input is one line and no runner starts
    open_worker_store(location).close()
    prefix = f"{socket.gethostname()}-{os.getpid()}"
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(
            target=_runner_main,
            args=(location, ns.agent, run_id, f"{prefix}-{index}", not ns.no_capture_content),
            name=f"agentlightning-worker-{index}",
        )
        for index in range(ns.n)
    ]
    signals = 0

    def on_signal(signum: int, frame: Any) -> None:
        nonlocal signals
        signals += 1
        for process in processes:
            if process.pid is not None and process.exitcode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGTERM)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:  # the handlers stay until the command has reported: a stop signal after the runners ended stops nothing
        for process in processes:
            process.start()
        print(
            f"agentlightning worker: {ns.n} runner(s) on {location}, "
            f"{'run ' + run_id if run_id else 'rollouts of any run'}; SIGTERM/Ctrl-C stops after the current attempt",
            file=sys.stderr,
            flush=True,
        )
        running = list(processes)
        while running:
            wait([p.sentinel for p in running])
            running = [p for p in running if p.exitcode is None]
        return _report_exits(processes, signals)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _report_exits(processes: list[Any], signals: int) -> int:
    codes = [p.exitcode for p in processes]
    died = [(p, c) for p, c in zip(processes, codes, strict=True) if c not in (0, 130)]
    for process, code in died:
        how = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
        print(
            f"agentlightning worker: runner {process.name} (pid {process.pid}) ended with {how}; an attempt it "
            "was running is retried or failed by the store once found unresponsive",
            file=sys.stderr,
            flush=True,
        )
    if died:
        return 1
    return 130 if signals > 1 or 130 in codes else 0


# ---- one runner process ---------------------------------------------------------------------------


def _runner_main(location: str, agent_spec: str, run_id: str | None, worker_id: str, capture: bool) -> None:
    """The body of a runner process (spawned: everything is imported afresh here)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the command, which sends SIGTERM once
    stopping = threading.Event()

    def on_term(signum: int, frame: Any) -> None:
        if stopping.is_set():  # the second signal: abandon the attempt in flight
            os._exit(130)
        stopping.set()

    signal.signal(signal.SIGTERM, on_term)  # first thing: a signal during start-up stops cleanly too
    _exit_with_parent()
    try:
        agent = load_agent(agent_spec)
        store = open_worker_store(location)
    except UsageError as exc:
        print(f"agentlightning worker: error: {exc}", file=sys.stderr)
        sys.exit(2)
    code = asyncio.run(_serve(agent, store, run_id, worker_id, capture, stopping))
    sys.exit(code)


def _exit_with_parent() -> None:
    """If the command dies (``kill -9``), stop this runner at once too: its attempt is found unresponsive."""
    parent = multiprocessing.parent_process()
    if parent is None:  # pragma: no cover - always spawned by the command
        return

    def watch() -> None:
        wait([parent.sentinel])
        os._exit(1)

    threading.Thread(target=watch, name="agentlightning-parent-watch", daemon=True).start()


async def _serve(
    agent: LitAgent[Any],
    store: LightningStore,
    run_id: str | None,
    worker_id: str,
    capture: bool,
    stopping: threading.Event,
) -> int:
    from agentlightning.runner.runner import LitAgentRunner
    from agentlightning.tracer.otel import OtelTracer

    tracer = OtelTracer()
    tracer.init()
    runner: LitAgentRunner[Any] = LitAgentRunner(
        tracer, poll_interval=POLL_INTERVAL, capture_content=True if capture else None
    )
    runner.init(agent)
    runner.init_worker(worker_id, store, run_id=run_id)
    try:
        while not stopping.is_set():
            rollout = await store.dequeue_rollout(worker_id=worker_id, run_id=run_id)
            if rollout is None:
                await asyncio.sleep(POLL_INTERVAL)
                continue
            await runner.step(rollout)
    finally:
        runner.teardown_worker(worker_id)
        runner.teardown()
        tracer.teardown()
        store.close()
    return 0
