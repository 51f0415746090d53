"""Small helpers shared by the OpenAI attribute extractors: JSON, messages in the GenAI parts format.

Messages are written as the OpenTelemetry GenAI semantic conventions describe them (a JSON array)::

    gen_ai.input.messages  = [{"role": "user", "parts": [{"type": "text", "content": "2+2?"}]},
                              {"role": "assistant", "parts": [{"type": "tool_call", "id": "call_1",
                                                               "name": "add", "arguments": "{\\"a\\": 2}"}]},
                              {"role": "tool", "parts": [{"type": "tool_call_response", "id": "call_1",
                                                          "response": "4"}]}]
    gen_ai.output.messages = [{"role": "assistant", "parts": [...], "finish_reason": "stop"}]
    gen_ai.tool.definitions = [{"type": "function", "name": "add", "description": ..., "parameters": {...}}]
                              # without content capture: [{"type": "function", "name": "add"}]

Tool-call ``arguments`` stay the raw string the model produced (what training needs), not parsed JSON.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from agentlightning.semconv import (
    GEN_AI_OPERATION_NAME,
    GEN_AI_PROVIDER_NAME,
    GEN_AI_REQUEST_MODEL,
    OP_CHAT,
    PROVIDER_OPENAI,
)

__all__ = [
    "as_dict",
    "chat_input_messages",
    "chat_output_message",
    "dumps",
    "field",
    "int_list",
    "items",
    "text_parts",
    "tool_definitions",
]

_EMPTY: tuple[Any, ...] = ()


def items(value: Any) -> Sequence[Any]:
    """``value`` when it is a list, tuple or other non-string sequence, else ``()``.

    Only sequences are read: iterating the user's generator or iterator would consume it, and openai would
    then send what is left of it (nothing). A request is never changed.
    """
    if isinstance(value, (list, tuple)):
        return value
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes, bytearray)):
        return value
    return _EMPTY


def _default(value: Any) -> Any:
    dump = getattr(value, "model_dump", None)
    if dump is not None:
        return dump(exclude_none=True)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return repr(value)


def dumps(value: Any) -> str:
    return json.dumps(value, default=_default, ensure_ascii=False, separators=(",", ":"))


def as_dict(value: Any) -> Mapping[str, Any]:
    if isinstance(value, Mapping):
        return value
    dump = getattr(value, "model_dump", None)
    if dump is not None:
        result: Mapping[str, Any] = dump(exclude_none=True)
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
    if extra:
        return extra.get(name)
    if isinstance(obj, Mapping):
        return obj.get(name)
    return None


def int_list(value: Any) -> list[int] | None:
    """``value`` as a list of ints (token ids), or ``None`` when it is not one."""
    if isinstance(value, (list, tuple)) and value and all(type(v) is int for v in value):
        return list(value)
    return None


def text_parts(content: Any) -> list[dict[str, Any]]:
    """OpenAI message content (a string or a list of content parts) as GenAI parts."""
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "content": content}]
    parts: list[dict[str, Any]] = []
    for raw in items(content):
        part = as_dict(raw)
        kind = part.get("type")
        if kind in ("text", "input_text", "output_text"):
            parts.append({"type": "text", "content": part.get("text", "")})
        elif kind == "refusal":
            parts.append({"type": "text", "content": part.get("refusal", "")})
        elif kind is not None:
            parts.append({"type": str(kind)})
    return parts


def tool_call_part(call: Any) -> dict[str, Any]:
    data = as_dict(call)
    function = as_dict(data.get("function") or {})
    return {
        "type": "tool_call",
        "id": data.get("id"),
        "name": function.get("name"),
        "arguments": function.get("arguments"),
    }


def chat_input_messages(messages: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for raw in items(messages):
        message = as_dict(raw)
        role = message.get("role", "user")
        if role == "tool":
            parts: list[dict[str, Any]] = [
                {"type": "tool_call_response", "id": message.get("tool_call_id"), "response": message.get("content")}
            ]
        else:
            parts = text_parts(message.get("content"))
            for call in items(message.get("tool_calls")):
                parts.append(tool_call_part(call))
        out.append({"role": role, "parts": parts})
    return out


def chat_output_message(message: Any, finish_reason: str | None) -> dict[str, Any]:
    data = as_dict(message)
    parts = text_parts(data.get("content"))
    if data.get("refusal"):
        parts.append({"type": "text", "content": data["refusal"]})
    for call in items(data.get("tool_calls")):
        parts.append(tool_call_part(call))
    return {"role": data.get("role") or "assistant", "parts": parts, "finish_reason": finish_reason or ""}


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
    lifts Chat Completions' ``{"type": "function", "function": {...}}`` to ``{"type": "function", ...}``.
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


def is_number(value: Any) -> bool:
    """An int or float that is not a bool (``True`` is an int to Python, not a temperature)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def chat_span_head(kwargs: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """Span name (``chat {model}``) and the attributes every chat-like request (completions, Responses) starts with."""
    model = kwargs.get("model")
    attributes: dict[str, Any] = {GEN_AI_OPERATION_NAME: OP_CHAT, GEN_AI_PROVIDER_NAME: PROVIDER_OPENAI}
    if not isinstance(model, str):
        return OP_CHAT, attributes
    attributes[GEN_AI_REQUEST_MODEL] = model
    return f"{OP_CHAT} {model}", attributes
