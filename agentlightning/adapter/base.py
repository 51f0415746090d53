"""Adapters turn one representation into another; trace adapters turn a rollout's spans into training data.

Write your own by subclassing and overriding :meth:`Adapter.adapt`; an adapter is also callable::

    from agentlightning.adapter import TraceAdapter

    class CountLLMCalls(TraceAdapter[int]):
        def adapt(self, source):
            return sum(span.name.startswith("chat ") for span in source)

    CountLLMCalls()(spans)     # same as .adapt(spans)

:class:`TraceAdapter` takes a list of :class:`agentlightning.types.Span` (what the store returns);
:class:`OtelTraceAdapter` takes OpenTelemetry ``ReadableSpan`` objects (what an in-memory exporter
holds). The built-in trace adapters accept both.

This module also holds the span-reading helpers the built-in adapters share: which spans are LLM
calls, agent names, JSON-valued attributes, token ids. They are private; their rules are documented on
:class:`agentlightning.adapter.TracerTraceToTriplet`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from agentlightning.semconv import (
    AGL_PROMPT_TOKEN_IDS,
    AGL_RESPONSE_TOKEN_IDS,
    GEN_AI_AGENT_NAME,
    GEN_AI_OPERATION_NAME,
    GEN_AI_RESPONSE_ID,
    LLM_OPERATIONS,
    OP_INVOKE_AGENT,
)
from agentlightning.types import Span

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan

__all__ = ["Adapter", "OtelTraceAdapter", "TraceAdapter"]

T_from = TypeVar("T_from")
T_to = TypeVar("T_to")


class Adapter(Generic[T_from, T_to]):
    """Converts data of type ``T_from`` into ``T_to``. Subclasses override :meth:`adapt`.

    As in agent-lightning 0.3, the base :meth:`adapt` raises ``NotImplementedError`` (the class is not an
    ``abc.ABC``), so subclasses that only override ``__call__`` keep working.
    """

    def __call__(self, source: T_from, /) -> T_to:
        """Same as :meth:`adapt`."""
        return self.adapt(source)

    def adapt(self, source: T_from, /) -> T_to:
        """Convert ``source``. Subclasses must override this."""
        raise NotImplementedError(f"{type(self).__name__}.adapt() is not implemented")


class TraceAdapter(Adapter[Sequence[Span], T_to], Generic[T_to]):
    """An adapter from a rollout's spans (a list of :class:`agentlightning.types.Span`) to ``T_to``."""


class OtelTraceAdapter(Adapter[Sequence["ReadableSpan"], T_to], Generic[T_to]):
    """An adapter from OpenTelemetry ``ReadableSpan`` objects to ``T_to``."""


# ---- shared span-reading helpers (private) -------------------------------------------------------

#: Default ``llm_call_match``: our GenAI span names (``chat gpt-4o-mini``, ``text_completion m``,
#: ``generate_content m``) and the names agent-lightning 0.3 matched (AgentOps ``openai.chat.completion``,
#: ``chat_model.llm``). Spans whose ``gen_ai.operation.name`` is an LLM operation count whatever the pattern.
DEFAULT_LLM_CALL_MATCH = r"^(?:chat|text_completion|generate_content)(?: |$)|openai\.chat\.completion|chat_model\.llm"

# Attributes other tracers use for an agent's name (agent-lightning 0.3's list).
_AGENT_NAME_KEYS = ("agent.name", "recipient_agent_type", "langchain.chain.type", "executor.id")


def _to_spans(source: Iterable[Any]) -> list[Span]:
    """``source`` as :class:`Span` objects; OpenTelemetry ``ReadableSpan`` objects are converted."""
    spans: list[Span] = []
    for index, item in enumerate(source):
        if isinstance(item, Span):
            spans.append(item)
        else:
            spans.append(Span.from_opentelemetry(item, rollout_id="", attempt_id="", sequence_id=index))
    return spans


def _time_key(span: Span, position: int) -> tuple[float, int, int]:
    """Sort key: start time (spans without one last), then ``sequence_id``, then position."""
    start = span.start_time if span.start_time is not None else math.inf
    return start, span.sequence_id, position


def _json_attr(attributes: Mapping[str, Any], key: str) -> Any:
    """An attribute that may hold JSON text: parsed when it is a string, as is otherwise, ``None`` if bad JSON."""
    return _parse_json(attributes.get(key))


def _parse_json(value: Any) -> Any:
    """``value`` parsed when it is JSON text, as is when it is not a string, ``None`` when it is bad JSON."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value


def _token_ids(attributes: Mapping[str, Any], keys: Sequence[str]) -> list[int]:
    """The first list of ints found under ``keys`` (a list, a tuple or JSON text); ``[]`` when none."""
    for key in keys:
        value = _json_attr(attributes, key)
        if isinstance(value, (list, tuple)) and all(isinstance(x, int) and not isinstance(x, bool) for x in value):
            return list(value)
    return []


_PROMPT_TOKEN_ID_KEYS = (AGL_PROMPT_TOKEN_IDS, "prompt_token_ids")
_RESPONSE_TOKEN_ID_KEYS = (AGL_RESPONSE_TOKEN_IDS, "response_token_ids")


def _response_id(attributes: Mapping[str, Any]) -> str | None:
    value = attributes.get(GEN_AI_RESPONSE_ID)
    return value if isinstance(value, str) and value else None


def _is_llm_call(span: Span, pattern: re.Pattern[str]) -> bool:
    """An LLM call: the name matches ``pattern``, or ``gen_ai.operation.name`` is chat / text_completion / ..."""
    return span.attributes.get(GEN_AI_OPERATION_NAME) in LLM_OPERATIONS or pattern.search(span.name) is not None


def _agent_name(span: Span) -> str | None:
    """The agent a span stands for, or ``None`` when it is not an agent span.

    ``gen_ai.agent.name`` on an ``invoke_agent`` span (or the name after ``invoke_agent ``), then the
    attributes other tracers use: ``agent.name``, AgentOps ``agentops.span.kind == "agent"`` with
    ``operation.name``, ``recipient_agent_type`` (AutoGen), ``langchain.chain.type``, ``executor.id``.
    """
    attributes = span.attributes
    is_invoke = attributes.get(GEN_AI_OPERATION_NAME) == OP_INVOKE_AGENT or span.name.startswith(OP_INVOKE_AGENT + " ")
    if is_invoke:
        name = attributes.get(GEN_AI_AGENT_NAME)
        if isinstance(name, str) and name:
            return name
        return span.name[len(OP_INVOKE_AGENT) :].strip() or OP_INVOKE_AGENT
    if attributes.get("agentops.span.kind") == "agent":
        name = attributes.get("operation.name")
        if isinstance(name, str) and name:
            return name
    for key in _AGENT_NAME_KEYS:
        name = attributes.get(key)
        if isinstance(name, str) and name:
            return name
    return None


def _unflatten(attributes: Mapping[str, Any], prefix: str) -> Any:
    """Rebuild the structure flattened under ``prefix`` (``gen_ai.prompt.0.role`` ...), or ``None`` if absent.

    Dicts whose keys are all digits become lists in index order. This is how AgentOps and OpenLLMetry
    record messages; our own instrumentation writes ``gen_ai.input.messages`` as JSON instead.
    """
    head = prefix + "."
    root: dict[str, Any] = {}
    for key, value in attributes.items():
        if not key.startswith(head):
            continue
        node = root
        parts = key[len(head) :].split(".")
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[parts[-1]] = value
    return _listify(root) if root else None


def _listify(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    if node and all(key.isdigit() for key in node):
        return [_listify(node[key]) for key in sorted(node, key=int)]
    return {key: _listify(value) for key, value in node.items()}
