"""GenAI message shapes, typed: what every plugin writes and the training adapters read.

Messages are written as the OpenTelemetry GenAI semantic conventions describe them, as JSON arrays in
``gen_ai.input.messages`` / ``gen_ai.output.messages`` / ``gen_ai.system_instructions`` /
``gen_ai.tool.definitions``::

    from agentlightning.instrumentation import messages as m

    attributes[GEN_AI_INPUT_MESSAGES] = m.dumps([
        m.input_message("user", [m.text_part("2+2?")]),
        m.input_message("assistant", [m.tool_call_part("call_1", "add", '{"a": 2}')]),
        m.input_message("tool", [m.tool_call_response_part("call_1", "4")]),
    ])
    attributes[GEN_AI_OUTPUT_MESSAGES] = m.dumps([m.output_message([m.text_part("4")], "stop")])
    attributes[GEN_AI_SYSTEM_INSTRUCTIONS] = m.dumps(m.system_instructions("Be terse."))
    attributes[GEN_AI_TOOL_DEFINITIONS] = m.dumps(m.tool_definitions(tools, capture))

Tool-call ``arguments`` stay the raw string the model produced (what training needs), not parsed JSON.
``TracerTraceToTriplet`` and ``TraceToMessages`` read exactly these shapes (a round-trip test keeps them
honest). Reading helpers for framework objects (:func:`as_dict`, :func:`field`, :func:`items`) never consume a
user's generator and never warn.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, TypeAlias, TypedDict

from agentlightning._json import dumps

__all__ = [
    "GenericPart",
    "InputMessage",
    "MessagePart",
    "OutputMessage",
    "TextPart",
    "ToolCallPart",
    "ToolCallResponsePart",
    "ToolDefinition",
    "as_dict",
    "dumps",
    "field",
    "input_message",
    "int_list",
    "is_number",
    "items",
    "output_message",
    "system_instructions",
    "text_part",
    "tool_call_part",
    "tool_call_response_part",
    "tool_definitions",
]


class TextPart(TypedDict):
    type: Literal["text"]
    content: str


class ToolCallPart(TypedDict):
    type: Literal["tool_call"]
    id: str | None
    name: str | None
    arguments: Any


class ToolCallResponsePart(TypedDict):
    type: Literal["tool_call_response"]
    id: str | None
    response: Any


class GenericPart(TypedDict):
    """A part whose content is not recorded (an image, audio, a reasoning item): only its type."""

    type: str


MessagePart: TypeAlias = TextPart | ToolCallPart | ToolCallResponsePart | GenericPart


class InputMessage(TypedDict):
    role: str
    parts: list[MessagePart]


class OutputMessage(TypedDict):
    role: str
    parts: list[MessagePart]
    finish_reason: str


class ToolDefinition(TypedDict, total=False):
    type: str
    name: str
    description: str
    parameters: Any


def text_part(content: str) -> TextPart:
    return {"type": "text", "content": content}


def tool_call_part(call_id: str | None, name: str | None, arguments: Any) -> ToolCallPart:
    return {"type": "tool_call", "id": call_id, "name": name, "arguments": arguments}


def tool_call_response_part(call_id: str | None, response: Any) -> ToolCallResponsePart:
    return {"type": "tool_call_response", "id": call_id, "response": response}


def input_message(role: str, parts: list[MessagePart]) -> InputMessage:
    return {"role": role, "parts": parts}


def output_message(parts: list[MessagePart], finish_reason: str | None, role: str = "assistant") -> OutputMessage:
    return {"role": role or "assistant", "parts": parts, "finish_reason": finish_reason or ""}


def system_instructions(text: str) -> list[MessagePart]:
    return [text_part(text)]


# ---- reading framework objects ------------------------------------------------------------------

_EMPTY: tuple[Any, ...] = ()


def items(value: Any) -> Sequence[Any]:
    """``value`` when it is a list, tuple or other non-string sequence, else ``()``.

    Only sequences are read: iterating the user's generator or iterator would consume it, and the framework
    would then send what is left of it (nothing). A request is never changed.
    """
    if isinstance(value, (list, tuple)):
        return value
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes, bytearray)):
        return value
    return _EMPTY


def as_dict(value: Any) -> Mapping[str, Any]:
    """A mapping, or a pydantic model dumped without ``None`` fields and without serializer warnings."""
    if isinstance(value, Mapping):
        return value
    dump = getattr(value, "model_dump", None)
    if dump is not None:
        try:
            result: Mapping[str, Any] = dump(exclude_none=True, warnings=False)
        except TypeError:  # not pydantic's model_dump
            result = dump()
        return result
    return {}


def field(obj: Any, name: str) -> Any:
    """``obj.name`` or ``None``, cheaply for fields a server may add (vLLM's token ids).

    On a pydantic model a missing attribute costs an exception inside ``__getattr__`` (~2.5 µs, per stream
    chunk); declared fields live in ``__dict__`` and undeclared ones the server sent in ``__pydantic_extra__``.
    """
    values = getattr(obj, "__dict__", None)
    if values is not None and name in values:
        return values[name]
    extra = getattr(obj, "__pydantic_extra__", None)
    if extra is not None:  # a pydantic model that keeps extra fields: it has no other place for them
        return extra.get(name)
    if isinstance(obj, Mapping):  # an ABC check: ~20x the cost of the lines above, so last
        return obj.get(name)
    return None


def int_list(value: Any) -> list[int] | None:
    """``value`` as a list of ints (token ids), or ``None`` when it is not one."""
    if isinstance(value, (list, tuple)) and value and all(type(v) is int for v in value):
        return list(value)
    return None


def is_number(value: Any) -> bool:
    """An int or float that is not a bool (``True`` is an int to Python, not a temperature)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


_SECRET_KEYS = frozenset({"headers", "authorization"})


def _without_secrets(definition: Mapping[str, Any]) -> dict[str, Any]:
    """A copy without the keys that carry credentials (MCP tools' ``headers`` and ``authorization``)."""
    out: dict[str, Any] = {}
    for key, value in definition.items():
        if isinstance(key, str) and key.lower() in _SECRET_KEYS:
            continue
        if isinstance(value, Mapping) and key in ("function", "mcp", "custom", definition.get("type")):
            value = {k: v for k, v in value.items() if not (isinstance(k, str) and k.lower() in _SECRET_KEYS)}
        out[key] = value
    return out


def tool_definitions(tools: Any, capture: bool, flatten: bool = False) -> list[dict[str, Any]]:
    """The tools offered to the model as GenAI tool definitions.

    Without content capture only ``{"type", "name"}`` of each tool (descriptions and schemas can hold
    anything); with it, the whole definition minus credentials (``headers``, ``authorization``). ``flatten``
    lifts ``{"type": "function", "function": {...}}`` (Chat Completions) to ``{"type": "function", ...}``.
    """
    out: list[dict[str, Any]] = []
    for raw in items(tools):
        tool = as_dict(raw)
        kind = tool.get("type", "function")
        nested = tool.get(kind) if isinstance(kind, str) else None
        if not isinstance(nested, Mapping):
            nested = tool.get("function")
        if not capture:
            name = tool.get("name")
            if name is None and isinstance(nested, Mapping):
                name = nested.get("name")
            definition: dict[str, Any] = {"type": kind}
            if name is not None:
                definition["name"] = name
            out.append(definition)
        elif flatten and isinstance(nested, Mapping):
            out.append(_without_secrets({"type": kind, **nested}))
        else:
            out.append(_without_secrets(tool))
    return out
