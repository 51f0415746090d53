"""Readers of OpenAI's shapes: message content, tool calls, the client a resource belongs to.

The GenAI message shapes and the JSON encoder are the core's (``agentlightning.instrumentation.messages``);
this module only knows how OpenAI's objects map onto them.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Mapping
from typing import Any

from agentlightning.instrumentation.messages import (
    InputMessage,
    MessagePart,
    OutputMessage,
    as_dict,
    input_message,
    items,
    output_message,
    text_part,
    tool_call_part,
    tool_call_response_part,
)
from agentlightning.semconv import (
    GEN_AI_OPERATION_NAME,
    GEN_AI_PROVIDER_NAME,
    GEN_AI_REQUEST_MODEL,
    OP_CHAT,
    SERVER_ADDRESS,
    SERVER_PORT,
)

from ._providers import PROVIDER_AZURE, PROVIDER_OPENAI

__all__ = [
    "PROVIDER_AZURE",
    "PROVIDER_OPENAI",
    "chat_input_messages",
    "chat_output_message",
    "client_attributes",
    "span_head",
    "text_parts",
]


_CLIENTS: dict[int, tuple[weakref.ref[Any], dict[str, Any]]] = {}
"""id(client) -> (weak reference to it, provider and server attributes). Reading ``client.base_url`` costs ~1 µs on
openai 3.x, so it is read once per client (a client's base URL is set when it is made; ``with_options`` makes a
new client). Keyed by id, checked by identity: a ``WeakKeyDictionary`` would make a weak reference per lookup.
An entry leaves with its client."""


def _forget(key: int, ref: weakref.ref[Any]) -> None:
    entry = _CLIENTS.get(key)
    if entry is not None and entry[0] is ref:
        del _CLIENTS[key]


def client_attributes(resource: Any) -> dict[str, Any]:
    """Provider, ``server.address`` and ``server.port`` of the client that owns ``resource`` (``Completions``, ...).

    A resource keeps its client as ``_client`` (every openai version checked, 1.40-3.57; openai-v2 reads it
    too). Azure clients are ``AzureOpenAI`` / ``AsyncAzureOpenAI`` subclasses of the OpenAI ones.
    """
    client = getattr(resource, "_client", None)
    if client is None:
        return {GEN_AI_PROVIDER_NAME: PROVIDER_OPENAI}
    known = _CLIENTS.get(id(client))
    if known is not None and known[0]() is client:
        return known[1]
    url = getattr(client, "base_url", None)
    azure = any(klass.__name__.startswith(("Azure", "AsyncAzure")) for klass in type(client).__mro__)
    attributes: dict[str, Any] = {GEN_AI_PROVIDER_NAME: PROVIDER_AZURE if azure else PROVIDER_OPENAI}
    host = getattr(url, "host", None)
    if isinstance(host, str) and host:
        attributes[SERVER_ADDRESS] = host
        port = getattr(url, "port", None)
        if not isinstance(port, int):
            port = 443 if getattr(url, "scheme", None) == "https" else 80
        attributes[SERVER_PORT] = port
    key = id(client)
    with contextlib.suppress(TypeError):  # not weak-referenceable: read again next time
        _CLIENTS[key] = (weakref.ref(client, lambda ref: _forget(key, ref)), attributes)
    return attributes


def span_head(resource: Any, kwargs: Mapping[str, Any], operation: str = OP_CHAT) -> tuple[str, dict[str, Any]]:
    """Span name (``{operation} {model}``) and the attributes every request starts with."""
    model = kwargs.get("model")
    attributes: dict[str, Any] = {GEN_AI_OPERATION_NAME: operation, **client_attributes(resource)}
    if not isinstance(model, str):
        return operation, attributes
    attributes[GEN_AI_REQUEST_MODEL] = model
    return f"{operation} {model}", attributes


def text_parts(content: Any) -> list[MessagePart]:
    """OpenAI message content (a string or a list of content parts) as GenAI parts."""
    if content is None:
        return []
    if isinstance(content, str):
        return [text_part(content)]
    parts: list[MessagePart] = []
    for raw in items(content):
        part = as_dict(raw)
        kind = part.get("type")
        if kind in ("text", "input_text", "output_text"):
            parts.append(text_part(part.get("text", "")))
        elif kind == "refusal":
            parts.append(text_part(part.get("refusal", "")))
        elif kind is not None:
            parts.append({"type": str(kind)})
    return parts


def _tool_call(call: Any) -> MessagePart:
    data = as_dict(call)
    function = as_dict(data.get("function") or {})
    return tool_call_part(data.get("id"), function.get("name"), function.get("arguments"))


def chat_input_messages(messages: Any) -> list[InputMessage]:
    out: list[InputMessage] = []
    for raw in items(messages):
        message = as_dict(raw)
        role = message.get("role", "user")
        if role == "tool":
            parts: list[MessagePart] = [tool_call_response_part(message.get("tool_call_id"), message.get("content"))]
        else:
            parts = text_parts(message.get("content"))
            for call in items(message.get("tool_calls")):
                parts.append(_tool_call(call))
        out.append(input_message(role, parts))
    return out


def chat_output_message(message: Any, finish_reason: str | None) -> OutputMessage:
    data = as_dict(message)
    parts = text_parts(data.get("content"))
    if data.get("refusal"):
        parts.append(text_part(data["refusal"]))
    for call in items(data.get("tool_calls")):
        parts.append(_tool_call(call))
    return output_message(parts, finish_reason, data.get("role") or "assistant")
