"""Back-pressure: a store that stalls or raises never blocks or breaks the program's calls (issue 15).

The writer's queue is bounded. While the store stalls, a span that finds the queue full is dropped after
at most ``max_wait`` and counted; the first drop logs one warning; the count is visible through the tracer
(``dropped_spans``, ``stats()``). A store that raises loses its spans with an error in the log, never an
exception in the program. Nothing here measures time: "does not block" means the calls return while the
store is still stalled.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence
from typing import Any

import pytest
from opentelemetry import trace as trace_api

import agentlightning as agl
from agentlightning.store.base import OtelSpanItem
from agentlightning.tracer.otel import OtelTracer

user_tracer = trace_api.get_tracer("user.code")


class StallingStore(agl.InMemoryLightningStore):
    """Takes spans only once ``release`` is set; until then every write hangs."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.stalled = threading.Event()

    async def add_otel_spans(self, items: Sequence[OtelSpanItem]) -> list[agl.Span]:
        self.stalled.set()
        self.release.wait(30)
        return await super().add_otel_spans(items)


class RaisingStore(agl.InMemoryLightningStore):
    async def add_otel_spans(self, items: Sequence[OtelSpanItem]) -> list[agl.Span]:
        raise RuntimeError("disk on fire")


async def _rollout(store: agl.LightningStore) -> tuple[str, str]:
    attempted = await store.start_rollout({"q": 1})
    return attempted.rollout_id, attempted.attempt.attempt_id


def _calls(n: int) -> list[str]:
    """The program's own work: traced calls that must all return."""
    done = []
    for i in range(n):
        with user_tracer.start_as_current_span(f"call{i}") as span:
            span.set_attribute("i", i)
        done.append(f"call{i}")
    return done


def _writer_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "agentlightning.tracer._writer"]


async def test_a_stalled_store_drops_and_counts_spans_instead_of_blocking_calls(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = StallingStore()
    tracer = OtelTracer(max_queue=16, max_batch=4, linger=0.0, flush_timeout=0.2)
    tracer.init()
    rid, aid = await _rollout(store)
    caplog.set_level(logging.WARNING)
    try:
        with tracer.trace_context(store=store, rollout_id=rid, attempt_id=aid):
            with user_tracer.start_as_current_span("first"):
                pass
            assert await asyncio.to_thread(store.stalled.wait, 10)  # the writer is stuck in the store
            done = _calls(300)  # would hang here if a full queue blocked the caller
            assert done == [f"call{i}" for i in range(300)]
            assert not store.release.is_set()  # every call returned while the store was still stalled
        # leaving the context gave up waiting after flush_timeout instead of hanging
        dropped = tracer.dropped_spans
        assert dropped > 0
        assert tracer.stats()["dropped"] == dropped
        assert tracer.stats()["queued"] > 0
        drop_warnings = [m for m in _writer_warnings(caplog) if "dropped" in m]
        assert len(drop_warnings) == 1, drop_warnings  # reported once, not once per span
        assert "OtelTracer.dropped_spans" in drop_warnings[0]
        assert any(f"dropped {dropped} spans of rollout {rid!r}" in r.getMessage() for r in caplog.records)
    finally:
        store.release.set()
        tracer.teardown()
    spans = await store.query_spans(rid)
    # what was queued is stored once the store recovers; stored + dropped is every span
    assert len(spans) + tracer.dropped_spans == 300 + 2  # and "first", and the context's root span
    names = [s.name for s in spans]
    assert len(set(names)) == len(names)  # nothing stored twice


async def test_a_store_that_raises_never_reaches_the_program(caplog: pytest.LogCaptureFixture) -> None:
    store = RaisingStore()
    tracer = OtelTracer(max_queue=64, max_batch=8, linger=0.0)
    tracer.init()
    rid, aid = await _rollout(store)
    caplog.set_level(logging.WARNING)
    try:
        async with tracer.trace_context(store=store, rollout_id=rid, attempt_id=aid):
            assert _calls(20) == [f"call{i}" for i in range(20)]
        stats = tracer.stats()
        assert stats["failed"] + stats["dropped"] == 20 + 1
        assert any("disk on fire" in r.getMessage() and r.levelno == logging.ERROR for r in caplog.records)
    finally:
        tracer.teardown()
    assert await store.query_spans(rid) == []


def test_a_full_queue_without_a_stall_still_loses_nothing_when_the_caller_may_wait() -> None:
    store = StallingStore()
    store.release.set()  # a slow but working store
    tracer = OtelTracer(max_queue=4, max_batch=2, linger=0.0, max_wait=None)
    tracer.init()

    async def run() -> tuple[str, str]:
        return await _rollout(store)

    rid, aid = asyncio.run(run())
    with tracer.trace_context(store=store, rollout_id=rid, attempt_id=aid):
        _calls(100)
    tracer.teardown()
    spans: list[Any] = asyncio.run(store.query_spans(rid))
    assert len(spans) == 101 and tracer.dropped_spans == 0
