"""``agentlightning run`` (= ``agentlightning-run``): trace an unchanged script, then summarise it.

The target runs in this process the way ``python`` runs it (``runpy``): ``sys.argv`` is the script and its
arguments, ``sys.path[0]`` the script's folder (the working directory for ``-m``), ``__name__`` is
``"__main__"``, ``__file__`` is set, and ``-m pkg.mod`` resolves relative imports. Before it starts, every
installed instrumentation plugin is on, and the whole run is one rollout (one attempt) in the store; a
rollout the script starts itself (through ``Trainer``) keeps its own spans, in the same store
(``AGENTLIGHTNING_STORE`` is set for the script).

Ends: the script's exit code (``sys.exit(n)`` included); an uncaught exception prints its traceback, marks
the rollout failed and exits 1; Ctrl-C marks it cancelled and exits 130. On every path the spans are in the
store before the summary is printed.
"""

from __future__ import annotations

import importlib.util
import os
import runpy
import sys
import time
import traceback
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any

from agentlightning import semconv
from agentlightning._config import option_value

from ._errors import UsageError
from ._store import DEFAULT_STORE, open_store, store_location

if TYPE_CHECKING:
    import argparse

    from agentlightning.store.base import LightningStore
    from agentlightning.types import Rollout

__all__ = ["run_command"]

_OWN_FILES = {os.path.abspath(__file__), os.path.abspath(runpy.__file__), "<frozen runpy>"}


def _check_target(ns: argparse.Namespace) -> str:
    """The script path or module name to run; a missing one is a usage error."""
    target: str = ns.target
    if ns.module:
        sys.path.insert(0, os.getcwd())
        try:
            spec = importlib.util.find_spec(target)
        except (ImportError, ValueError):
            spec = None
        finally:
            sys.path.pop(0)
        if spec is None:
            raise UsageError(f"-m {target}: no module named {target!r} here; check the name and the working directory")
        return target
    if not os.path.isfile(target):
        what = "a directory" if os.path.isdir(target) else "no such file"
        raise UsageError(f"{target}: {what}; give the path of a Python script, or -m module")
    return target


def _check_disabled(names: list[str]) -> list[str]:
    if not names:
        return []
    from agentlightning.instrumentation import available_instrumentors

    installed = available_instrumentors()
    wanted = [n.strip().lower() for name in names for n in name.split(",") if n.strip()]
    unknown = [n for n in wanted if n not in installed]
    if unknown:
        raise UsageError(
            f"--disable {', '.join(unknown)}: no such instrumentation plugin; "
            f"installed: {', '.join(installed) or 'none'}"
        )
    return wanted


def _execute(target: str, module: bool, args: list[str]) -> tuple[int, str]:
    """Run the target like ``python``; return (exit code, outcome: succeeded/failed/cancelled)."""
    saved_argv, saved_path0 = sys.argv[:], sys.path[0] if sys.path else None
    try:
        if module:
            sys.argv = [target, *args]
            sys.path[0:1] = [os.getcwd()]
            runpy.run_module(target, run_name="__main__", alter_sys=True)
        else:
            sys.argv = [target, *args]
            sys.path[0:1] = [os.path.dirname(os.path.abspath(target))]
            runpy.run_path(os.path.abspath(target), run_name="__main__")  # __file__ absolute, as python sets it
    except SystemExit as exc:
        code = exc.code
        if code is None:
            return 0, "succeeded"
        if isinstance(code, int):
            return code, "succeeded" if code == 0 else "failed"
        print(code, file=sys.stderr)  # what Python does with sys.exit("message")
        return 1, "failed"
    except KeyboardInterrupt:
        print("KeyboardInterrupt", file=sys.stderr)
        return 130, "cancelled"
    except BaseException as exc:
        _print_user_traceback(exc)
        return 1, "failed"
    finally:
        sys.argv = saved_argv
        if saved_path0 is not None:
            sys.path[0:1] = [saved_path0]
    return 0, "succeeded"


def _print_user_traceback(exc: BaseException) -> None:
    """The traceback Python would print: the frames of this command and of runpy are left out."""
    tb = exc.__traceback__
    while tb is not None and _own(tb.tb_frame.f_code.co_filename):
        tb = tb.tb_next
    traceback.print_exception(type(exc), exc, tb)


def _own(filename: str) -> bool:
    return filename in _OWN_FILES or os.path.abspath(filename) in _OWN_FILES


def _collect(store: LightningStore, run: Rollout, since: float) -> list[tuple[Rollout, list[Any]]]:
    """The run's rollout and the rollouts the script started in the store during the run, with spans."""
    from agentlightning._utils import run_sync

    async def gather() -> list[tuple[Rollout, list[Any]]]:
        current = await store.get_rollout_by_id(run.rollout_id)
        rollouts = [current or run]
        rollouts += [
            r for r in await store.query_rollouts() if r.start_time >= since and r.rollout_id != run.rollout_id
        ]
        return [(r, await store.query_spans(r.rollout_id, "latest")) for r in rollouts]

    return run_sync(gather())


def run_command(ns: argparse.Namespace) -> int:
    from agentlightning._utils import run_sync

    started = time.time()
    target = _check_target(ns)
    disabled = _check_disabled(ns.disable)
    cassette = ns.record or ns.replay
    if cassette:
        from ._cassette import check_cassette

        check_cassette(cassette, record=bool(ns.record))
    location = store_location(ns.store)
    store = open_store(location, create=True)

    # The script's own Trainer, instrument_all() and tracers see the same settings.
    os.environ[semconv.STORE_ENV] = os.path.abspath(location)
    if ns.capture_content:
        os.environ[semconv.CAPTURE_CONTENT_ENV] = "true"
    if disabled:
        previous: frozenset[str] = option_value("disabled")
        os.environ[semconv.DISABLED_INSTRUMENTATIONS_ENV] = ",".join(sorted(previous | set(disabled)))

    from agentlightning.instrumentation import instrument_all
    from agentlightning.tracer.otel import OtelTracer

    tracer = OtelTracer(otlp_endpoint=ns.otlp_endpoint)
    tracer.init()
    tracer.init_worker(0, store)
    instrument_all(disabled=disabled)
    rollout = run_sync(
        store.start_rollout(
            input={"command": "agentlightning-run", "target": target, "module": bool(ns.module), "args": ns.args},
            metadata={"cwd": os.getcwd()},
        )
    )
    misses: list[str] = []
    with ExitStack() as stack:
        if cassette:
            from ._cassette import open_run_cassette

            stack.enter_context(open_run_cassette(cassette, record=bool(ns.record), misses=misses))
        with tracer.trace_context(
            f"agentlightning-run {target}", rollout_id=rollout.rollout_id, attempt_id=rollout.attempt.attempt_id
        ):
            code, outcome = _execute(target, bool(ns.module), list(ns.args))
    if misses:
        for miss in dict.fromkeys(misses):
            print(
                f"agentlightning-run: {miss} is not in the cassette {cassette} (replay only); "
                f"re-record it with --record {cassette}",
                file=sys.stderr,
            )
        outcome, code = "failed", code or 1
    try:
        run_sync(
            store.update_attempt(
                rollout.rollout_id,
                rollout.attempt.attempt_id,
                status="failed" if outcome != "succeeded" else "succeeded",
            )
        )
        if outcome == "cancelled":
            run_sync(store.update_rollout(rollout.rollout_id, status="cancelled"))
        if tracer.otlp_processor is not None:
            tracer.otlp_processor.force_flush()
        if not ns.quiet or ns.html:
            items = _collect(store, rollout, started)
            if not ns.quiet:
                _print_summary(ns, target, code, time.time() - started, location, rollout.rollout_id, items)
            if ns.html:
                from ._report import write_report

                write_report(store, [r for r, _ in items], ns.html)
    finally:
        tracer.teardown()
        store.close()
    return code


def _print_summary(
    ns: argparse.Namespace,
    target: str,
    code: int,
    seconds: float,
    location: str,
    rollout_id: str,
    items: list[tuple[Rollout, list[Any]]],
) -> None:
    from ._summary import print_table, totals

    rows = totals(items).rows()
    store_option = "" if location == DEFAULT_STORE and not ns.store else f" --store {location}"
    rows += [
        ("wall time", f"{seconds:.2f} s"),
        ("trace", f"{location}, rollout {rollout_id}"),
        (
            "view it",
            f"agentlightning ls{store_option}  |  show{store_option} ROLLOUT_ID  |  "
            f"report{store_option} -o report.html",
        ),
    ]
    if ns.html:
        rows.append(("report", ns.html))
    print_table(f"agentlightning-run: {target} exited {code}", rows)
