"""Attributes of the Responses API (``client.responses.create`` plain and ``stream=True``, ``.parse``).

A Responses call is a ``chat`` operation. ``instructions`` become ``gen_ai.system_instructions``; output
items of type ``message`` and ``function_call`` become the output message's text and tool-call parts. The
finish reason is derived from the response status: ``stop`` (or ``tool_calls`` when the model called a
function), the ``incomplete_details.reason`` of an incomplete response, ``error`` for a failed one. A
stream is read from its ``response.created`` / ``response.completed`` (``.incomplete``, ``.failed``)
events, which carry the whole response.
"""

from __future__ import annotations

from typing import Any

from opentelemetry.trace import Status, StatusCode

from agentlightning.instrumentation import Invocation
from agentlightning.instrumentation.messages import (
    InputMessage,
    MessagePart,
    as_dict,
    dumps,
    input_message,
    is_number,
    items,
    output_message,
    system_instructions,
    text_part,
    tool_call_part,
    tool_call_response_part,
    tool_definitions,
)
from agentlightning.semconv import (
    AGL_TOOL_CALLS,
    ERROR_TYPE,
    GEN_AI_INPUT_MESSAGES,
    GEN_AI_OUTPUT_MESSAGES,
    GEN_AI_OUTPUT_TYPE,
    GEN_AI_REQUEST_MAX_TOKENS,
    GEN_AI_REQUEST_TEMPERATURE,
    GEN_AI_REQUEST_TOP_P,
    GEN_AI_RESPONSE_FINISH_REASONS,
    GEN_AI_RESPONSE_ID,
    GEN_AI_RESPONSE_MODEL,
    GEN_AI_SYSTEM_INSTRUCTIONS,
    GEN_AI_TOOL_DEFINITIONS,
    GEN_AI_USAGE_INPUT_TOKENS,
    GEN_AI_USAGE_OUTPUT_TOKENS,
)

from ._chat import end
from ._util import span_head, text_parts
from ._wrappers import llm_operation

__all__ = ["RESPONSES", "responses_request_attributes", "responses_response_attributes"]


def _input_messages(value: Any) -> list[InputMessage]:
    if isinstance(value, str):
        return [input_message("user", [text_part(value)])]
    messages: list[InputMessage] = []
    for raw in items(value):
        item = as_dict(raw)
        kind = item.get("type")
        if kind == "function_call_output":
            messages.append(input_message("tool", [tool_call_response_part(item.get("call_id"), item.get("output"))]))
        elif kind == "function_call":
            part = tool_call_part(item.get("call_id"), item.get("name"), item.get("arguments"))
            messages.append(input_message("assistant", [part]))
        elif "role" in item:
            messages.append(input_message(item["role"], text_parts(item.get("content"))))
    return messages


def responses_request_attributes(
    instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any], capture: bool
) -> tuple[str, dict[str, Any]]:
    name, attributes = span_head(instance, kwargs)
    for key, attribute in (
        ("temperature", GEN_AI_REQUEST_TEMPERATURE),
        ("top_p", GEN_AI_REQUEST_TOP_P),
        ("max_output_tokens", GEN_AI_REQUEST_MAX_TOKENS),
    ):
        value = kwargs.get(key)
        if value is not None and is_number(value):
            attributes[attribute] = value
    text = kwargs.get("text")
    if isinstance(kwargs.get("text_format"), type):
        attributes[GEN_AI_OUTPUT_TYPE] = "json"  # responses.parse(text_format=SomeModel)
    elif isinstance(text, dict):
        fmt = text.get("format")
        kind = fmt.get("type") if isinstance(fmt, dict) else None
        if kind in ("json_schema", "json_object"):
            attributes[GEN_AI_OUTPUT_TYPE] = "json"
        elif kind == "text":
            attributes[GEN_AI_OUTPUT_TYPE] = "text"
    tools = items(kwargs.get("tools"))
    if tools:
        attributes[GEN_AI_TOOL_DEFINITIONS] = dumps(tool_definitions(tools, capture))
    if capture:
        instructions = kwargs.get("instructions")
        if isinstance(instructions, str):
            attributes[GEN_AI_SYSTEM_INSTRUCTIONS] = dumps(system_instructions(instructions))
        attributes[GEN_AI_INPUT_MESSAGES] = dumps(_input_messages(kwargs.get("input")))
    return name, attributes


def _finish_reason(response: Any, has_calls: bool) -> str:
    status = getattr(response, "status", None)
    if status == "incomplete":
        details = getattr(response, "incomplete_details", None)
        return getattr(details, "reason", None) or "incomplete"
    if status == "failed":
        return "error"
    return "tool_calls" if has_calls else "stop"


def responses_response_attributes(response: Any, capture: bool) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    if getattr(response, "id", None):
        attributes[GEN_AI_RESPONSE_ID] = response.id
    if getattr(response, "model", None):
        attributes[GEN_AI_RESPONSE_MODEL] = response.model
    usage = getattr(response, "usage", None)
    if usage is not None:
        if getattr(usage, "input_tokens", None) is not None:
            attributes[GEN_AI_USAGE_INPUT_TOKENS] = usage.input_tokens
        if getattr(usage, "output_tokens", None) is not None:
            attributes[GEN_AI_USAGE_OUTPUT_TOKENS] = usage.output_tokens
    parts: list[MessagePart] = []
    calls: list[dict[str, Any]] = []
    for item in getattr(response, "output", None) or ():
        kind = getattr(item, "type", None)
        if kind == "function_call":
            calls.append({"id": item.call_id, "name": item.name, "arguments": item.arguments})
        elif kind == "message" and capture:
            parts.extend(text_parts(getattr(item, "content", None)))
    reason = _finish_reason(response, bool(calls))
    attributes[GEN_AI_RESPONSE_FINISH_REASONS] = (reason,)
    if calls:
        keys = ("id", "name", "arguments") if capture else ("id", "name")
        attributes[AGL_TOOL_CALLS] = dumps([{k: c[k] for k in keys} for c in calls])
    if capture:
        parts.extend(tool_call_part(c["id"], c["name"], c["arguments"]) for c in calls)
        attributes[GEN_AI_OUTPUT_MESSAGES] = dumps([output_message(parts, reason)])
    error = getattr(response, "error", None)
    if error is not None and getattr(error, "code", None):
        attributes[ERROR_TYPE] = str(error.code)
    return attributes


class ResponsesStreamHandler:
    """Reads ``ResponseStreamEvent``s; the terminal event carries the complete response."""

    _TERMINAL = frozenset({"response.completed", "response.incomplete", "response.failed"})

    def __init__(self, invocation: Invocation) -> None:
        self.invocation = invocation
        self.started: Any = None
        self.final: Any = None
        self.error_code: str | None = None

    def on_item(self, event: Any) -> None:
        kind = getattr(event, "type", None)
        if kind in self._TERMINAL:
            self.final = event.response
        elif kind == "response.created":
            self.started = event.response
        elif kind == "error":
            self.error_code = str(getattr(event, "code", None) or "error")

    def attributes(self, error: BaseException | None) -> dict[str, Any] | None:
        invocation = self.invocation
        attributes: dict[str, Any] | None = None
        if self.final is not None:
            attributes = responses_response_attributes(self.final, invocation.capture)
        elif self.started is not None:
            attributes = {GEN_AI_RESPONSE_ID: self.started.id, GEN_AI_RESPONSE_MODEL: self.started.model}
        failed = self.error_code or (attributes or {}).get(ERROR_TYPE)
        if error is None and failed:
            if invocation.owned:
                invocation.span.set_status(Status(StatusCode.ERROR, f"response failed: {failed}"))
            (attributes := attributes or {})[ERROR_TYPE] = failed
        return attributes

    def on_finish(self, error: BaseException | None) -> None:
        end(self.invocation, lambda: self.attributes(error), error)


RESPONSES = llm_operation(responses_request_attributes, responses_response_attributes, ResponsesStreamHandler)
