"""CPU instructions a traced OpenAI call adds, counted by callgrind: this project vs. the lightest peer.

    uv run python bench/instructions.py [--calls 30] [--blocks 2] [--jobs CORES] [--with-agl03] [--only NAME,...]
                                         [--agl-python OTHER_CHECKOUT/.venv/bin/python] [--threads]

Instruction counts do not care how loaded the machine is, so the figures are stable where wall-clock ones
are not. Each set-up runs in its own client process under ``valgrind --tool=callgrind`` (all its threads
counted: the tracer's store writer too), making real ``openai`` client calls to the scripted local server
(``agentlightning.testing``, in this process, not counted): first a warm-up of both kinds, then for each kind
(``chat``: ``create``; ``stream``: ``create(stream=True)`` fully consumed) ``--blocks`` blocks of
``--calls`` calls. The client marks the end of each block by calling ``os.getppid()``, on which callgrind
dumps its counters (``--dump-before=getppid``), so each block is counted alone: start-up and imports are
left out (they run with instrumentation off, ``--instr-atstart=no``, until the warm client says so and
``callgrind_control --instr=on`` switches it on), a block's own one-time costs (a rollout's trace context)
are included.

Set-ups:

- ``bare``: no instrumentation;
- ``sdk span``: each call inside one ``start_as_current_span`` of the OpenTelemetry SDK
  (``SimpleSpanProcessor`` into the SDK's ``InMemorySpanExporter``), the price of one default span;
- ``openai-v2``: ``opentelemetry-instrumentation-openai-v2`` (the lightest peer) on the same SDK set-up;
- ``agl memory`` / ``agl sqlite``: this project (``instrument_openai()``, ``OtelTracer``), each block one
  rollout in a trace context, spans written to an ``InMemoryLightningStore`` / a ``SqliteLightningStore``;
- ``agl 0.3.0`` (only with ``--with-agl03``): agent-lightning 0.3.0's ``AgentOpsTracer`` into its
  ``InMemoryLightningStore``, in a venv of its own made with ``uv venv`` (about 800 MB, once, under
  ``--agl03-venv``).

``--threads`` counts each thread apart (``--separate-threads=yes``): the table is then the calling thread's,
and a second table gives what the other threads (the tracer's store writer) did over the whole counted run,
per call; callgrind dumps only the calling thread at each mark, so the others are read from the final dump.

Printed: instructions per call (mean of the blocks, and the blocks' spread), instructions added over
``bare``, and each set-up's added instructions divided by the peer's. valgrind is installed with
``apt-get`` when missing. Benchmarks print numbers; nothing here is asserted.

Where the time goes (per set-up, CPU seconds under valgrind): ``import openai`` alone is ~3 s of CPU natively
and ~21 s under callgrind even with instrumentation off (valgrind still translates every block it runs);
the counted calls run at ~30 M instructions/s, and a call is ~7.7 M instructions (chat) / ~14.6 M (stream)
before any tracing, so 50 calls x 2 blocks x 2 kinds were ~80 s of each set-up's ~105 s. The defaults (30
calls, 3 warm-up calls of each kind, one job per core, the costliest set-ups first) count 60% of those
instructions and keep the blocks' spread under 0.06 M per call (it is printed; the first block of a kind
carries a little of what the shorter warm-up left). A block's own one-time costs (a rollout's trace
context) are spread over 30 calls, not 50, so the agl set-ups' added figures are ~0.03-0.05 M higher than
with ``--calls 50``. The scripted server, in the driver and not under valgrind, costs little.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from _callgrind import ensure_valgrind, read_parts, read_total, run_client

MESSAGES = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "What is 2 + 2?"}]
KINDS = ("chat", "stream")
CONFIGS = ("bare", "sdk span", "openai-v2", "agl memory", "agl sqlite")
AGL03 = "agl 0.3.0"
PEER = "openai-v2"
WARMUP = 3  # calls of each kind before counting; the blocks' spread shows any one-time cost left over


# ---- the client process (runs under callgrind) ------------------------------------------------------


def _mark() -> None:
    """End of a counted block: callgrind dumps (and resets) its counters on entering getppid."""
    os.getppid()


class _Setup:
    """One set-up in the client process: ``block()`` is the context of one block of calls."""

    def __init__(self, name: str, tmp: str) -> None:
        self.name = name
        self.tmp = tmp
        self.tracer: Any = None
        self.store: Any = None
        self.sdk_tracer: Any = None
        self.exporter: Any = None
        self.rollouts: list[tuple[str, str]] = []
        if name in ("sdk span", PEER):
            self._sdk()
        if name == PEER:
            from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor

            OpenAIInstrumentor().instrument()
        elif name in ("agl memory", "agl sqlite"):
            self._agl(sqlite=name == "agl sqlite")
        elif name == AGL03:
            self._agl03()

    def _sdk(self) -> None:
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        provider = TracerProvider()
        self.exporter = InMemorySpanExporter()
        provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        trace.set_tracer_provider(provider)
        self.sdk_tracer = provider.get_tracer("bench")

    def _agl(self, sqlite: bool) -> None:
        import asyncio

        try:
            from agentlightning_openai import instrument_openai
        except ImportError:  # a checkout from before plugins were folders (--agl-python)
            from agentlightning.instrumentation import instrument_openai  # type: ignore[attr-defined,no-redef]

        from agentlightning.store.memory import InMemoryLightningStore
        from agentlightning.store.sqlite import SqliteLightningStore
        from agentlightning.tracer.otel import OtelTracer

        path = os.path.join(self.tmp, "bench.sqlite")
        self.store = SqliteLightningStore(path) if sqlite else InMemoryLightningStore()
        self.tracer = OtelTracer()
        self.tracer.init()
        self.tracer.init_worker(0, self.store)
        instrument_openai()
        self.rollouts = [self._rollout(asyncio) for _ in range(64)]

    def _agl03(self) -> None:
        import asyncio

        import agentlightning as agl  # agent-lightning 0.3.0, in its own venv

        self.store = agl.InMemoryLightningStore()
        self.tracer = agl.AgentOpsTracer()
        self.tracer.init()
        self.tracer.init_worker(0)
        self.rollouts = [self._rollout(asyncio) for _ in range(64)]

    def _rollout(self, asyncio: Any) -> tuple[str, str]:
        rollout = asyncio.run(self.store.start_rollout(input={"bench": True}))
        return rollout.rollout_id, rollout.attempt.attempt_id

    def block(self) -> Any:
        from contextlib import nullcontext

        if self.name == AGL03:
            rollout_id, attempt_id = self.rollouts.pop()
            # 0.3.0's trace_context is async; the sync one under it is what its runner uses for sync agents.
            return self.tracer._trace_context_sync(
                "bench", store=self.store, rollout_id=rollout_id, attempt_id=attempt_id
            )
        if self.tracer is not None:
            rollout_id, attempt_id = self.rollouts.pop()
            return self.tracer.trace_context("bench", rollout_id=rollout_id, attempt_id=attempt_id)
        return nullcontext()

    def after_block(self) -> None:
        if self.exporter is not None:
            self.exporter.clear()


def _calls(setup: _Setup, client: Any, kind: str, n: int) -> None:
    create = client.chat.completions.create
    span = setup.sdk_tracer.start_as_current_span if setup.name == "sdk span" else None
    for _ in range(n):
        if span is not None:
            with span("call"):
                _one(create, kind)
        else:
            _one(create, kind)


def _one(create: Any, kind: str) -> None:
    if kind == "stream":
        for _chunk in create(model="bench-model", messages=MESSAGES, stream=True):
            pass
    else:
        create(model="bench-model", messages=MESSAGES)


def client_process(name: str, base_url: str, calls: int, blocks: int) -> None:
    os.environ.setdefault("AGENTLIGHTNING_STRICT", "0")
    import gc

    import openai

    with tempfile.TemporaryDirectory() as tmp:
        setup = _Setup(name, tmp)
        client = openai.OpenAI(base_url=base_url, api_key="bench", max_retries=0)
        for kind in KINDS:  # warm-up: connections, lazy imports, first-call caches
            with setup.block():
                _calls(setup, client, kind, WARMUP)
            setup.after_block()
        gc.collect()
        print("READY", flush=True)  # the driver switches callgrind's instrumentation on, then answers
        sys.stdin.readline()
        _mark()
        for kind in KINDS:
            for _ in range(blocks):
                with setup.block():
                    _calls(setup, client, kind, calls)
                setup.after_block()
                _mark()
        client.close()
        if setup.tracer is not None:
            setup.tracer.teardown_worker(0)
            setup.tracer.teardown()


# ---- the driver --------------------------------------------------------------------------------------


def ensure_agl03(venv: Path) -> Path:
    """A venv with agent-lightning 0.3.0 and this run's openai version; made once with uv."""
    import openai

    python = venv / "bin" / "python"
    if python.exists():
        return python
    uv = shutil.which("uv")
    if uv is None:
        raise SystemExit("--with-agl03 needs uv on PATH to make agent-lightning 0.3.0's venv")
    print(f"making agent-lightning 0.3.0's venv in {venv} (once; about 800 MB)", flush=True)
    subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(venv)], check=True)
    packages = ["agentlightning==0.3.0", f"openai=={openai.__version__}"]
    subprocess.run([uv, "pip", "install", "-q", "--python", str(python), *packages], check=True)
    return python


def run_config(
    valgrind: str,
    python: str,
    name: str,
    base_url: str,
    calls: int,
    blocks: int,
    work: Path,
    threads: bool = False,
) -> dict[str, list[float]]:
    """``{kind: [instructions per call of each block]}`` for one set-up (``--threads``: of the calling thread,
    plus ``{"other threads": [instructions of the other threads per counted call]}``)."""
    out = work / re.sub(r"\W+", "_", name) / "cg.out"
    out.parent.mkdir(parents=True)
    client = [python, os.path.abspath(__file__), "--client", name, "--base-url", base_url]
    client += ["--calls", str(calls), "--blocks", str(blocks)]
    # 0.3.0 imports LiteLLM, which otherwise fetches its model cost map (3 tries, no network)
    env = {"LITELLM_LOCAL_MODEL_COST_MAP": "True"} if name == AGL03 else None
    run_client(valgrind, out, client, name, separate_threads=threads, env=env)
    parts = read_parts(out)
    blocks_counted = parts[1 : 1 + len(KINDS) * blocks]  # part 1: from switching instrumentation on to the first mark
    if len(blocks_counted) != len(KINDS) * blocks:
        raise SystemExit(f"{name}: expected {len(KINDS) * blocks + 1} callgrind dumps, found {len(parts)}")
    result = {
        kind: [count / calls for count in blocks_counted[i * blocks : (i + 1) * blocks]] for i, kind in enumerate(KINDS)
    }
    if threads:  # the final dump of each thread but the first (the caller): out-02, out-03, ...
        others = sum(read_total(path) for path in out.parent.glob(out.name + "-*") if not path.name.endswith("-01"))
        result[OTHER_THREADS] = [others / (calls * blocks * len(KINDS))]
    return result


OTHER_THREADS = "other threads"


def report(results: dict[str, dict[str, list[float]]], calls: int, blocks: int) -> None:
    def mean(values: list[float]) -> float:
        return sum(values) / len(values)

    bare = {kind: mean(results["bare"][kind]) for kind in KINDS}
    peer = {kind: mean(results[PEER][kind]) - bare[kind] for kind in KINDS} if PEER in results else None
    threads = "calling thread only" if any(OTHER_THREADS in r for r in results.values()) else "all threads"
    print(f"\ninstructions per call (client process, {threads}), {blocks} x {calls} calls per kind")
    header = f"{'set-up':<12}"
    for kind in KINDS:
        header += f" {kind + ' /call':>14} {'spread':>8} {'added':>10} {'x peer':>7}"
    print(header)
    for name, by_kind in results.items():
        line = f"{name:<12}"
        for kind in KINDS:
            values = by_kind[kind]
            added = mean(values) - bare[kind]
            spread = max(values) - min(values)
            ratio = f"{added / peer[kind]:.2f}" if peer and name != "bare" and peer[kind] > 0 else ""
            shown = f"{added / 1e6:+.3f} M" if name != "bare" else ""
            line += f" {mean(values) / 1e6:>12.3f} M {spread / 1e6:>6.3f} M {shown:>10} {ratio:>7}"
        print(line)
    if peer:
        print("\nx peer: added instructions / openai-v2's added (targets: agl memory <= 0.5, agl sqlite <= 0.75)")
    if any(OTHER_THREADS in by_kind for by_kind in results.values()):
        print("\nother threads (the store writer), whole counted run, per call (chat and stream together):")
        for name, by_kind in results.items():
            print(f"{name:<12} {by_kind[OTHER_THREADS][0] / 1e6:>8.3f} M")
    if AGL03 in results:
        old = {kind: mean(results[AGL03][kind]) - bare[kind] for kind in KINDS}
        for name in (n for n in results if n.startswith("agl ") and n != AGL03):
            ours = {kind: mean(results[name][kind]) - bare[kind] for kind in KINDS}
            times = ", ".join(
                f"{kind} {old[kind] / ours[kind]:.1f}x" if ours[kind] > 0 else f"{kind} -" for kind in KINDS
            )
            print(f"{name} vs agent-lightning 0.3.0 (its added / ours; target >= 25x cheaper): {times}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=30, help="calls per block")
    parser.add_argument("--blocks", type=int, default=2, help="blocks per kind")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2, help="set-ups run at the same time")
    parser.add_argument("--only", help="comma-separated set-ups to run (bare is always run)")
    parser.add_argument("--with-agl03", action="store_true", help="also agent-lightning 0.3.0 (own venv)")
    parser.add_argument("--agl03-venv", default=os.path.expanduser("~/.cache/agentlightning-bench/agl03"))
    parser.add_argument(
        "--agl-python", help="interpreter for the agl set-ups (another checkout's .venv/bin/python, to compare)"
    )
    parser.add_argument("--threads", action="store_true", help="count the calling thread and the others apart")
    parser.add_argument("--client", help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        client_process(args.client, args.base_url, args.calls, args.blocks)
        return

    import openai

    from agentlightning.testing import Reply, ScriptedOpenAIServer

    valgrind = ensure_valgrind()
    names = list(CONFIGS)
    if args.only:
        wanted = {n.strip() for n in args.only.split(",")}
        unknown = wanted - set(CONFIGS) - {AGL03}
        if unknown:
            raise SystemExit(f"unknown set-up(s) {sorted(unknown)}; known: {', '.join((*CONFIGS, AGL03))}")
        names = ["bare", *[n for n in CONFIGS if n in wanted and n != "bare"]]
    pythons = dict.fromkeys(names, sys.executable)
    if args.agl_python:
        pythons.update({name: args.agl_python for name in names if name.startswith("agl ")})
    if args.with_agl03:
        names.append(AGL03)
        pythons[AGL03] = str(ensure_agl03(Path(args.agl03_venv)))
    version = subprocess.check_output([valgrind, "--version"], text=True).strip()
    print(f"openai {openai.__version__}, python {sys.version.split()[0]}, {version}")
    started = time.monotonic()
    reply = Reply(content="Two plus two is four, of course.")
    with ScriptedOpenAIServer(reply) as server, tempfile.TemporaryDirectory() as tmp:
        with ThreadPoolExecutor(max(1, args.jobs)) as pool:
            futures = {
                name: pool.submit(
                    run_config,
                    valgrind,
                    pythons[name],
                    name,
                    server.base_url,
                    args.calls,
                    args.blocks,
                    Path(tmp),
                    args.threads,
                )
                for name in reversed(names)  # the costliest set-ups first: the last job to start is a short one
            }
            results = {name: futures[name].result() for name in names}
    report(results, args.calls, args.blocks)
    cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall, cpu_s = time.monotonic() - started, cpu.ru_utime + cpu.ru_stime
    print(f"\n({wall:.0f} s wall, {cpu_s:.0f} s CPU in the valgrind processes)")


if __name__ == "__main__":
    main()
