"""What tracing adds to one AutoGen agent turn: this plugin against the bare turn, AutoGen's own OpenTelemetry
spans and the OpenInference AutoGen-AgentChat instrumentation, counted by callgrind.

    uv run --all-packages python bench/autogen_overhead.py [--turns 20] [--blocks 2] [--jobs 2]

The script installs the peer itself: when ``openinference-instrumentation-autogen-agentchat`` cannot be
imported it runs itself again under ``uv run --all-packages --with ...`` (a throw-away overlay environment;
the project's lock is not touched). valgrind is installed with ``apt-get`` when missing (as
``bench/instructions.py`` does).

One turn is ``await AssistantAgent.run(task=...)`` of a real ``AssistantAgent`` over a real
``OpenAIChatCompletionClient`` (autogen-ext), which calls the scripted local server
(``agentlightning.testing``, in the driver process: not counted) once; the agent's model context is reset
after each turn (``on_reset``), so every turn sends the same request. The model name is one AutoGen does not
know, given with ``model_info=``; the server answers with the request's model, so AutoGen resolves it to
itself and does not warn. Every set-up runs in a fresh interpreter under ``valgrind --tool=callgrind
--instr-atstart=no`` (no peer leaves patches behind for the next; start-up and imports are not
instrumented): it warms up, the driver switches instrumentation on, and each block of ``--turns`` turns is
counted alone (the client calls ``os.getppid()`` at each block's end, on which callgrind dumps its counters).

Set-ups (spans go to one SDK ``TracerProvider``, set globally, with a ``SimpleSpanProcessor`` into the SDK's
``InMemorySpanExporter``, cleared between blocks; ``bare`` has no provider):

- ``bare``: nothing traced; AutoGen's own span context managers run against OpenTelemetry's no-op tracer;
- ``autogen otel``: only the global SDK provider: autogen-core/agentchat's own GenAI spans
  (``invoke_agent``; no model-call span). The lightest peer: nothing to install. A lone agent's run has no
  agent runtime, so there are no runtime messaging spans (``AUTOGEN_DISABLE_RUNTIME_TRACING`` would turn
  those off in a team);
- ``openinference``: ``AutogenAgentChatInstrumentor().instrument(tracer_provider=...)``, default settings
  (AutoGen's own spans stay on: the provider is global, as a user sets it);
- ``agentlightning``: this plugin (``instrument("autogen")``, content capture off, its default); it replaces
  AutoGen's own spans;
- ``agentlightning+openai``: with the OpenAI plugin underneath (still one span per model call).

Printed: instructions per turn (mean of the blocks, and the blocks' spread), added over ``bare``, spans per
turn, and each set-up's added instructions divided by the lightest peer's. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from _callgrind import ensure_valgrind, read_parts, run_client

HERE = Path(__file__).resolve().parent
PEER_PACKAGE = "openinference-instrumentation-autogen-agentchat"
PEER_MODULE = "openinference.instrumentation.autogen_agentchat"
SETUPS = ("bare", "autogen otel", "openinference", "agentlightning", "agentlightning+openai")
PEERS = ("autogen otel", "openinference")
MODEL = "scripted-model"
TASK = "What is 2 + 2?"
WARMUP = 5
_REEXEC = "AGL_BENCH_AUTOGEN_PEERS"


# ---- one set-up, in its own interpreter (under callgrind) -------------------------------------------------


def _set_up(name: str) -> Any:
    """The set-up's tracing; returns the exporter (``None`` for ``bare``)."""
    if name == "bare":
        return None
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    if name == "openinference":
        from openinference.instrumentation.autogen_agentchat import AutogenAgentChatInstrumentor

        AutogenAgentChatInstrumentor().instrument(tracer_provider=provider)
    elif name.startswith("agentlightning"):
        from agentlightning.instrumentation import instrument

        instrument("autogen")
        if name.endswith("+openai"):
            instrument("openai")
    return exporter


def _mark() -> None:
    """End of a counted block: callgrind dumps (and resets) its counters on entering getppid."""
    os.getppid()


def client_process(name: str, base_url: str, turns: int, blocks: int) -> None:
    import asyncio
    import gc

    os.environ.setdefault("AGENTLIGHTNING_STRICT", "0")
    exporter = _set_up(name)

    from autogen_agentchat.agents import AssistantAgent
    from autogen_core import CancellationToken
    from autogen_core.models import ModelFamily, ModelInfo
    from autogen_ext.models.openai import OpenAIChatCompletionClient

    info = ModelInfo(
        vision=False, function_calling=True, json_output=False, family=ModelFamily.UNKNOWN, structured_output=False
    )

    async def main() -> None:
        client = OpenAIChatCompletionClient(
            model=MODEL, base_url=base_url, api_key="bench", model_info=info, max_retries=0
        )
        agent = AssistantAgent("assistant", model_client=client, description="answers arithmetic")
        token = CancellationToken()

        async def turn() -> None:
            result = await agent.run(task=TASK)
            assert result.messages, result
            await agent.on_reset(token)

        for _ in range(WARMUP):  # connections, lazily built state, first-call caches
            await turn()
        if exporter is not None:
            exporter.clear()
        gc.collect()
        print("READY", flush=True)  # the driver switches callgrind's instrumentation on, then answers
        sys.stdin.readline()
        _mark()
        spans = []
        for _ in range(blocks):
            for _ in range(turns):
                await turn()
            _mark()
            if exporter is not None:
                spans.append(len(exporter.get_finished_spans()) / turns)
                exporter.clear()
        await client.close()
        print(f"SPANS {spans[-1] if spans else 0.0}", flush=True)

    asyncio.run(main())


# ---- the driver ---------------------------------------------------------------------------------------------


def _ensure_peer() -> None:
    try:
        if importlib.util.find_spec(PEER_MODULE) is not None:
            return
    except ModuleNotFoundError:  # a parent package (openinference) is missing
        pass
    if os.environ.get(_REEXEC) or shutil.which("uv") is None:
        sys.exit(f"could not install the peer {PEER_PACKAGE} (needs uv and the package registry)")
    print(f"installing the peer ({PEER_PACKAGE}) into an overlay environment: uv run --with ...", flush=True)
    command = ["uv", "run", "--all-packages", f"--with={PEER_PACKAGE}", "python", __file__, *sys.argv[1:]]
    os.execvpe("uv", command, {**os.environ, _REEXEC: "1"})


def run_setup(
    valgrind: str, name: str, base_url: str, turns: int, blocks: int, work: Path
) -> tuple[list[float], float]:
    """(instructions per turn of each block, spans per turn) of one set-up."""
    out = work / re.sub(r"\W+", "_", name) / "cg.out"
    out.parent.mkdir(parents=True)
    client = [sys.executable, os.path.abspath(__file__), "--client", name, "--base-url", base_url]
    stdout = run_client(valgrind, out, [*client, "--turns", str(turns), "--blocks", str(blocks)], name)
    spans = next((float(s.split()[1]) for s in stdout.splitlines() if s.startswith("SPANS ")), 0.0)
    parts = read_parts(out)[1 : 1 + blocks]  # part 1: from switching instrumentation on to the first mark
    if len(parts) != blocks:
        raise SystemExit(f"{name}: expected {blocks + 1} callgrind dumps, found {len(parts) + 1}")
    return [count / turns for count in parts], spans


def _versions() -> str:
    import importlib.metadata as md

    names = ("autogen-agentchat", "autogen-ext", "openai", "opentelemetry-sdk", PEER_PACKAGE)
    return ", ".join(f"{n} {md.version(n)}" for n in names)


def report(results: dict[str, tuple[list[float], float]], turns: int, blocks: int) -> None:
    def mean(values: list[float]) -> float:
        return sum(values) / len(values)

    bare = mean(results["bare"][0])
    added = {name: mean(values) - bare for name, (values, _) in results.items()}
    print(f"\ninstructions per turn (callgrind, client process, all threads), {blocks} x {turns} turns")
    columns = "".join(f" {'x ' + peer:>16}" for peer in PEERS)
    print(f"  {'set-up':<22} {'per turn':>12} {'spread':>9} {'added':>11} {'spans':>6}{columns}")
    for name, (values, spans) in results.items():
        spread = max(values) - min(values)
        shown = f"{added[name] / 1e6:+.3f} M" if name != "bare" else ""
        line = f"  {name:<22} {mean(values) / 1e6:>10.3f} M {spread / 1e6:>7.3f} M {shown:>11} {spans:>6.0f}"
        for peer in PEERS:
            line += f" {added[name] / added[peer]:>16.2f}" if name != "bare" and added[peer] > 0 else f" {'':>16}"
        print(line)
    # AutoGen's own spans cover the agent run only (no model call); OpenInference, like this plugin, also
    # traces the turn and the model call, so it is the peer of the same coverage.
    ours = max(added[n] for n in ("agentlightning", "agentlightning+openai"))
    for peer in PEERS:
        verdict = "lower" if ours < added[peer] else "NOT lower"
        print(f"  -> agentlightning adds {ours / 1e6:.3f} M per turn, {peer} {added[peer] / 1e6:.3f} M: {verdict}")
    noisy = max(max(v) - min(v) for v, _ in results.values())
    print(f"  (the largest spread between blocks is {noisy / 1e6:.3f} M per turn: differences below it are noise)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=20, help="agent turns per block")
    parser.add_argument("--blocks", type=int, default=2, help="counted blocks per set-up")
    parser.add_argument("--jobs", type=int, default=2, help="set-ups run at the same time")
    parser.add_argument("--client", help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        client_process(args.client, args.base_url, args.turns, args.blocks)
        return
    _ensure_peer()
    from agentlightning.testing import ScriptedOpenAIServer

    valgrind = ensure_valgrind()
    print(f"AssistantAgent.run, one model call per turn, scripted local server; {_versions()}")
    started = time.monotonic()
    # Longest first, so the last job to start is a short one.
    order = ["agentlightning+openai", "openinference", "agentlightning", "autogen otel", "bare"]
    with ScriptedOpenAIServer() as server, tempfile.TemporaryDirectory() as tmp:
        with ThreadPoolExecutor(max(1, args.jobs)) as pool:
            futures = {
                name: pool.submit(run_setup, valgrind, name, server.base_url, args.turns, args.blocks, Path(tmp))
                for name in order
            }
            results = {name: futures[name].result() for name in SETUPS}
    report(results, args.turns, args.blocks)
    print(f"\n({time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main()
