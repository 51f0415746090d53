"""LLM calls an agent makes on threads it starts land in its rollout, under the right parents (issue 7 item 2).

The real ``openai`` client talks to the scripted local server; the calls run on a ``ThreadPoolExecutor``, through
``loop.run_in_executor`` and on a ``threading.Thread``, inside a trace context.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import openai
import pytest
from opentelemetry import trace as trace_api

import agentlightning as agl
from agentlightning import semconv as sc
from agentlightning.instrumentation import instrument_openai, uninstrument_all
from agentlightning.testing import Reply, ScriptedOpenAIServer
from agentlightning.tracer import install_context_propagation, uninstall_context_propagation
from agentlightning.tracer._state import current_trace_state
from agentlightning.tracer.otel import OtelTracer

user_tracer = trace_api.get_tracer("user.code")
N_CALLS = 3


@pytest.fixture(scope="module")
def server() -> Iterator[ScriptedOpenAIServer]:
    with ScriptedOpenAIServer(default=Reply(content="ok")) as scripted:
        yield scripted


@pytest.fixture
def client(server: ScriptedOpenAIServer) -> Iterator[openai.OpenAI]:
    instrument_openai()
    try:
        with openai.OpenAI(base_url=server.base_url, api_key="test-key", max_retries=0) as sync_client:
            yield sync_client
    finally:
        uninstrument_all()


def _ask(client: openai.OpenAI, i: int) -> str:
    reply = client.chat.completions.create(model="m", messages=[{"role": "user", "content": f"question {i}"}])
    return reply.choices[0].message.content or ""


async def _check_rollout(store: agl.LightningStore, rollout_id: str, parent_name: str) -> None:
    spans = await store.query_spans(rollout_id)
    by_id = {s.span_id: s for s in spans}
    llm = [s for s in spans if s.attributes.get(sc.GEN_AI_OPERATION_NAME) == "chat"]
    assert len(llm) == N_CALLS, [s.name for s in spans]
    for span in llm:
        assert span.parent_id is not None and by_id[span.parent_id].name == parent_name
    root = next(s for s in spans if s.name == sc.AGL_ROLLOUT)
    assert {s.trace_id for s in spans} == {root.trace_id}  # one trace: the threads' calls nest under the root


async def _start(store: agl.LightningStore) -> tuple[str, str]:
    rollout = await store.start_rollout(input=1)
    return rollout.rollout_id, rollout.attempt.attempt_id


async def test_thread_pool_submit_carries_the_rollout(
    store: agl.LightningStore, tracer: OtelTracer, client: openai.OpenAI
) -> None:
    rid, aid = await _start(store)
    with ThreadPoolExecutor(max_workers=2) as pool:
        with tracer.trace_context("pool", rollout_id=rid, attempt_id=aid):
            with user_tracer.start_as_current_span("fan-out"):
                futures = [pool.submit(_ask, client, i) for i in range(N_CALLS)]
                assert [f.result() for f in futures] == ["ok"] * N_CALLS
        # the pool's worker threads did not keep the rollout: later work outside any context is not in it
        assert pool.submit(current_trace_state).result() is None
    await _check_rollout(store, rid, "fan-out")


async def test_run_in_executor_carries_the_rollout(
    store: agl.LightningStore, tracer: OtelTracer, client: openai.OpenAI
) -> None:
    rid, aid = await _start(store)
    loop = asyncio.get_running_loop()
    async with tracer.trace_context("executor", rollout_id=rid, attempt_id=aid):
        with user_tracer.start_as_current_span("gather"):
            answers = await asyncio.gather(*(loop.run_in_executor(None, _ask, client, i) for i in range(N_CALLS)))
    assert answers == ["ok"] * N_CALLS
    await _check_rollout(store, rid, "gather")


class _Worker(threading.Thread):
    """A subclass with its own ``run``: covered too."""

    def __init__(self, client: openai.OpenAI, i: int) -> None:
        super().__init__()
        self.client, self.i, self.answer = client, i, ""

    def run(self) -> None:
        self.answer = _ask(self.client, self.i)


async def test_threading_thread_carries_the_rollout(
    store: agl.LightningStore, tracer: OtelTracer, client: openai.OpenAI
) -> None:
    rid, aid = await _start(store)
    answers: list[str] = []
    with tracer.trace_context("threads", rollout_id=rid, attempt_id=aid):
        with user_tracer.start_as_current_span("spawn"):
            threads: list[threading.Thread] = [
                threading.Thread(target=lambda i=i: answers.append(_ask(client, i))) for i in range(N_CALLS - 1)
            ]
            threads.append(_Worker(client, N_CALLS - 1))
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
    assert answers == ["ok"] * (N_CALLS - 1)
    assert "run" not in threads[0].__dict__  # the finished thread object holds no copy of the context
    await _check_rollout(store, rid, "spawn")


async def test_executors_and_threads_made_before_installation_and_removal(
    store: agl.LightningStore, tracer: OtelTracer
) -> None:
    uninstall_context_propagation()
    try:
        pool = ThreadPoolExecutor(max_workers=1)
        seen: list[Any] = []
        early = threading.Thread(target=lambda: seen.append(current_trace_state()))
        rid, aid = await _start(store)
        with tracer.trace_context("off", rollout_id=rid, attempt_id=aid):
            assert pool.submit(current_trace_state).result() is None  # removed: nothing follows the work
        install_context_propagation()
        with tracer.trace_context("on", rollout_id=rid, attempt_id=aid) as _:
            state = current_trace_state()
            assert pool.submit(current_trace_state).result() is state  # a pool made before installation
            early.start()  # a thread made before installation
            early.join()
        assert seen == [state]
        pool.shutdown()
    finally:
        install_context_propagation()


def test_nothing_is_copied_outside_a_trace_context() -> None:
    marker: Any = trace_api.get_tracer("user.code").start_span("outside")
    try:
        with trace_api.use_span(marker):
            seen: list[Any] = []
            thread = threading.Thread(target=lambda: seen.append(trace_api.get_current_span()))
            thread.start()
            thread.join()
        assert seen == [trace_api.INVALID_SPAN]  # the standard behaviour, untouched, when no rollout is active
    finally:
        marker.end()


def test_import_installs_nothing_and_the_first_tracer_installs_it() -> None:
    import subprocess
    import sys

    code = (
        "import concurrent.futures as f, threading\n"
        "import agentlightning as agl\n"
        "from agentlightning.tracer import _threads\n"
        "print(f.ThreadPoolExecutor.submit is _threads._submit, threading.Thread.start is _threads._start)\n"
        "agl.OtelTracer().init()\n"
        "print(f.ThreadPoolExecutor.submit is _threads._submit, threading.Thread.start is _threads._start)\n"
        "agl.tracer.uninstall_context_propagation()\n"
        "print(f.ThreadPoolExecutor.submit is _threads._submit, threading.Thread.start is _threads._start)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:3] == ["False False", "True True", "False False"]
