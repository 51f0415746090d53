"""Attributes of the legacy completions endpoint (``client.completions.create``, ``/v1/completions``).

LangChain's ``OpenAI`` LLM and vLLM users call it. A call is a ``text_completion`` operation; its span is
``text_completion {model}``. The prompt (a string or a list of strings; token arrays are not text) becomes one
user message per prompt with content capture, each choice's ``text`` an output message. Token ids are read
where vLLM puts them (``prompt_token_ids`` at the top level or in ``choices[0]``, ``choices[0].token_ids``).
"""

from __future__ import annotations

from typing import Any

from agentlightning.instrumentation import Invocation
from agentlightning.instrumentation.messages import (
    dumps,
    field,
    input_message,
    int_list,
    items,
    output_message,
    text_part,
)
from agentlightning.semconv import (
    AGL_PROMPT_TOKEN_IDS,
    AGL_RESPONSE_TOKEN_IDS,
    GEN_AI_INPUT_MESSAGES,
    GEN_AI_OUTPUT_MESSAGES,
    GEN_AI_RESPONSE_FINISH_REASONS,
    GEN_AI_RESPONSE_ID,
    GEN_AI_RESPONSE_MODEL,
    OP_TEXT_COMPLETION,
)

from ._chat import end, request_parameters, usage_attributes
from ._util import span_head
from ._wrappers import llm_operation

__all__ = ["COMPLETIONS"]


def completions_request_attributes(
    instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any], capture: bool
) -> tuple[str, dict[str, Any]]:
    name, attributes = span_head(instance, kwargs, OP_TEXT_COMPLETION)
    request_parameters(kwargs, attributes)
    if capture:
        prompt = kwargs.get("prompt")
        prompts = [prompt] if isinstance(prompt, str) else [p for p in items(prompt) if isinstance(p, str)]
        attributes[GEN_AI_INPUT_MESSAGES] = dumps([input_message("user", [text_part(p)]) for p in prompts])
    return name, attributes


def _token_ids(result: Any, first: Any) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    prompt_ids = int_list(field(result, "prompt_token_ids"))
    if prompt_ids is None and first is not None:
        prompt_ids = int_list(field(first, "prompt_token_ids"))
    if prompt_ids is not None:
        attributes[AGL_PROMPT_TOKEN_IDS] = prompt_ids
    response_ids = int_list(field(first, "token_ids")) if first is not None else None
    if response_ids is not None:
        attributes[AGL_RESPONSE_TOKEN_IDS] = response_ids
    return attributes


def completions_response_attributes(result: Any, capture: bool) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    if getattr(result, "id", None):
        attributes[GEN_AI_RESPONSE_ID] = result.id
    if getattr(result, "model", None):
        attributes[GEN_AI_RESPONSE_MODEL] = result.model
    choices = getattr(result, "choices", None) or ()
    attributes[GEN_AI_RESPONSE_FINISH_REASONS] = tuple(c.finish_reason or "" for c in choices)
    attributes.update(usage_attributes(getattr(result, "usage", None)))
    attributes.update(_token_ids(result, choices[0] if choices else None))
    if capture:
        attributes[GEN_AI_OUTPUT_MESSAGES] = dumps(
            [output_message([text_part(c.text or "")], c.finish_reason) for c in choices]
        )
    return attributes


class CompletionsStreamHandler:
    """Accumulates streamed ``Completion`` chunks: id, model, text and finish reason per choice, usage, token ids."""

    def __init__(self, invocation: Invocation) -> None:
        self.invocation = invocation
        self.capture = invocation.capture
        self.response_id: str | None = None
        self.model: str | None = None
        self.usage: Any = None
        self.text: dict[int, list[str]] = {}
        self.finish: dict[int, str] = {}
        self.prompt_token_ids: list[int] | None = None
        self.response_token_ids: list[int] = []

    def on_item(self, chunk: Any) -> None:
        if not self.response_id:
            self.response_id = getattr(chunk, "id", None) or None
            self.model = getattr(chunk, "model", None) or None
        usage = getattr(chunk, "usage", None)
        if usage is not None:
            self.usage = usage
        if self.prompt_token_ids is None:
            self.prompt_token_ids = int_list(field(chunk, "prompt_token_ids"))
        for choice in getattr(chunk, "choices", None) or ():
            index = choice.index
            if choice.finish_reason:
                self.finish[index] = choice.finish_reason
            if self.capture and choice.text:
                self.text.setdefault(index, []).append(choice.text)
            if index == 0:
                if self.prompt_token_ids is None:
                    self.prompt_token_ids = int_list(field(choice, "prompt_token_ids"))
                ids = field(choice, "token_ids")
                if ids:
                    self.response_token_ids.extend(ids)

    def attributes(self) -> dict[str, Any]:
        attributes: dict[str, Any] = {}
        if self.response_id:
            attributes[GEN_AI_RESPONSE_ID] = self.response_id
        if self.model:
            attributes[GEN_AI_RESPONSE_MODEL] = self.model
        indexes = sorted({*self.finish, *self.text})
        reasons = tuple(self.finish[i] for i in indexes if i in self.finish)
        if reasons:
            attributes[GEN_AI_RESPONSE_FINISH_REASONS] = reasons
        attributes.update(usage_attributes(self.usage))
        if self.prompt_token_ids:
            attributes[AGL_PROMPT_TOKEN_IDS] = self.prompt_token_ids
        if self.response_token_ids:
            attributes[AGL_RESPONSE_TOKEN_IDS] = self.response_token_ids
        if self.capture:
            attributes[GEN_AI_OUTPUT_MESSAGES] = dumps(
                [output_message([text_part("".join(self.text.get(i, ())))], self.finish.get(i)) for i in indexes]
            )
        return attributes

    def on_finish(self, error: BaseException | None) -> None:
        end(self.invocation, self.attributes, error)


COMPLETIONS = llm_operation(completions_request_attributes, completions_response_attributes, CompletionsStreamHandler)
