"""What tracing adds to one ``ChatOpenAI.invoke``: the LangChain plugin alone and with the OpenAI plugin.

    uv run --all-packages python bench/langchain_overhead.py [--calls 300] [--rounds 5]

A real ``ChatOpenAI`` over a real ``openai`` client whose transport is an in-process ``httpx2.MockTransport``
serving the scripted server's bytes (no network noise). Set-ups, interleaved round by round: ``bare`` (no
instrumentation), ``langchain`` (this plugin's handler; spans to an SDK provider with a no-op exporter),
``langchain+openai`` (both plugins; still one span per call). Figures are microseconds per call: the median
over rounds of the round's median; "added" is paired per round against bare, "added CPU" the same with this
process's CPU time per call (less inflated by other load on the machine than wall time). Nothing is asserted.
A peer LangChain instrumentation (OpenInference's, OpenLLMetry's) is not installed here, so it is not measured.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("AGENTLIGHTNING_STRICT", "0")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx2
import openai
from langchain_openai import ChatOpenAI
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from overhead import mock_transport  # the same scripted bytes as bench/overhead.py

from agentlightning.instrumentation import instrument, uninstrument_all


class _Drop(SpanExporter):
    def export(self, spans: object) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def _model() -> ChatOpenAI:
    root = openai.OpenAI(
        base_url="http://bench.invalid/v1", api_key="k", http_client=httpx2.Client(transport=mock_transport())
    )
    return ChatOpenAI(model="gpt-bench", api_key="k", root_client=root, client=root.chat.completions)  # type: ignore[arg-type]


def _round(model: ChatOpenAI, calls: int) -> tuple[float, float]:
    """(median wall time per call, CPU time of this process per call), in microseconds."""
    samples = []
    cpu_start = time.process_time_ns()
    for _ in range(calls):
        start = time.perf_counter_ns()
        model.invoke("What is 2 + 2?")
        samples.append(time.perf_counter_ns() - start)
    return statistics.median(samples) / 1000, (time.process_time_ns() - cpu_start) / calls / 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(_Drop()))
    trace.set_tracer_provider(provider)
    model = _model()
    setups = {"bare": (), "langchain": ("langchain",), "langchain+openai": ("langchain", "openai")}
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in setups}
    _round(model, 50)  # warm-up
    for _ in range(args.rounds):
        for name, plugins in setups.items():
            for plugin in plugins:
                instrument(plugin)
            try:
                results[name].append(_round(model, args.calls))
            finally:
                uninstrument_all()
    bare = results["bare"]
    print(f"ChatOpenAI.invoke, {args.calls} calls x {args.rounds} rounds, in-process transport")
    for name, values in results.items():
        wall = statistics.median(v[0] for v in values)
        added = statistics.median(v[0] - b[0] for v, b in zip(values, bare, strict=True))
        added_cpu = statistics.median(v[1] - b[1] for v, b in zip(values, bare, strict=True))
        print(f"  {name:18s} median {wall:8.1f} us   added {added:7.1f} us   added CPU {added_cpu:7.1f} us")


if __name__ == "__main__":
    main()
