"""Small builders shared by the store tests (also used by the child processes of ``test_sqlite``)."""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, Tracer

from agentlightning.store import LightningStore
from agentlightning.types import Span


def make_span(rollout_id: str, attempt_id: str, sequence_id: int, name: str = "span", **attributes: Any) -> Span:
    """A stored-span model with the given ids."""
    return Span(
        rollout_id=rollout_id,
        attempt_id=attempt_id,
        sequence_id=sequence_id,
        trace_id=format(sequence_id + 1, "032x"),
        span_id=format(sequence_id + 1, "016x"),
        name=name,
        attributes=attributes,
    )


def finished_span(tracer: Tracer, name: str, **attributes: Any) -> ReadableSpan:
    """A finished OpenTelemetry SDK span, as a span processor's ``on_end`` would receive it."""
    span = tracer.start_span(name, attributes=attributes)
    span.end()
    assert isinstance(span, ReadableSpan)
    return span


async def running_rollout(store: LightningStore, **kwargs: Any) -> tuple[str, str]:
    """Start a rollout (rollout and attempt ``preparing``) and return ``(rollout_id, attempt_id)``."""
    attempted = await store.start_rollout({"task": "t"}, **kwargs)
    return attempted.rollout_id, attempted.attempt.attempt_id
