"""What tracing adds to one ``ChatOpenAI.invoke``: this plugin against the bare call and two peer LangChain
instrumentations (OpenInference's, OpenLLMetry's), in the same run.

    uv run --all-packages python bench/langchain_overhead.py [--calls 200] [--rounds 5] [--no-callgrind]

The script installs the peers itself: when ``openinference-instrumentation-langchain`` or
``opentelemetry-instrumentation-langchain`` cannot be imported it runs itself again under
``uv run --all-packages --with ... --with ...`` (a throw-away overlay environment; the project's lock is not
touched).

A real ``ChatOpenAI`` over a real ``openai`` client whose transport is an in-process ``httpx2.MockTransport``
serving the scripted server's bytes (no network, no server process). Every set-up runs in a fresh interpreter
(no peer leaves patches behind for the next): ``bare`` (nothing instrumented), ``agentlightning`` (this
plugin; content capture off, its default), ``agentlightning+openai`` (with the OpenAI plugin underneath:
still one span per call), ``agentlightning capture`` (content capture on: the peers record content by
default), ``openinference`` and ``openllmetry`` (their instrumentors with default settings). Spans go to an
SDK ``TracerProvider`` with a ``SimpleSpanProcessor`` and an exporter that drops them, the same for everyone.

Two measures, because the machine is shared and wall time is noisy:

- instructions per call (valgrind's callgrind, when installed): each set-up's interpreter runs under
  ``valgrind --tool=callgrind --instr-atstart=no``, warms up, switches instrumentation on
  (``callgrind_control -i on``) for ``--calls`` calls only, and reports the instructions executed. Nearly
  deterministic, and not inflated by other load;
- CPU time per call of the set-up's process (``time.process_time``), ``--rounds`` rounds with the set-ups
  interleaved round by round; the median over rounds.

"added" is the set-up minus ``bare``. Nothing is asserted; the last line names the lightest peer and whether
this plugin adds less than it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PEERS = ("openinference-instrumentation-langchain", "opentelemetry-instrumentation-langchain")
SETUPS = ("bare", "agentlightning", "agentlightning+openai", "agentlightning capture", "openinference", "openllmetry")
OURS = ("agentlightning", "agentlightning+openai")
PEER_SETUPS = ("openinference", "openllmetry")
_REEXEC = "AGL_BENCH_LANGCHAIN_PEERS"


# ---- one set-up, in its own interpreter -------------------------------------------------------------------


def _model() -> Any:
    sys.path.insert(0, str(HERE))
    import httpx2
    import openai
    from langchain_openai import ChatOpenAI
    from overhead import mock_transport  # the same scripted bytes as bench/overhead.py

    root = openai.OpenAI(
        base_url="http://bench.invalid/v1", api_key="k", http_client=httpx2.Client(transport=mock_transport())
    )
    return ChatOpenAI(model="gpt-bench", api_key="k", root_client=root, client=root.chat.completions)  # type: ignore[arg-type]


_exported = [0]


def _set_up(name: str) -> None:
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

    class Drop(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            _exported[0] += len(spans)
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(Drop()))
    trace.set_tracer_provider(provider)
    if name.startswith("agentlightning"):
        from agentlightning.instrumentation import instrument

        instrument("langchain", capture_content=name.endswith("capture"))
        if name.endswith("+openai"):
            instrument("openai")
    elif name == "openinference":
        from openinference.instrumentation.langchain import LangChainInstrumentor

        LangChainInstrumentor().instrument(tracer_provider=provider)
    elif name == "openllmetry":
        from opentelemetry.instrumentation.langchain import LangchainInstrumentor

        LangchainInstrumentor().instrument(tracer_provider=provider)


def _callgrind(switch: str) -> None:
    subprocess.run(["callgrind_control", "-i", switch, str(os.getpid())], check=True, capture_output=True)


def child(name: str, calls: int, under_callgrind: bool) -> None:
    os.environ["AGENTLIGHTNING_STRICT"] = "0"
    _set_up(name)
    model = _model()
    for _ in range(100):  # warm-up: lazily built state, caches
        model.invoke("What is 2 + 2?")
    if under_callgrind:
        _callgrind("on")
    exported = _exported[0]
    cpu = time.process_time_ns()
    for _ in range(calls):
        model.invoke("What is 2 + 2?")
    cpu = time.process_time_ns() - cpu
    if under_callgrind:
        _callgrind("off")
    print(json.dumps({"cpu_us": cpu / calls / 1000, "spans": (_exported[0] - exported) / calls}))


# ---- the driver ---------------------------------------------------------------------------------------------


def _run_child(name: str, calls: int, callgrind: bool) -> dict[str, float]:
    command = [sys.executable, __file__, "--child", name, "--calls", str(calls)]
    if not callgrind:
        out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        return dict(json.loads(out.strip().splitlines()[-1]))
    with tempfile.TemporaryDirectory() as tmp:
        result = os.path.join(tmp, "callgrind.out")
        grind = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={result}", "-q"]
        subprocess.run([*grind, *command, "--callgrind"], check=True, capture_output=True, text=True)
        totals = [line for line in Path(result).read_text().splitlines() if line.startswith("totals:")]
        return {"instructions": int(totals[-1].split()[1]) / calls}  # the child's own output is not read


def _ensure_peers() -> None:
    import importlib.util

    modules = ("openinference.instrumentation.langchain", "opentelemetry.instrumentation.langchain")
    try:
        if all(importlib.util.find_spec(m) is not None for m in modules):
            return
    except ModuleNotFoundError:  # a parent package (openinference) is missing
        pass
    if os.environ.get(_REEXEC) or shutil.which("uv") is None:
        sys.exit(f"could not install the peers {', '.join(PEERS)} (needs uv and the package registry)")
    print(f"installing the peers ({', '.join(PEERS)}) into an overlay environment: uv run --with ...", flush=True)
    command = ["uv", "run", "--all-packages", *(f"--with={p}" for p in PEERS), "python", __file__, *sys.argv[1:]]
    os.execvpe("uv", command, {**os.environ, _REEXEC: "1"})


def _versions() -> str:
    import importlib.metadata as md

    names = ("langchain-core", "langchain-openai", *PEERS)
    return ", ".join(f"{n} {md.version(n)}" for n in names)


def _table(title: str, unit: str, values: dict[str, float], fmt: str, spans: dict[str, float] | None = None) -> None:
    bare = values["bare"]
    print(f"{title}")
    for name in SETUPS:
        value = values[name]
        extra = f"   spans/call {spans[name]:.0f}" if spans else ""
        print(f"  {name:24s} {value:{fmt}} {unit}/call   added {value - bare:{fmt}}{extra}")


def _verdict(measure: str, values: dict[str, float]) -> None:
    bare = values["bare"]
    lightest = min(PEER_SETUPS, key=lambda n: values[n])
    ours = max(values[n] for n in OURS) - bare
    peer = values[lightest] - bare
    verdict = "lower" if ours < peer else "NOT lower"
    print(f"  -> {measure}: agentlightning adds {ours:,.1f}, the lightest peer ({lightest}) {peer:,.1f}: {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-callgrind", action="store_true", help="CPU time only")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--callgrind", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.calls, args.callgrind)
        return
    _ensure_peers()
    print(f"ChatOpenAI.invoke, in-process transport; {_versions()}")
    if not args.no_callgrind and shutil.which("valgrind") and shutil.which("callgrind_control"):
        calls = max(10, args.calls // 4)
        instructions = {name: _run_child(name, calls, True)["instructions"] for name in SETUPS}
        _table(f"instructions per call (callgrind, {calls} calls after warm-up)", "Ir", instructions, "12,.0f")
        _verdict("instructions", instructions)
    cpu: dict[str, list[float]] = {name: [] for name in SETUPS}
    spans: dict[str, float] = {}
    for _ in range(args.rounds):
        for name in SETUPS:
            result = _run_child(name, args.calls, False)
            cpu[name].append(result["cpu_us"])
            spans[name] = result["spans"]
    medians = {name: statistics.median(v) for name, v in cpu.items()}
    title = f"CPU time per call (median of {args.rounds} rounds x {args.calls} calls)"
    _table(title, "us", medians, "8.1f", spans)
    _verdict("CPU time", medians)


if __name__ == "__main__":
    main()
