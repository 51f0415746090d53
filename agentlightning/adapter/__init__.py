"""Adapters: a rollout's spans in, training data out (``agentlightning.adapter``).

- :class:`TracerTraceToTriplet`: one ``Triplet(prompt, response, reward, metadata)`` per LLM call, with
  token ids for RL training and rewards matched to the calls that earned them.
- :class:`TraceToMessages`: OpenAI chat fine-tuning records ``{"messages": [...], "tools": [...]}``.
- :class:`Adapter`, :class:`TraceAdapter`, :class:`OtelTraceAdapter`: bases for your own adapters.

Example::

    from agentlightning.adapter import TracerTraceToTriplet

    triplets = TracerTraceToTriplet(agent_match="solver")(await store.query_spans(rollout_id))

The rules (which spans are LLM calls, hierarchy repair, reward matching) are in the docstrings of
:mod:`agentlightning.adapter.triplet` and :mod:`agentlightning.adapter.messages`.
"""

from __future__ import annotations

from .base import DEFAULT_LLM_CALL_MATCH, Adapter, OtelTraceAdapter, TraceAdapter
from .messages import OpenAIMessages, TraceToMessages
from .triplet import RewardMatchPolicy, TracerTraceToTriplet, TraceToTripletBase

__all__ = [
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
