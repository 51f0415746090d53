"""Emitters: put rewards, messages, objects, exceptions and operations into the trace (``agentlightning.emitter``).

Every emitter records a span in the active trace context (a rollout run by a Trainer or runner, or
``with tracer.trace_context(...)``). Outside one, emitters raise ``RuntimeError`` unless given
``propagate=False``, in which case they return the span description without recording it.
"""

from __future__ import annotations

from ._common import check_number
from .annotation import operation
from .exception import emit_exception
from .message import emit_message
from .object import emit_object
from .reward import emit_reward, find_final_reward, find_reward_spans, get_reward_value, is_reward_span

__all__ = [
    "check_number",
    "emit_exception",
    "emit_message",
    "emit_object",
    "emit_reward",
    "find_final_reward",
    "find_reward_spans",
    "get_reward_value",
    "is_reward_span",
    "operation",
]
