"""Rewards under agent-lightning 0.3's module name (``agentlightning.reward``).

The reward helpers (``find_final_reward``, ``find_reward_spans``, ``get_reward_value``,
``is_reward_span``, ``emit_reward``) are the ones of :mod:`agentlightning.emitter`. The ``reward``
decorator is 0.3's way of grading: the decorated function's number becomes a reward span in the
running rollout, and is returned unchanged::

    from agentlightning.reward import reward

    @reward
    def grade(answer: str, expected: str) -> float:
        return float(answer == expected)

    grade(answer, task["expected"])   # inside a rollout: a reward span, and the float

Sync and async functions both work. ``None`` records nothing. Outside a trace context the value is
returned and a warning says that no reward was recorded (a grading function called in a unit test keeps
working).
"""

from __future__ import annotations

import functools
import inspect
import logging
import numbers
from collections.abc import Callable
from typing import Any, TypeVar

from agentlightning.emitter.reward import (
    emit_reward,
    find_final_reward,
    find_reward_spans,
    get_reward_value,
    is_reward_span,
)

__all__ = ["emit_reward", "find_final_reward", "find_reward_spans", "get_reward_value", "is_reward_span", "reward"]

logger = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])


def _record(function: Callable[..., Any], value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, numbers.Real):
        raise TypeError(
            f"@reward function {function.__qualname__} returned {type(value).__name__} {value!r}; "
            "it must return a number (the reward) or None"
        )
    from agentlightning.tracer.base import get_active_tracer

    if get_active_tracer() is None:
        logger.warning(
            "@reward function %s returned %r outside a rollout; no reward span was recorded",
            function.__qualname__,
            value,
        )
        return
    emit_reward(float(value))


def reward(function: F) -> F:
    """Turn ``function``'s numeric return value into a reward span of the running rollout."""
    if inspect.iscoroutinefunction(function):

        @functools.wraps(function)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            value = await function(*args, **kwargs)
            _record(function, value)
            return value

        return async_wrapper  # type: ignore[return-value]

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        value = function(*args, **kwargs)
        _record(function, value)
        return value

    return wrapper  # type: ignore[return-value]
