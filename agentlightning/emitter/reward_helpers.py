"""Read rewards back out of spans: ``get_reward_value``, ``is_reward_span``, ``find_reward_spans``,
``find_final_reward``.

Usage::

    import agentlightning as agl

    spans = await store.query_spans(rollout_id)
    agl.find_final_reward(spans)           # 0.8: the value of the last reward the agent emitted
    [agl.get_reward_value(s) for s in agl.find_reward_spans(spans)]

Every helper accepts :class:`agentlightning.types.Span` and OpenTelemetry ``ReadableSpan`` alike: only
``.name`` and ``.attributes`` are read (and ``start_time`` / ``sequence_id`` for ordering), so any
object with those works. The helpers are pure functions; nothing here imports the OpenTelemetry SDK.

Three ways a span can carry a reward, read in this order:

1. ``emit_reward`` (this project and agent-lightning 0.3): a span named ``agentlightning.annotation``
   with ``agentlightning.reward.{i}.name`` / ``agentlightning.reward.{i}.value``. The reward returned is
   dimension 0, which ``emit_reward`` always makes the primary one: a single reward is named ``"primary"``;
   with a dict the ``primary_key`` dimension is written first under its own name, so
   ``emit_reward({"accuracy": 1.0, "primary": 0.2}, primary_key="accuracy")`` reads back as 1.0. Only
   when dimension 0 has no numeric value is a later dimension named ``"primary"`` used. The same keys are read on
   ``agentlightning.operation`` spans and on the legacy names ``reward`` / ``agentlightning.reward``.
2. AgentOps: any span whose ``agentops.task.output`` or ``agentops.entity.output`` attribute holds
   ``{"type": "reward", "value": x}``, as a dict or a JSON string.
3. Older agent-lightning: a span named ``reward`` or ``agentlightning.reward`` with a numeric
   ``reward`` (or ``value``) attribute.

A reward is a number: ints and floats (not bools), or a string holding one. ``{"type": "reward",
"value": null}`` and non-numeric values mean "no reward", so such spans are not reward spans.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from agentlightning.semconv import (
    AGENTOPS_OUTPUT_KEYS,
    AGL_ANNOTATION,
    AGL_OPERATION,
    LEGACY_REWARD_SPAN_NAMES,
    REWARD_PRIMARY_NAME,
    reward_name_key,
    reward_value_key,
)

__all__ = [
    "find_final_reward",
    "find_reward_spans",
    "get_reward_value",
    "is_reward_span",
]

SpanT = TypeVar("SpanT")

# Span names on which the ``agentlightning.reward.{i}.*`` keys are read.
_AGL_REWARD_SPAN_NAMES = frozenset({AGL_ANNOTATION, AGL_OPERATION, *LEGACY_REWARD_SPAN_NAMES})
# Attributes holding the reward on the older agent-lightning reward spans.
_LEGACY_REWARD_ATTRIBUTES = ("reward", "value")


def _as_number(value: Any) -> float | None:
    """``value`` as a float if it is a number (or a string holding one), else ``None``. Bools are not numbers."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def _attributes(span: Any) -> Mapping[str, Any]:
    attributes = getattr(span, "attributes", None)
    return attributes if isinstance(attributes, Mapping) else {}


def _agl_reward(attributes: Mapping[str, Any]) -> float | None:
    """The primary reward of an ``emit_reward`` annotation: dimension 0, else the one named "primary"."""
    first = _as_number(attributes.get(reward_value_key(0)))
    if first is not None:
        return first
    index = 1
    while reward_value_key(index) in attributes or reward_name_key(index) in attributes:
        if attributes.get(reward_name_key(index)) == REWARD_PRIMARY_NAME:
            return _as_number(attributes.get(reward_value_key(index)))
        index += 1
    return None


def _agentops_reward(attributes: Mapping[str, Any]) -> tuple[bool, float | None]:
    """``(found, value)`` for an AgentOps ``{"type": "reward", "value": x}`` payload."""
    for key in AGENTOPS_OUTPUT_KEYS:
        payload = attributes.get(key)
        if isinstance(payload, (str, bytes)):
            try:
                payload = json.loads(payload)
            except ValueError:
                continue
        if isinstance(payload, Mapping) and payload.get("type") == "reward":
            return True, _as_number(payload.get("value"))
    return False, None


def get_reward_value(span: Any) -> float | None:
    """The reward a span carries, or ``None`` when it carries none (see the module docstring for the forms read)."""
    name = getattr(span, "name", None)
    attributes = _attributes(span)
    if not attributes:
        return None
    if name in _AGL_REWARD_SPAN_NAMES:
        value = _agl_reward(attributes)
        if value is not None:
            return value
    found, value = _agentops_reward(attributes)
    if found:
        return value
    if name in LEGACY_REWARD_SPAN_NAMES:
        for key in _LEGACY_REWARD_ATTRIBUTES:
            value = _as_number(attributes.get(key))
            if value is not None:
                return value
    return None


def is_reward_span(span: Any) -> bool:
    """``True`` when :func:`get_reward_value` finds a reward on the span."""
    return get_reward_value(span) is not None


def find_reward_spans(spans: Iterable[SpanT]) -> list[SpanT]:
    """The reward spans among ``spans``, in the order given."""
    return [span for span in spans if get_reward_value(span) is not None]


def _order_key(position: int, span: Any) -> tuple[float, float, int]:
    start = getattr(span, "start_time", None)
    sequence = getattr(span, "sequence_id", None)
    start_key = float(start) if isinstance(start, (int, float)) and not isinstance(start, bool) else math.inf
    sequence_key = float(sequence) if isinstance(sequence, int) and not isinstance(sequence, bool) else math.inf
    return start_key, sequence_key, position


def find_final_reward(spans: Iterable[Any]) -> float | None:
    """The value of the last reward among ``spans``, or ``None`` when there is none.

    "Last" is by start time, then ``sequence_id``, then position in ``spans``, when every reward span has a
    start time; otherwise by position in ``spans`` (the order the store returns: by ``sequence_id``).
    """
    found = [
        (position, span, value) for position, span in enumerate(spans) if (value := get_reward_value(span)) is not None
    ]
    if not found:
        return None
    if all(getattr(span, "start_time", None) is not None for _, span, _ in found):
        found.sort(key=lambda item: _order_key(item[0], item[1]))
    return found[-1][2]
