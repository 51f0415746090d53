"""Where a traced OpenAI call's instructions go: each piece of the path counted alone by callgrind.

    uv run python bench/breakdown.py [--iterations 200]

``bench/instructions.py`` says how much a traced call adds; this says where. One client process runs under
``valgrind --tool=callgrind --separate-threads=yes`` and, for each piece below, warms it up and then runs it
``--iterations`` times between two marks (``os.getppid()``, on which callgrind dumps the calling thread's
counters), so every piece is counted alone, on the calling thread only (the tracer's store writer, another
thread, is left out: the writer-side pieces are called here directly, on the calling thread). The empty
loop's cost is taken off every piece.

The pieces (content capture off, as in ``bench/instructions.py``; openai's client over an in-process
``httpx2.MockTransport`` serving the scripted server's bytes, so no socket is involved):

- ``bare chat`` / ``bare stream``: ``create`` (and iterating the stream), before instrumenting;
- ``traced chat`` / ``traced stream``: the same after ``instrument_openai()``, inside a trace context bound
  to an ``InMemoryLightningStore``; "added" is traced minus bare;
- ``request attributes`` / ``response attributes``: the OpenAI plugin's extraction alone
  (``chat_request_attributes`` on the call's keyword arguments, ``chat_response_attributes`` on the reply);
- ``lean span``: start, set the response attributes, end, of the span our plugins make
  (``agentlightning.tracer.lean.lean_start``), through the tracer's span processor to the writer's queue;
- ``SDK span``: the same through the SDK's own ``Tracer.start_span`` (what a lean span saves);
- ``stream handler``: the plugin's ``ChatStreamHandler`` fed the stream's chunks, then asked for the attributes;
- ``stream proxy``: the core's ``SyncStreamProxy`` over the same chunks with a handler that does nothing;
- writer side, per one-span batch: ``span_json`` (a finished span to its stored JSON), and the store's
  synchronous sink for the memory and the SQLite store (conversion, numbering, heartbeat, commit).

Printed: instructions per iteration of each piece, and for the traced calls what the pieces account for and
the rest (the wrapper's dispatch, guards, context attach/detach, the invocation's bookkeeping). Nothing is
asserted; valgrind is installed with ``apt-get`` when missing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from _callgrind import ensure_valgrind, read_parts, run_client

MESSAGES = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "What is 2 + 2?"}]
KWARGS: dict[str, Any] = {"model": "bench-model", "messages": MESSAGES}
WARMUP = 20
PIECES = (
    "empty loop",
    "bare chat",
    "bare stream",
    "traced chat",
    "traced stream",
    "request attributes",
    "response attributes",
    "lean span",
    "SDK span",
    "stream handler",
    "stream proxy",
    "span_json",
    "memory sink",
    "SQLite sink",
)


def _mark() -> None:
    os.getppid()  # callgrind dumps the calling thread's counters here (--dump-before=getppid)


def client_process(iterations: int) -> None:
    os.environ.setdefault("AGENTLIGHTNING_STRICT", "0")
    import httpx2
    import openai
    from agentlightning_openai import instrument_openai
    from agentlightning_openai._chat import ChatStreamHandler, chat_request_attributes, chat_response_attributes
    from openai.types.chat import ChatCompletion, ChatCompletionChunk
    from opentelemetry import trace
    from opentelemetry.trace import SpanKind
    from overhead import REPLY, mock_transport

    from agentlightning.instrumentation import SyncStreamProxy
    from agentlightning.store.memory import InMemoryLightningStore
    from agentlightning.store.sqlite import SqliteLightningStore
    from agentlightning.testing._replies import chat_chunks, chat_completion
    from agentlightning.tracer.lean import lean_start
    from agentlightning.tracer.otel import OtelTracer
    from agentlightning.types.tracer import span_json

    tmp = tempfile.mkdtemp()
    memory = InMemoryLightningStore()
    sqlite = SqliteLightningStore(os.path.join(tmp, "bench.sqlite"))
    tracer = OtelTracer()
    tracer.init()
    tracer.init_worker(0, memory)
    client = openai.OpenAI(
        base_url="http://127.0.0.1:9/v1",
        api_key="bench",
        max_retries=0,
        http_client=httpx2.Client(transport=mock_transport()),
    )
    completions = client.chat.completions
    completion = ChatCompletion.model_validate(chat_completion(REPLY, KWARGS, 1))
    chunks = [
        ChatCompletionChunk.model_validate({k: v for k, v in c.items() if k != "_content"})
        for c in chat_chunks(REPLY, KWARGS, 1, False)
    ]
    sdk_tracer = trace.get_tracer("bench.breakdown")

    def chat() -> None:
        client.chat.completions.create(**KWARGS)

    def stream() -> None:
        for _ in client.chat.completions.create(**KWARGS, stream=True):
            pass

    def request() -> None:
        chat_request_attributes(completions, (), KWARGS, False)

    response_attributes = chat_response_attributes(completion, False)

    def response() -> None:
        chat_response_attributes(completion, False)

    name, request_attributes = chat_request_attributes(completions, (), KWARGS, False)
    ended: list[Any] = []

    def lean() -> None:
        span = lean_start(sdk_tracer, name, None, SpanKind.CLIENT, request_attributes)
        assert span is not None, "no lean span: this SDK or set-up is not the one lean spans are made for"
        span.set_attributes(response_attributes)
        span.end()
        ended[:] = [span]

    def sdk() -> None:
        span = sdk_tracer.start_span(name, kind=SpanKind.CLIENT, attributes=request_attributes)
        span.set_attributes(response_attributes)
        span.end()

    class _Quiet(ChatStreamHandler):
        def on_finish(self, error: BaseException | None) -> None:
            self.attributes()

    invocation: Any = SimpleNamespace(capture=False)

    def handler() -> None:
        h = _Quiet(invocation)
        for chunk in chunks:
            h.on_item(chunk)
        h.on_finish(None)

    nothing = SimpleNamespace(on_item=lambda item: None, on_finish=lambda error: None)

    def proxy() -> None:
        for _ in SyncStreamProxy(iter(chunks), nothing):
            pass

    def ids(store: Any) -> tuple[str, str]:
        rollout = asyncio.run(store.start_rollout(input={"bench": True}))
        return rollout.rollout_id, rollout.attempt.attempt_id

    memory_ids, sqlite_ids = ids(memory), ids(sqlite)
    memory_sink, sqlite_sink = memory.otel_span_sink(), sqlite.otel_span_sink()
    assert memory_sink is not None and sqlite_sink is not None

    def to_json() -> None:
        span_json(ended[0], *memory_ids)

    def memory_write() -> None:
        memory_sink([(*memory_ids, ended[0])])

    def sqlite_write() -> None:
        sqlite_sink([(*sqlite_ids, ended[0])])

    pieces: dict[str, Callable[[], None]] = {
        "empty loop": lambda: None,
        "bare chat": chat,
        "bare stream": stream,
    }
    traced: dict[str, Callable[[], None]] = {
        "traced chat": chat,
        "traced stream": stream,
        "request attributes": request,
        "response attributes": response,
        "lean span": lean,
        "SDK span": sdk,
        "stream handler": handler,
        "stream proxy": proxy,
        "span_json": to_json,
        "memory sink": memory_write,
        "SQLite sink": sqlite_write,
    }
    for piece in pieces.values():  # warm before the counting starts, so the first part is short
        piece()
    print("READY", flush=True)
    sys.stdin.readline()
    _mark()
    rollout_id, attempt_id = ids(memory)
    with tracer.trace_context("bench", rollout_id=rollout_id, attempt_id=attempt_id):
        for label in PIECES:
            if label == "traced chat":
                instrument_openai()
            piece = pieces.get(label) or traced[label]
            for _ in range(WARMUP):
                piece()
            _mark()  # the warm-up's part, not counted
            for _ in range(iterations):
                piece()
            _mark()
    tracer.teardown_worker(0)
    tracer.teardown()
    sqlite.close()
    shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=200, help="iterations of each piece")
    parser.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        client_process(args.iterations)
        return
    valgrind = ensure_valgrind()
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "cg.out"
        client = [sys.executable, os.path.abspath(__file__), "--client", "--iterations", str(args.iterations)]
        run_client(valgrind, out, client, "breakdown", separate_threads=True)
        parts = read_parts(out)  # the marks' dumps (cg.out.N-01): the calling thread's only
    counted = parts[2::2]  # part 1: up to the first mark; then (warm-up, counted) for each piece
    if len(counted) != len(PIECES):
        raise SystemExit(f"expected {2 * len(PIECES) + 1} callgrind dumps of the calling thread, found {len(parts)}")
    per = {label: count / args.iterations for label, count in zip(PIECES, counted, strict=True)}
    base = per.pop("empty loop")
    cost = {label: value - base for label, value in per.items()}
    print(f"instructions per iteration, calling thread, {args.iterations} iterations each (empty loop taken off)\n")
    for label, value in cost.items():
        print(f"{label:<22} {value / 1e6:8.3f} M")
    chat_added = cost["traced chat"] - cost["bare chat"]
    stream_added = cost["traced stream"] - cost["bare stream"]
    chat_parts = cost["request attributes"] + cost["response attributes"] + cost["lean span"]
    stream_parts = cost["request attributes"] + cost["lean span"] + cost["stream handler"] + cost["stream proxy"]
    print("\nwhere a traced call's added instructions go (calling thread; the writer's work is below):")
    print(f"chat   added {chat_added / 1e6:6.3f} M = attributes and lean span {chat_parts / 1e6:6.3f} M")
    print(f"       + the rest (wrapper, guards, context, invocation) {(chat_added - chat_parts) / 1e6:6.3f} M")
    print(
        f"stream added {stream_added / 1e6:6.3f} M = request attributes, lean span, handler, proxy "
        f"{stream_parts / 1e6:6.3f} M"
    )
    print(f"       + the rest {(stream_added - stream_parts) / 1e6:6.3f} M")
    print(f"lean span saves {(cost['SDK span'] - cost['lean span']) / 1e6:.3f} M over the SDK's start_span")
    print(
        f"writer, one-span batch: span_json {cost['span_json'] / 1e6:.3f} M of the memory sink's "
        f"{cost['memory sink'] / 1e6:.3f} M; SQLite sink {cost['SQLite sink'] / 1e6:.3f} M"
    )
    print(f"\n({time.monotonic() - started:.0f} s wall)")


if __name__ == "__main__":
    main()
