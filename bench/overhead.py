"""What tracing adds to an OpenAI call: agentlightning vs. opentelemetry-instrumentation-openai-v2.

    uv run python bench/overhead.py [--calls 300] [--rounds 5]

Real ``openai`` client, chat completions, non-streaming and streaming (fully consumed), in four set-ups,
interleaved round by round so that drift hits them all alike:

- ``bare``: no instrumentation;
- ``agentlightning``: ``instrument_openai()``, calls inside ``OtelTracer.trace_context`` of a rollout, every
  span written to a ``SqliteLightningStore`` by the tracer's background writer;
- ``agentlightning, no store``: the same wrappers, the SDK provider only (no trace context);
- ``otel openai-v2``: ``opentelemetry-instrumentation-openai-v2`` (if installed) on the same SDK provider,
  inside the same trace context writing to the same store.

Two transports: the scripted local server (``agentlightning.testing``) in a separate process over HTTP on
127.0.0.1, as the issue asks, and an in-process ``httpx2.MockTransport`` serving the same bytes, which
removes network and server noise, so the added cost per call is read more precisely there. Figures are
microseconds per call (median, p90). "added" is paired per round (round median minus bare's round median,
then the median over rounds); "added CPU" does the same with this process's CPU time per call (all its
threads, so the store writer counts), which other load on the machine does not inflate.
Benchmarks print numbers; nothing here is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext
from typing import Any

os.environ.setdefault("AGENTLIGHTNING_STRICT", "0")

import httpx2
import openai

from agentlightning.instrumentation import instrument_openai, uninstrument_openai
from agentlightning.testing._replies import chat_chunks, chat_completion
from agentlightning.testing.server import Reply

MESSAGES = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "What is 2 + 2?"}]
REPLY = Reply(content="Two plus two is four, of course.")
SERVER = (
    "import sys, time\n"
    "from agentlightning.testing import ScriptedOpenAIServer\n"
    "s = ScriptedOpenAIServer().start()\n"
    "print(s.base_url, flush=True)\n"
    "sys.stdin.read()\n"
)


def mock_transport() -> httpx2.MockTransport:
    def handle(request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.content)
        if body.get("stream"):
            chunks = chat_chunks(REPLY, body, 1, bool((body.get("stream_options") or {}).get("include_usage")))
            data = b"".join(
                b"data: " + json.dumps({k: v for k, v in c.items() if k != "_content"}).encode() + b"\n\n"
                for c in chunks
            )
            return httpx2.Response(
                200, content=data + b"data: [DONE]\n\n", headers={"content-type": "text/event-stream"}
            )
        return httpx2.Response(200, json=chat_completion(REPLY, body, 1))

    return httpx2.MockTransport(handle)


@contextmanager
def local_server() -> Iterator[str]:
    process = subprocess.Popen([sys.executable, "-c", SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        yield process.stdout.readline().strip()
    finally:
        assert process.stdin is not None
        process.stdin.close()
        process.wait(timeout=10)


class Setups:
    """Enter/leave each set-up; the tracer, store and rollout are made once."""

    def __init__(self, store_dir: str) -> None:
        from agentlightning.store.sqlite import SqliteLightningStore
        from agentlightning.tracer.otel import OtelTracer

        self.tracer = OtelTracer()
        self.store = SqliteLightningStore(os.path.join(store_dir, "bench.sqlite"))
        self.tracer.init()
        self.tracer.init_worker(0, self.store)
        rollout = asyncio.run(self.store.start_rollout(input={"bench": True}))
        self.rollout_id, self.attempt_id = rollout.rollout_id, rollout.attempt.attempt_id
        try:
            from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor

            self.peer: Any = OpenAIInstrumentor()
        except ImportError:
            self.peer = None

    def names(self) -> list[str]:
        names = ["bare", "agentlightning", "agentlightning, no store"]
        return [*names, "otel openai-v2"] if self.peer is not None else names

    def _context(self) -> AbstractContextManager[Any]:
        return self.tracer.trace_context("bench", rollout_id=self.rollout_id, attempt_id=self.attempt_id)

    @contextmanager
    def enter(self, name: str) -> Iterator[None]:
        with ExitStack() as stack:
            if name.startswith("agentlightning"):
                instrument_openai()
                stack.callback(uninstrument_openai)
            elif name == "otel openai-v2":
                self.peer.instrument()
                stack.callback(self.peer.uninstrument)
            stack.enter_context(self._context() if name in ("agentlightning", "otel openai-v2") else nullcontext())
            yield

    def close(self) -> None:
        self.tracer.teardown_worker(0)
        self.tracer.teardown()


def run_calls(client: openai.OpenAI, stream: bool, n: int) -> list[float]:
    """Wall-clock µs of each call; the last element is the batch's process CPU µs per call (all threads)."""
    times: list[float] = []
    create = client.chat.completions.create
    cpu_start = time.process_time_ns()
    for _ in range(n):
        start = time.perf_counter_ns()
        if stream:
            for _chunk in create(model="bench-model", messages=MESSAGES, stream=True):
                pass
        else:
            create(model="bench-model", messages=MESSAGES)
        times.append((time.perf_counter_ns() - start) / 1000)
    times.append((time.process_time_ns() - cpu_start) / 1000 / n)
    return times


def measure(
    setups: Setups, make_client: Callable[[], openai.OpenAI], calls: int, rounds: int
) -> dict[Any, list[list[float]]]:
    """``{(stream, set-up): [per-round call times]}``."""
    results: dict[Any, list[list[float]]] = {}
    with make_client() as client:
        for stream in (False, True):  # warm-up: connections, lazy imports, first-call costs
            for name in setups.names():
                with setups.enter(name):
                    run_calls(client, stream, 20)
        for _ in range(rounds):
            for stream in (False, True):
                for name in setups.names():
                    gc.collect()
                    with setups.enter(name):
                        results.setdefault((stream, name), []).append(run_calls(client, stream, calls))
    return results


def p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10)[-1]


def report(title: str, setups: Setups, results: dict[Any, list[list[float]]]) -> None:
    """Median and p90 over all calls; "added": the median over rounds of (round median - bare round median),
    a paired estimate that load drifting between rounds does not bias."""
    print(f"\n{title}")
    print(f"{'call':<8} {'set-up':<26} {'median µs':>10} {'p90 µs':>9} {'added µs':>9} {'added CPU µs':>13}")
    for stream in (False, True):
        bare = results[(stream, "bare")]
        bare_wall = [statistics.median(r[:-1]) for r in bare]
        bare_cpu = [r[-1] for r in bare]
        for name in setups.names():
            rounds = results[(stream, name)]
            values = [t for r in rounds for t in r[:-1]]
            median = statistics.median(values)
            wall = [statistics.median(r[:-1]) - b for r, b in zip(rounds, bare_wall, strict=True)]
            cpu = [r[-1] - b for r, b in zip(rounds, bare_cpu, strict=True)]
            added = "" if name == "bare" else f"{statistics.median(wall):+.1f}"
            added_cpu = "" if name == "bare" else f"{statistics.median(cpu):+.1f}"
            kind = "stream" if stream else "chat"
            print(f"{kind:<8} {name:<26} {median:>10.1f} {p90(values):>9.1f} {added:>9} {added_cpu:>13}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100, help="calls per set-up per round")
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    print(f"openai {openai.__version__}, python {sys.version.split()[0]}, {args.calls} calls x {args.rounds} rounds")
    with tempfile.TemporaryDirectory() as tmp:
        setups = Setups(tmp)
        try:
            if setups.peer is None:
                print("opentelemetry-instrumentation-openai-v2 is not installed: no peer row")

            def mock_client() -> openai.OpenAI:
                http_client = httpx2.Client(transport=mock_transport())
                return openai.OpenAI(base_url="http://bench.invalid/v1", api_key="k", http_client=http_client)

            report("in-process transport (no network)", setups, measure(setups, mock_client, args.calls, args.rounds))
            with local_server() as base_url:

                def http_client() -> openai.OpenAI:
                    return openai.OpenAI(base_url=base_url, api_key="k", max_retries=0)

                calls = max(args.calls // 2, 10)
                report("scripted local server over HTTP", setups, measure(setups, http_client, calls, args.rounds))
            spans = asyncio.run(setups.store.query_spans(setups.rollout_id))
            print(f"\nspans written to SQLite for the benchmark rollout: {len(spans)}")
        finally:
            setups.close()


if __name__ == "__main__":
    main()
