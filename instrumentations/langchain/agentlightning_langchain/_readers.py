"""Attribute readers: what a LangChain callback's arguments mean in GenAI span attributes.

Every reader takes plain callback arguments (``serialized``, ``metadata``, ``invocation_params``, an
``LLMResult``, messages) and returns attributes; nothing here imports LangChain, and every field is read
defensively (``messages.field`` / ``as_dict``), so an unexpected shape gives fewer attributes, never an error.
Content (messages, tool arguments and results, documents) is read only when ``capture`` is true.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from agentlightning import semconv as sc
from agentlightning.instrumentation import messages as m

__all__ = [
    "chain_name",
    "chat_request",
    "llm_request",
    "llm_response",
    "retriever_request",
    "retriever_response",
    "tool_request",
    "tool_response",
]

# Retrieval keys (not in agentlightning.semconv yet): the GenAI conventions' query text and documents, and
# our own document count.
RETRIEVAL_QUERY = "gen_ai.retrieval.query.text"
RETRIEVAL_DOCUMENTS = "gen_ai.retrieval.documents"
RETRIEVAL_DOCUMENT_COUNT = "agentlightning.retrieval.document_count"

# LangChain's ``ls_provider`` metadata -> the GenAI provider name.
_PROVIDERS = {"openai": "openai", "azure": "azure.ai.openai", "anthropic": "anthropic", "google_genai": "gcp.gemini"}
# (invocation parameter, attribute), in the order the request attributes are written.
_REQUEST_PARAMETERS = (
    ("max_tokens", sc.GEN_AI_REQUEST_MAX_TOKENS),
    ("max_completion_tokens", sc.GEN_AI_REQUEST_MAX_TOKENS),
    ("temperature", sc.GEN_AI_REQUEST_TEMPERATURE),
    ("top_p", sc.GEN_AI_REQUEST_TOP_P),
    ("seed", sc.GEN_AI_REQUEST_SEED),
    ("frequency_penalty", sc.GEN_AI_REQUEST_FREQUENCY_PENALTY),
    ("presence_penalty", sc.GEN_AI_REQUEST_PRESENCE_PENALTY),
    ("n", sc.GEN_AI_REQUEST_CHOICE_COUNT),
)
_ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool", "function": "tool"}


def chain_name(serialized: Any, kwargs: Mapping[str, Any]) -> str:
    """The run's name: the ``name`` LangChain passes (``run_name``, graph node), else the serialized class."""
    name = kwargs.get("name")
    if isinstance(name, str) and name:
        return name
    serialized_map = m.as_dict(serialized)
    name = serialized_map.get("name")
    if isinstance(name, str) and name:
        return name
    identifier = serialized_map.get("id")
    if isinstance(identifier, list) and identifier and isinstance(identifier[-1], str):
        return identifier[-1]
    return "chain"


def _model(metadata: Mapping[str, Any], params: Mapping[str, Any]) -> str | None:
    for value in (metadata.get("ls_model_name"), params.get("model"), params.get("model_name")):
        if isinstance(value, str) and value:
            return value
    return None


def _request(operation: str, kwargs: Mapping[str, Any], capture: bool) -> tuple[str, dict[str, Any]]:
    metadata = m.as_dict(kwargs.get("metadata"))
    params = m.as_dict(kwargs.get("invocation_params"))
    model = _model(metadata, params)
    attributes: dict[str, Any] = {sc.GEN_AI_OPERATION_NAME: operation}
    provider = metadata.get("ls_provider") or params.get("_type")
    if isinstance(provider, str) and provider:
        attributes[sc.GEN_AI_PROVIDER_NAME] = _PROVIDERS.get(provider, provider)
    if model:
        attributes[sc.GEN_AI_REQUEST_MODEL] = model
    for key, attribute in _REQUEST_PARAMETERS:
        value = params.get(key)
        if m.is_number(value) and attribute not in attributes:
            attributes[attribute] = value
    stop = params.get("stop")
    if isinstance(stop, str):
        attributes[sc.GEN_AI_REQUEST_STOP_SEQUENCES] = (stop,)
    elif isinstance(stop, Sequence) and stop and all(isinstance(s, str) for s in stop):
        attributes[sc.GEN_AI_REQUEST_STOP_SEQUENCES] = tuple(stop)
    tools = params.get("tools")
    if isinstance(tools, Sequence) and tools:
        attributes[sc.GEN_AI_TOOL_DEFINITIONS] = m.dumps(m.tool_definitions(tools, capture))
    return f"{operation} {model}" if model else operation, attributes


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    texts = [m.field(part, "text") for part in m.items(content)]
    return "".join(t for t in texts if isinstance(t, str))


def _message_parts(message: Any) -> list[Any]:
    parts: list[Any] = []
    text = _text(m.field(message, "content"))
    if text:
        parts.append(m.text_part(text))
    for call in m.items(m.field(message, "tool_calls")):
        parts.append(m.tool_call_part(m.field(call, "id"), m.field(call, "name"), m.field(call, "args")))
    call_id = m.field(message, "tool_call_id")
    if isinstance(call_id, str):
        parts = [m.tool_call_response_part(call_id, text)]
    return parts


def chat_request(messages: Any, kwargs: Mapping[str, Any], capture: bool) -> tuple[str, dict[str, Any]]:
    """``on_chat_model_start``: ``chat {model}`` and its request attributes (messages with capture)."""
    name, attributes = _request(sc.OP_CHAT, kwargs, capture)
    if capture:
        batch = m.items(messages)
        first = m.items(batch[0]) if batch else ()
        system: list[Any] = []
        inputs: list[Any] = []
        for message in first:
            role = _ROLES.get(str(m.field(message, "type")), str(m.field(message, "type")))
            if role == "system":
                system.extend(m.system_instructions(_text(m.field(message, "content"))))
            else:
                inputs.append(m.input_message(role, _message_parts(message)))
        if system:
            attributes[sc.GEN_AI_SYSTEM_INSTRUCTIONS] = m.dumps(system)
        attributes[sc.GEN_AI_INPUT_MESSAGES] = m.dumps(inputs)
    return name, attributes


def llm_request(prompts: Any, kwargs: Mapping[str, Any], capture: bool) -> tuple[str, dict[str, Any]]:
    """``on_llm_start`` (a completion model): ``text_completion {model}``."""
    name, attributes = _request(sc.OP_TEXT_COMPLETION, kwargs, capture)
    if capture:
        texts = [p for p in m.items(prompts) if isinstance(p, str)]
        attributes[sc.GEN_AI_INPUT_MESSAGES] = m.dumps([m.input_message("user", [m.text_part(t)]) for t in texts])
    return name, attributes


def llm_response(response: Any, capture: bool) -> dict[str, Any]:
    """``on_llm_end``: response id/model, finish reasons, usage, tool calls (output messages with capture)."""
    attributes: dict[str, Any] = {}
    generations = [g for batch in m.items(m.field(response, "generations")) for g in m.items(batch)]
    llm_output = m.as_dict(m.field(response, "llm_output"))
    finish_reasons: list[str] = []
    outputs: list[Any] = []
    calls: list[dict[str, Any]] = []
    input_tokens = output_tokens = 0
    counted = False
    for generation in generations:
        info = m.as_dict(m.field(generation, "generation_info"))
        message = m.field(generation, "message")
        metadata = m.as_dict(m.field(message, "response_metadata"))
        reason = metadata.get("finish_reason") or info.get("finish_reason")
        finish_reasons.append(reason if isinstance(reason, str) else "")
        response_id = metadata.get("id")  # the provider's id (the message's own id is LangChain's run id)
        if isinstance(response_id, str) and response_id:
            attributes.setdefault(sc.GEN_AI_RESPONSE_ID, response_id)
        model = metadata.get("model_name") or metadata.get("model")
        if isinstance(model, str) and model:
            attributes.setdefault(sc.GEN_AI_RESPONSE_MODEL, model)
        usage = m.as_dict(m.field(message, "usage_metadata"))
        if m.is_number(usage.get("input_tokens")):
            input_tokens += int(usage["input_tokens"])
            output_tokens += int(usage.get("output_tokens") or 0)
            counted = True
        for call in m.items(m.field(message, "tool_calls")):
            entry = {"id": m.field(call, "id"), "name": m.field(call, "name")}
            if capture:
                entry["arguments"] = m.field(call, "args")
            calls.append(entry)
        if capture:
            parts = _message_parts(message) if message is not None else [m.text_part(str(m.field(generation, "text")))]
            outputs.append(m.output_message(parts, finish_reasons[-1]))
    if not counted:  # completion models and older chat models report usage in llm_output
        usage = m.as_dict(llm_output.get("token_usage") or llm_output.get("usage"))
        prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
        if isinstance(prompt, int):
            input_tokens, counted = prompt, True
            output_tokens = completion if isinstance(completion, int) else 0
    if counted:
        attributes[sc.GEN_AI_USAGE_INPUT_TOKENS] = input_tokens
        attributes[sc.GEN_AI_USAGE_OUTPUT_TOKENS] = output_tokens
    model = llm_output.get("model_name")
    if isinstance(model, str) and model:
        attributes.setdefault(sc.GEN_AI_RESPONSE_MODEL, model)
    if finish_reasons:
        attributes[sc.GEN_AI_RESPONSE_FINISH_REASONS] = tuple(finish_reasons)
    if calls:
        attributes[sc.AGL_TOOL_CALLS] = m.dumps(calls)
    if capture:
        attributes[sc.GEN_AI_OUTPUT_MESSAGES] = m.dumps(outputs)
    return attributes


def tool_request(
    serialized: Any, input_str: Any, kwargs: Mapping[str, Any], capture: bool
) -> tuple[str, dict[str, Any]]:
    """``on_tool_start``: ``execute_tool {name}`` with the call id (arguments with capture)."""
    name = kwargs.get("name") or m.as_dict(serialized).get("name") or "tool"
    attributes: dict[str, Any] = {sc.GEN_AI_OPERATION_NAME: sc.OP_EXECUTE_TOOL, sc.GEN_AI_TOOL_NAME: str(name)}
    call_id = kwargs.get("tool_call_id")
    if isinstance(call_id, str) and call_id:
        attributes[sc.GEN_AI_TOOL_CALL_ID] = call_id
    if capture:
        inputs = kwargs.get("inputs")
        attributes[sc.GEN_AI_TOOL_CALL_ARGUMENTS] = m.dumps(inputs) if inputs is not None else str(input_str)
    return f"{sc.OP_EXECUTE_TOOL} {name}", attributes


def tool_response(output: Any, capture: bool) -> dict[str, Any]:
    """``on_tool_end``: the call id a ``ToolMessage`` carries (the result with capture)."""
    attributes: dict[str, Any] = {}
    call_id = m.field(output, "tool_call_id")
    if isinstance(call_id, str) and call_id:
        attributes[sc.GEN_AI_TOOL_CALL_ID] = call_id
    if capture:
        content = m.field(output, "content") if call_id is not None else output
        attributes[sc.GEN_AI_TOOL_CALL_RESULT] = content if isinstance(content, str) else m.dumps(content)
    return attributes


def retriever_request(
    serialized: Any, query: Any, kwargs: Mapping[str, Any], capture: bool
) -> tuple[str, dict[str, Any]]:
    """``on_retriever_start``: ``retrieval {name}`` (the query with capture)."""
    name = chain_name(serialized, kwargs)
    attributes: dict[str, Any] = {sc.GEN_AI_OPERATION_NAME: sc.OP_RETRIEVAL}
    if capture and isinstance(query, str):
        attributes[RETRIEVAL_QUERY] = query
    return f"{sc.OP_RETRIEVAL} {name}", attributes


def retriever_response(documents: Any, capture: bool) -> dict[str, Any]:
    """``on_retriever_end``: the document count (the documents with capture)."""
    docs = m.items(documents)
    attributes: dict[str, Any] = {RETRIEVAL_DOCUMENT_COUNT: len(docs)}
    if capture:
        attributes[RETRIEVAL_DOCUMENTS] = m.dumps(
            [{"content": m.field(d, "page_content"), "metadata": m.field(d, "metadata")} for d in docs]
        )
    return attributes
