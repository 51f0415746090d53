"""Adapter bases and the public surface of agentlightning.adapter."""

from __future__ import annotations

import pytest

import agentlightning.adapter as adapter_pkg
from agentlightning.adapter import Adapter, TraceAdapter
from agentlightning.types import Span


def test_public_names() -> None:
    assert adapter_pkg.__all__ == [
        "DEFAULT_LLM_CALL_MATCH",
        "Adapter",
        "OpenAIMessages",
        "OtelTraceAdapter",
        "RewardMatchPolicy",
        "TraceAdapter",
        "TraceToMessages",
        "TraceToTripletBase",
        "TracerTraceToTriplet",
    ]
    for name in adapter_pkg.__all__:
        assert getattr(adapter_pkg, name) is not None


def test_calling_an_adapter_delegates_to_adapt() -> None:
    class Count(TraceAdapter[int]):
        def adapt(self, source: list[Span], /) -> int:
            return len(source)

    span = Span(rollout_id="r", attempt_id="a", sequence_id=0, trace_id="t", span_id="s", name="x")
    assert Count()([span, span]) == 2


def test_adapter_without_adapt_raises_not_implemented() -> None:
    class Nothing(Adapter[int, str]):
        pass

    with pytest.raises(NotImplementedError, match=r"Nothing\.adapt\(\)"):
        Nothing()(1)
