"""The ``agentlightning`` command: trace an unchanged script from the shell, look at the trace, export it.

::

    agentlightning-run my_agent.py --its-own-args            # = agentlightning run my_agent.py ...
    agentlightning-run --replay cassettes/run.yaml my_agent.py   # offline, from a recorded session
    agentlightning show                                      # the span tree of the latest rollout
    agentlightning ls --status failed                        # rollouts, newest first
    agentlightning export --format triplets -o train.jsonl   # training data (triplets|messages|spans)
    agentlightning report -o report.html                     # one self-contained, offline HTML file
    agentlightning worker --store URL --agent mod:attr -n 4  # runner processes for a shared store
    python -m agentlightning ...                             # the same command

``run`` options
---------------
======================  ===================================================================================
``--store PATH``        the store (also ``AGENTLIGHTNING_STORE``; default ``.agentlightning/store.db``)
``--record PATH``       record the run's HTTP traffic into a vcrpy cassette (credentials never written)
``--replay PATH``       answer the run's HTTP from the cassette; a request it lacks fails, named
``--capture-content``   record prompts and answers (off by default)
``--disable NAME``      skip an instrumentation plugin (repeatable; an unknown name lists the installed)
``--otlp-endpoint URL``  also export every span to an OpenTelemetry collector over OTLP/HTTP (2 s timeout)
``--html PATH``         write the HTML report of the run at the end
``--quiet``             no summary
``-m MODULE``           run a module, like ``python -m``
======================  ===================================================================================

``worker``: see :mod:`agentlightning.cli._worker` (stops after the current attempt on SIGTERM/Ctrl-C).

Exit codes: the script's own; 1 on an uncaught exception; 130 on Ctrl-C; 2 on bad input (a missing
script, a store that is not a store, an unknown rollout, a cassette that does not parse), reported in one
line that says what to do, with nothing written to the store.

The summary (rollouts, spans, LLM calls by model, tokens, tool calls, errors, rewards, wall time, where the
trace is) goes to standard error, so the script's own output stays clean; it is a table on a terminal and
plain text otherwise. Start-up stays light: frameworks are imported by the script, not by the command.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ._errors import UsageError

__all__ = ["UsageError", "build_parser", "main", "run_main"]


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("agentlightning")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree without metadata
        return "unknown"


class _VersionAction(argparse.Action):
    """``--version`` without reading package metadata unless asked (it costs start-up time)."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS, **kwargs: object) -> None:
        super().__init__(option_strings, dest=dest, nargs=0, help="print the version and exit")

    def __call__(self, parser: argparse.ArgumentParser, *args: object, **kwargs: object) -> None:
        print(f"agentlightning {_version()}")
        parser.exit()


def _add_store(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store", metavar="PATH", help="the store (default: $AGENTLIGHTNING_STORE or .agentlightning/store.db)"
    )


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    _add_store(parser)
    cassette = parser.add_mutually_exclusive_group()
    cassette.add_argument("--record", metavar="PATH", help="record the run's HTTP traffic into this cassette")
    cassette.add_argument("--replay", metavar="PATH", help="replay the run's HTTP traffic from this cassette")
    parser.add_argument("--capture-content", action="store_true", help="record prompts and answers")
    parser.add_argument(
        "--disable", metavar="NAME", action="append", default=[], help="skip this instrumentation (repeatable)"
    )
    parser.add_argument("--otlp-endpoint", metavar="URL", help="also export spans to this OTLP/HTTP collector")
    parser.add_argument("--html", metavar="PATH", help="write the HTML report of the run here at the end")
    parser.add_argument("--quiet", action="store_true", help="print no summary")
    parser.add_argument("--version", action=_VersionAction)
    parser.add_argument("-m", dest="module", action="store_true", help="TARGET is a module, run like python -m")
    parser.add_argument("target", metavar="TARGET", help="the script (or, with -m, the module) to run")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="the script's own arguments")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="agentlightning", description="Trace an unchanged agent script, look at its trace, export it."
    )
    parser.add_argument("--version", action=_VersionAction)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run a script with every framework traced into the store")
    _add_run_options(run)

    show = commands.add_parser("show", help="the span tree of a rollout (the latest by default)")
    _add_store(show)
    show.add_argument("rollout_id", nargs="?", metavar="ROLLOUT_ID")

    ls = commands.add_parser("ls", help="rollouts with status, reward, spans and tokens, newest first")
    _add_store(ls)
    ls.add_argument("--status", action="append", help="only rollouts in this status (repeatable)")
    ls.add_argument("--mode", action="append", choices=["train", "val", "test"], help="only this mode (repeatable)")
    ls.add_argument("--limit", type=int, default=20, help="at most this many (default 20; -1: all)")

    export = commands.add_parser("export", help="training data or spans as JSON Lines")
    _add_store(export)
    export.add_argument("--format", choices=["triplets", "messages", "spans"], default="triplets")
    export.add_argument("--rollout", action="append", metavar="ID", help="only this rollout (repeatable)")
    export.add_argument("-o", "--output", metavar="FILE", help="write here (default: standard output)")

    report = commands.add_parser("report", help="a self-contained offline HTML report")
    _add_store(report)
    report.add_argument("--rollout", action="append", metavar="ID", help="only this rollout (repeatable)")
    report.add_argument("-o", "--output", metavar="FILE", default="report.html", help="default: report.html")

    worker = commands.add_parser("worker", help="runner processes taking rollouts from a shared store")
    worker.add_argument(
        "--store", metavar="URL", help="SQLite path or postgresql:// URL (default: $AGENTLIGHTNING_STORE)"
    )
    worker.add_argument("--agent", metavar="MODULE:ATTR", required=True, help="the LitAgent to run")
    worker.add_argument("-n", type=int, default=1, metavar="N", help="runner processes (default 1)")
    worker.add_argument("--run-id", metavar="ID", help="only this run's rollouts (default: $AGENTLIGHTNING_RUN_ID)")
    worker.add_argument("--no-capture-content", action="store_true", help="keep prompts and answers out of the store")
    return parser


def _dispatch(ns: argparse.Namespace) -> int:
    if ns.command == "run":
        from ._run import run_command

        return run_command(ns)
    if ns.command == "worker":
        from ._worker import worker_command

        return worker_command(ns)
    if ns.command == "report":
        from ._report import report_command

        return report_command(ns)
    from . import _views

    handler = {"show": _views.show_command, "ls": _views.ls_command, "export": _views.export_command}[ns.command]
    return handler(ns)


def _main(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> int:
    ns = parser.parse_args(argv)
    if getattr(ns, "command", None) is None:
        ns.command = "run"
    try:
        return _dispatch(ns)
    except UsageError as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def main(argv: Sequence[str] | None = None) -> int:
    """``agentlightning COMMAND ...``"""
    return _main(build_parser(), argv)


def run_main(argv: Sequence[str] | None = None) -> int:
    """``agentlightning-run ...`` = ``agentlightning run ...``"""
    parser = argparse.ArgumentParser(
        prog="agentlightning-run", description="Run a script with every framework traced into the store."
    )
    _add_run_options(parser)
    return _main(parser, argv)
