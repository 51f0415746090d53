"""Rewards: ``emit_reward(0.8)`` inside a rollout records how well the agent did.

The reward becomes a span named ``agentlightning.annotation`` with attributes
``agentlightning.reward.0.name = "primary"`` and ``agentlightning.reward.0.value = 0.8``. Several named
rewards go in one span: ``emit_reward({"accuracy": 1.0, "cost": 0.2}, primary_key="accuracy")`` writes
the primary one first (index 0), then the rest in the dict's order.
"""

from __future__ import annotations

from typing import Any

from agentlightning import semconv

from ._common import check_number, emit_span
from .reward_helpers import find_final_reward, find_reward_spans, get_reward_value, is_reward_span

__all__ = ["emit_reward", "find_final_reward", "find_reward_spans", "get_reward_value", "is_reward_span"]


def emit_reward(
    reward: float | dict[str, float],
    *,
    primary_key: str | None = None,
    attributes: dict[str, Any] | None = None,
    propagate: bool = True,
) -> Any:
    """Record a reward in the active trace context and return its span.

    Raises ``TypeError`` when a reward is not a number, ``ValueError`` for NaN/infinite rewards or a dict
    without a valid ``primary_key``, ``RuntimeError`` outside a trace context (unless ``propagate=False``).
    """
    if isinstance(reward, dict):
        if primary_key is None:
            raise ValueError(
                f"emit_reward got a dict of rewards {sorted(reward)} but no primary_key; "
                "pass primary_key= naming the reward to train on"
            )
        if primary_key not in reward:
            raise ValueError(f"primary_key {primary_key!r} is not one of the rewards {sorted(reward)}")
        ordered = [(primary_key, reward[primary_key])] + [(k, v) for k, v in reward.items() if k != primary_key]
    else:
        if primary_key is not None:
            raise ValueError("primary_key is only for a dict of rewards; a single reward is always the primary one")
        ordered = [(semconv.REWARD_PRIMARY_NAME, reward)]
    attrs: dict[str, Any] = dict(attributes or {})
    for index, (name, value) in enumerate(ordered):
        if not isinstance(name, str):
            raise TypeError(f"reward names must be strings, got {type(name).__name__}: {name!r}")
        attrs[semconv.reward_name_key(index)] = name
        attrs[semconv.reward_value_key(index)] = check_number(value, f"reward {name!r}")
    return emit_span("emit_reward", semconv.AGL_ANNOTATION, attrs, propagate=propagate)
