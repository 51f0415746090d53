"""Attributes of chat completions (``create``, ``parse``, streams) and embeddings.

Request attributes come from the keyword arguments only (the request object is never touched); response
attributes from the returned model objects. Token ids are read where vLLM-style servers put them:

- ``prompt_token_ids``: top level of the completion (vLLM ``return_token_ids``, agent-lightning's patch),
  or of the first chunk of a stream;
- response token ids: ``choices[0].token_ids`` (vLLM), or top-level ``response_token_ids[0]``
  (agent-lightning's vLLM patch); in a stream, the ``token_ids`` of each chunk's choice 0, concatenated.
"""

from __future__ import annotations

from typing import Any, TypeGuard

from agentlightning.instrumentation import Invocation
from agentlightning.instrumentation.messages import (
    dumps,
    field,
    input_message,
    int_list,
    is_number,
    items,
    text_part,
    tool_definitions,
)
from agentlightning.semconv import (
    AGL_PROMPT_TOKEN_IDS,
    AGL_RESPONSE_TOKEN_IDS,
    AGL_TOOL_CALLS,
    GEN_AI_INPUT_MESSAGES,
    GEN_AI_OUTPUT_MESSAGES,
    GEN_AI_OUTPUT_TYPE,
    GEN_AI_REQUEST_CHOICE_COUNT,
    GEN_AI_REQUEST_ENCODING_FORMATS,
    GEN_AI_REQUEST_FREQUENCY_PENALTY,
    GEN_AI_REQUEST_MAX_TOKENS,
    GEN_AI_REQUEST_PRESENCE_PENALTY,
    GEN_AI_REQUEST_SEED,
    GEN_AI_REQUEST_STOP_SEQUENCES,
    GEN_AI_REQUEST_TEMPERATURE,
    GEN_AI_REQUEST_TOP_P,
    GEN_AI_RESPONSE_FINISH_REASONS,
    GEN_AI_RESPONSE_ID,
    GEN_AI_RESPONSE_MODEL,
    GEN_AI_TOOL_DEFINITIONS,
    GEN_AI_USAGE_INPUT_TOKENS,
    GEN_AI_USAGE_OUTPUT_TOKENS,
    OP_EMBEDDINGS,
)

from ._util import chat_input_messages, chat_output_message, span_head
from ._wrappers import llm_operation

__all__ = ["CHAT", "EMBEDDINGS", "chat_request_attributes", "chat_response_attributes"]

_NUMBERS = (
    ("temperature", GEN_AI_REQUEST_TEMPERATURE),
    ("top_p", GEN_AI_REQUEST_TOP_P),
    ("frequency_penalty", GEN_AI_REQUEST_FREQUENCY_PENALTY),
    ("presence_penalty", GEN_AI_REQUEST_PRESENCE_PENALTY),
    ("seed", GEN_AI_REQUEST_SEED),
)


def _output_type(response_format: Any) -> str | None:
    if response_format is None:
        return None
    if isinstance(response_format, type):
        return "json"  # parse(response_format=SomeModel)
    kind = response_format.get("type") if isinstance(response_format, dict) else None
    if kind in ("json_object", "json_schema"):
        return "json"
    if kind == "text":
        return "text"
    return None


def request_parameters(kwargs: dict[str, Any], attributes: dict[str, Any]) -> None:
    """Sampling parameters shared by chat and legacy completions."""
    for key, attribute in _NUMBERS:
        value = kwargs.get(key)
        if value is not None and is_number(value):
            attributes[attribute] = value
    max_tokens = kwargs.get("max_completion_tokens")
    if not is_number(max_tokens):
        max_tokens = kwargs.get("max_tokens")
    if is_number(max_tokens):
        attributes[GEN_AI_REQUEST_MAX_TOKENS] = max_tokens
    n = kwargs.get("n")
    if is_number(n) and n != 1:
        attributes[GEN_AI_REQUEST_CHOICE_COUNT] = n
    stop = kwargs.get("stop")
    if isinstance(stop, str):
        attributes[GEN_AI_REQUEST_STOP_SEQUENCES] = (stop,)
    elif isinstance(stop, (list, tuple)) and stop:
        attributes[GEN_AI_REQUEST_STOP_SEQUENCES] = tuple(str(s) for s in stop)


def usage_attributes(usage: Any) -> dict[str, Any]:
    """Token counts of a ``CompletionUsage`` (chat and legacy completions)."""
    attributes: dict[str, Any] = {}
    if usage is not None:
        if getattr(usage, "prompt_tokens", None) is not None:
            attributes[GEN_AI_USAGE_INPUT_TOKENS] = usage.prompt_tokens
        if getattr(usage, "completion_tokens", None) is not None:
            attributes[GEN_AI_USAGE_OUTPUT_TOKENS] = usage.completion_tokens
    return attributes


def chat_request_attributes(
    instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any], capture: bool
) -> tuple[str, dict[str, Any]]:
    name, attributes = span_head(instance, kwargs)
    request_parameters(kwargs, attributes)
    output_type = _output_type(kwargs.get("response_format"))
    if output_type is not None:
        attributes[GEN_AI_OUTPUT_TYPE] = output_type
    tools = items(kwargs.get("tools"))
    if tools:
        attributes[GEN_AI_TOOL_DEFINITIONS] = dumps(tool_definitions(tools, capture, flatten=True))
    if capture:
        attributes[GEN_AI_INPUT_MESSAGES] = dumps(chat_input_messages(kwargs.get("messages")))
    return name, attributes


def _token_ids(result: Any, first_choice: Any) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    prompt_ids = int_list(field(result, "prompt_token_ids"))
    if prompt_ids is not None:
        attributes[AGL_PROMPT_TOKEN_IDS] = prompt_ids
    response_ids = int_list(field(first_choice, "token_ids")) if first_choice is not None else None
    if response_ids is None:
        nested = field(result, "response_token_ids")
        if isinstance(nested, (list, tuple)) and nested:
            response_ids = int_list(nested[0]) if isinstance(nested[0], (list, tuple)) else int_list(nested)
    if response_ids is not None:
        attributes[AGL_RESPONSE_TOKEN_IDS] = response_ids
    return attributes


def _tool_calls(calls: list[dict[str, Any]], capture: bool) -> str:
    keys = ("id", "name", "arguments") if capture else ("id", "name")
    return dumps([{k: call.get(k) for k in keys} for call in calls])


def _is_index(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _finish_reason(choice: Any) -> str:
    reason = getattr(choice, "finish_reason", None)
    return reason if isinstance(reason, str) else ""


def chat_response_attributes(result: Any, capture: bool) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    response_id = getattr(result, "id", None)
    if response_id:
        attributes[GEN_AI_RESPONSE_ID] = response_id
    model = getattr(result, "model", None)
    if model:
        attributes[GEN_AI_RESPONSE_MODEL] = model
    choices = getattr(result, "choices", None) or ()
    if not isinstance(choices, (list, tuple)):  # openai keeps a malformed body's values as they came
        choices = ()
    attributes[GEN_AI_RESPONSE_FINISH_REASONS] = tuple(_finish_reason(c) for c in choices)
    attributes.update(usage_attributes(getattr(result, "usage", None)))
    first = choices[0] if choices else None
    attributes.update(_token_ids(result, first))
    message = getattr(first, "message", None)
    calls = getattr(message, "tool_calls", None)
    if calls:
        flat = []
        for call in calls:
            function = getattr(call, "function", None)
            flat.append(
                {
                    "id": getattr(call, "id", None),
                    "name": getattr(function, "name", None),
                    "arguments": getattr(function, "arguments", None),
                }
            )
        attributes[AGL_TOOL_CALLS] = _tool_calls(flat, capture)
    if capture:
        attributes[GEN_AI_OUTPUT_MESSAGES] = dumps(
            [chat_output_message(getattr(c, "message", None), _finish_reason(c)) for c in choices]
        )
    return attributes


class _ChoiceState:
    __slots__ = ("content", "finish_reason", "refusal", "role", "tool_calls")

    def __init__(self) -> None:
        self.role: str | None = None
        self.content: list[str] = []
        self.refusal: list[str] = []
        self.finish_reason: str | None = None
        self.tool_calls: dict[int, dict[str, Any]] = {}


class ChatStreamHandler:
    """Accumulates ``ChatCompletionChunk``s: id, model, finish reasons, usage, tool-call deltas, token ids."""

    def __init__(self, invocation: Invocation) -> None:
        self.invocation = invocation
        self.capture = invocation.capture
        self.response_id: str | None = None
        self.model: str | None = None
        self.usage: Any = None
        self.choices: dict[int, _ChoiceState] = {}
        self.prompt_token_ids: list[int] | None = None
        self.response_token_ids: list[int] = []

    def on_item(self, chunk: Any) -> None:
        # Every chunk of every traced stream comes through here: the checks of _is_index and _finish_reason
        # are written out in place (a Python call per check per chunk cost more than the checks).
        if not self.response_id:  # Azure's first chunk (prompt filter results) has "id": "" and "model": ""
            self.response_id = getattr(chunk, "id", None) or None
            self.model = getattr(chunk, "model", None) or None
            # on the first chunk (vLLM), so read until a chunk has an id, not on every chunk of the stream
            if self.prompt_token_ids is None:
                self.prompt_token_ids = int_list(field(chunk, "prompt_token_ids"))
        usage = getattr(chunk, "usage", None)
        if usage is not None:
            self.usage = usage
        choices = getattr(chunk, "choices", None)
        if type(choices) is not list and not isinstance(choices, list):  # the exact type first: the usual case
            return
        states = self.choices
        for choice in choices:
            index = getattr(choice, "index", None)
            if type(index) is not int and (not isinstance(index, int) or isinstance(index, bool)):
                continue  # a malformed chunk (openai keeps its values as they came): skip it
            state = states.get(index)
            if state is None:
                state = states[index] = _ChoiceState()
            reason = getattr(choice, "finish_reason", None)
            if reason and isinstance(reason, str):
                state.finish_reason = reason
            if index == 0:
                raw = field(choice, "token_ids")  # vLLM's, undeclared: in the model's extras if anywhere
                if raw:
                    ids = int_list(raw)
                    if ids:
                        self.response_token_ids.extend(ids)
            delta = getattr(choice, "delta", None)
            if delta is None:
                continue
            role = getattr(delta, "role", None)
            if role and isinstance(role, str):
                state.role = role
            if self.capture:
                content = getattr(delta, "content", None)
                if content and isinstance(content, str):
                    state.content.append(content)
                refusal = field(delta, "refusal")
                if refusal and isinstance(refusal, str):
                    state.refusal.append(refusal)
            tool_calls = getattr(delta, "tool_calls", None)
            if tool_calls:
                for tool_call in tool_calls if isinstance(tool_calls, list) else ():
                    self._tool_delta(state, tool_call)

    @staticmethod
    def _tool_delta(state: _ChoiceState, delta: Any) -> None:
        index = getattr(delta, "index", None)
        if not _is_index(index):
            return
        entry = state.tool_calls.get(index)
        if entry is None:
            entry = state.tool_calls[index] = {"id": None, "name": None, "arguments": ""}
        call_id = getattr(delta, "id", None)
        if call_id and isinstance(call_id, str):
            entry["id"] = call_id
        function = getattr(delta, "function", None)
        if function is not None:
            name, arguments = getattr(function, "name", None), getattr(function, "arguments", None)
            if name and isinstance(name, str):
                entry["name"] = name
            if arguments and isinstance(arguments, str):
                entry["arguments"] += arguments

    def attributes(self) -> dict[str, Any]:
        attributes: dict[str, Any] = {}
        if self.response_id:
            attributes[GEN_AI_RESPONSE_ID] = self.response_id
        if self.model:
            attributes[GEN_AI_RESPONSE_MODEL] = self.model
        ordered = [self.choices[i] for i in sorted(self.choices)]
        reasons = tuple(s.finish_reason for s in ordered if s.finish_reason)
        if reasons:  # a stream closed early has none
            attributes[GEN_AI_RESPONSE_FINISH_REASONS] = reasons
        attributes.update(usage_attributes(self.usage))
        if self.prompt_token_ids:
            attributes[AGL_PROMPT_TOKEN_IDS] = self.prompt_token_ids
        if self.response_token_ids:
            attributes[AGL_RESPONSE_TOKEN_IDS] = self.response_token_ids
        first = self.choices.get(0)
        if first is not None and first.tool_calls:
            calls = [first.tool_calls[i] for i in sorted(first.tool_calls)]
            attributes[AGL_TOOL_CALLS] = _tool_calls(calls, self.capture)
        if self.capture:
            messages = []
            for state in ordered:
                message = {
                    "role": state.role or "assistant",
                    "content": "".join(state.content) or None,
                    "refusal": "".join(state.refusal) or None,
                    "tool_calls": [
                        {
                            "id": c["id"],
                            "type": "function",
                            "function": {"name": c["name"], "arguments": c["arguments"]},
                        }
                        for _, c in sorted(state.tool_calls.items())
                    ],
                }
                messages.append(chat_output_message(message, state.finish_reason))
            attributes[GEN_AI_OUTPUT_MESSAGES] = dumps(messages)
        return attributes

    def on_finish(self, error: BaseException | None) -> None:
        end(self.invocation, self.attributes, error)


def end(invocation: Invocation, attributes: Any, error: BaseException | None) -> None:
    """End ``invocation`` with ``attributes()`` (read even if that fails: the span still ends)."""
    values: dict[str, Any] | None = None
    try:
        values = attributes()
    finally:
        if error is None:
            invocation.stop(values)
        else:
            invocation.fail(error, values)


def embeddings_request_attributes(
    instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any], capture: bool
) -> tuple[str, dict[str, Any]]:
    name, attributes = span_head(instance, kwargs, OP_EMBEDDINGS)
    encoding = kwargs.get("encoding_format")
    if isinstance(encoding, str):
        attributes[GEN_AI_REQUEST_ENCODING_FORMATS] = (encoding,)
    if capture:
        value = kwargs.get("input")
        attributes[GEN_AI_INPUT_MESSAGES] = dumps(
            [input_message("user", [text_part(v)]) for v in ([value] if isinstance(value, str) else items(value))]
        )
    return name, attributes


def embeddings_response_attributes(result: Any, capture: bool) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    model = getattr(result, "model", None)
    if model:
        attributes[GEN_AI_RESPONSE_MODEL] = model
    usage = getattr(result, "usage", None)
    if usage is not None and getattr(usage, "prompt_tokens", None) is not None:
        attributes[GEN_AI_USAGE_INPUT_TOKENS] = usage.prompt_tokens
    return attributes


CHAT = llm_operation(chat_request_attributes, chat_response_attributes, ChatStreamHandler)
EMBEDDINGS = llm_operation(embeddings_request_attributes, embeddings_response_attributes)
