"""Spans to OpenAI fine-tuning records: :class:`TraceToMessages`.

Usage::

    import json
    from agentlightning.adapter import TraceToMessages

    records = TraceToMessages()(spans)
    with open("train.jsonl", "w") as f:
        for record in records:
            f.write(json.dumps(record) + "\\n")

Each LLM call becomes one record ``{"messages": [...], "tools": [...] | None}`` in the OpenAI chat
fine-tuning format: the call's input messages followed by the assistant message it produced (with its
``tool_calls``), and the tool definitions it was offered. Records come in the calls' start-time order.

Where the content comes from:

- ``gen_ai.input.messages`` / ``gen_ai.output.messages`` (JSON, written when content capture is on:
  ``AGENTLIGHTNING_CAPTURE_CONTENT=true``). Both the GenAI semantic-convention shape (``{"role", "parts":
  [{"type": "text" | "tool_call" | "tool_call_response" | "uri" | "blob", ...}]}``) and plain OpenAI
  messages are understood. ``gen_ai.system_instructions`` becomes a leading system message when the input
  has none. The first output message (choice 0) is the assistant reply.
- The flattened ``gen_ai.prompt.*`` / ``gen_ai.completion.*`` / ``gen_ai.request.functions.*`` attributes
  AgentOps and OpenLLMetry write, when the JSON attributes are absent.
- Tools: ``gen_ai.tool.definitions`` (JSON), OpenAI-shaped (``{"type": "function", "function": {...}}``)
  or flat (``{"name", "description", "parameters"}``); both are returned OpenAI-shaped.

LLM calls are found as in :class:`~agentlightning.adapter.TracerTraceToTriplet` (``llm_call_match`` or
an LLM ``gen_ai.operation.name``). **A call is skipped when its input messages or its reply were not
recorded** (content capture off, or the call failed): such a record could not train anything. Calls
sharing a ``gen_ai.response.id`` give one record (the first one with content). Reasoning parts and
other non-text content besides images are dropped, since the fine-tuning format has no place for them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, TypedDict

from agentlightning.semconv import (
    GEN_AI_INPUT_MESSAGES,
    GEN_AI_OUTPUT_MESSAGES,
    GEN_AI_SYSTEM_INSTRUCTIONS,
    GEN_AI_TOOL_DEFINITIONS,
)
from agentlightning.types import Span

from .base import (
    DEFAULT_LLM_CALL_MATCH,
    TraceAdapter,
    _is_llm_call,
    _json_attr,
    _parse_json,
    _response_id,
    _time_key,
    _to_spans,
    _unflatten,
)

__all__ = ["OpenAIMessages", "TraceToMessages"]


class OpenAIMessages(TypedDict):
    """One fine-tuning record: chat ``messages`` and the ``tools`` offered (``None`` when there were none)."""

    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] | None


class TraceToMessages(TraceAdapter[list[OpenAIMessages]]):
    """Turn a rollout's LLM call spans into OpenAI fine-tuning records (see the module docstring).

    Args:
        llm_call_match: regex searched in span names to find LLM calls (GenAI LLM spans always count).
    """

    def __init__(self, llm_call_match: str = DEFAULT_LLM_CALL_MATCH) -> None:
        self.llm_call_match = llm_call_match
        re.compile(llm_call_match)

    def adapt(self, source: Sequence[Any], /) -> list[OpenAIMessages]:
        """One record per LLM call with recorded content, in start-time order."""
        pattern = re.compile(self.llm_call_match)
        spans = _to_spans(source)
        calls = sorted(
            (i for i, span in enumerate(spans) if _is_llm_call(span, pattern)), key=lambda i: _time_key(spans[i], i)
        )
        records: list[OpenAIMessages] = []
        seen: set[str] = set()
        for i in calls:
            response_id = _response_id(spans[i].attributes)
            if response_id is not None and response_id in seen:
                continue
            record = _span_to_record(spans[i])
            if record is None:
                continue
            records.append(record)
            if response_id is not None:
                seen.add(response_id)
        return records


def _span_to_record(span: Span) -> OpenAIMessages | None:
    """The fine-tuning record of one LLM call span, or ``None`` when its input or reply was not recorded."""
    attributes = span.attributes
    raw_input = _json_attr(attributes, GEN_AI_INPUT_MESSAGES)
    if raw_input is None:
        raw_input = _unflatten(attributes, "gen_ai.prompt")
    raw_output = _json_attr(attributes, GEN_AI_OUTPUT_MESSAGES)
    if raw_output is None:
        raw_output = _unflatten(attributes, "gen_ai.completion")
    messages = [converted for message in _as_list(raw_input) for converted in _to_openai(message)]
    reply = _reply(raw_output)
    if not messages or reply is None:
        return None
    system = _text_of(_json_attr(attributes, GEN_AI_SYSTEM_INSTRUCTIONS))
    if system and messages[0].get("role") not in ("system", "developer"):
        messages.insert(0, {"role": "system", "content": system})
    messages.append(reply)
    return OpenAIMessages(messages=messages, tools=_tools(attributes))


def _as_list(value: Any) -> list[Any]:
    if isinstance(value, list):
        return value
    if isinstance(value, Mapping):
        return [value]
    return []


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _text_of(value: Any) -> str | None:
    """Text from a string or a list of parts (system instructions)."""
    if isinstance(value, str):
        return value or None
    texts = [str(p.get("content")) for p in _as_list(value) if isinstance(p, Mapping) and p.get("type") == "text"]
    return "\n".join(texts) or None


def _tool_call(call: Mapping[str, Any]) -> dict[str, Any]:
    """A tool call in OpenAI shape from an OpenAI-shaped, flattened (AgentOps) or GenAI ``tool_call`` part."""
    function = call.get("function")
    if isinstance(function, Mapping):
        name, arguments = function.get("name"), function.get("arguments")
    else:
        name, arguments = call.get("name"), call.get("arguments")
    return {
        "id": call.get("id"),
        "type": "function",
        "function": {"name": name, "arguments": _as_text(arguments if arguments is not None else {})},
    }


def _media_url(part: Mapping[str, Any]) -> str | None:
    if part.get("modality") not in (None, "image"):
        return None
    if part.get("type") == "uri" and isinstance(part.get("uri"), str):
        return str(part["uri"])
    if part.get("type") == "blob" and isinstance(part.get("content"), str):
        return f"data:{part.get('mime_type') or 'image/png'};base64,{part['content']}"
    return None


def _to_openai(message: Any) -> list[dict[str, Any]]:
    """One recorded message as OpenAI messages (a message holding several tool results gives several)."""
    if not isinstance(message, Mapping):
        return []
    if isinstance(message.get("message"), Mapping):  # an OpenAI choice
        message = message["message"]
    role = message.get("role")
    if role is None:
        role = "assistant" if "tool_calls" in message else "tool" if "tool_call_id" in message else None
    if role is None:
        return []
    parts = message.get("parts")
    if not isinstance(parts, list):
        out: dict[str, Any] = {"role": role, "content": message.get("content")}
        if role == "assistant" and message.get("tool_calls"):
            out["tool_calls"] = [_tool_call(c) for c in _as_list(message["tool_calls"]) if isinstance(c, Mapping)]
        for key in ("name", "tool_call_id"):
            if message.get(key) is not None:
                out[key] = message[key]
        return [out]
    texts: list[str] = []
    images: list[str] = []
    calls: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []
    for part in parts:
        if not isinstance(part, Mapping):
            continue
        kind = part.get("type")
        if kind == "text":
            texts.append(_as_text(part.get("content", "")))
        elif kind == "tool_call":
            calls.append(_tool_call(part))
        elif kind == "tool_call_response":
            result = part.get("response", part.get("result"))
            results.append({"role": "tool", "tool_call_id": part.get("id"), "content": _as_text(result)})
        elif (url := _media_url(part)) is not None:
            images.append(url)
    if results:
        return results
    content: Any = "\n".join(texts) if texts else None
    if images:
        content = [{"type": "text", "text": t} for t in texts] + [
            {"type": "image_url", "image_url": {"url": url}} for url in images
        ]
    out = {"role": role, "content": content}
    if calls:
        out["tool_calls"] = calls
    if message.get("name") is not None:
        out["name"] = message["name"]
    return [out]


def _reply(raw_output: Any) -> dict[str, Any] | None:
    """The assistant reply (choice 0) from recorded output messages or choices."""
    outputs = _as_list(raw_output)
    if not outputs:
        return None
    converted = _to_openai(outputs[0])
    if not converted:
        return None
    reply = converted[0]
    reply["role"] = "assistant"
    if reply.get("content") is None and not reply.get("tool_calls"):
        return None
    return reply


def _tools(attributes: Mapping[str, Any]) -> list[dict[str, Any]] | None:
    raw = _json_attr(attributes, GEN_AI_TOOL_DEFINITIONS)
    if raw is None:
        raw = _unflatten(attributes, "gen_ai.request.functions")
    tools: list[dict[str, Any]] = []
    for tool in _as_list(raw):
        if not isinstance(tool, Mapping):
            continue
        function = tool.get("function")
        spec = dict(function) if isinstance(function, Mapping) else {k: v for k, v in tool.items() if k != "type"}
        if not spec.get("name"):
            continue
        parameters = spec.get("parameters")
        if isinstance(parameters, str):
            parsed = _parse_json(parameters)
            spec["parameters"] = parsed if parsed is not None else parameters
        tools.append({"type": "function", "function": spec})
    return tools or None
