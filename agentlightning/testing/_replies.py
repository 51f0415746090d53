"""Payloads of the scripted server: OpenAI wire format for chat completions, Responses and embeddings."""

from __future__ import annotations

import base64
import struct
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .server import Reply

CREATED = 1_700_000_000


def _words(text: str | None) -> list[str]:
    return text.split() if text else []


def _prompt_words(request: dict[str, Any]) -> int:
    count = 0
    for message in request.get("messages") or ():
        content = message.get("content")
        if isinstance(content, str):
            count += len(content.split())
        elif isinstance(content, list):
            count += sum(len(str(p.get("text", "")).split()) for p in content if isinstance(p, dict))
    prompt = request.get("prompt")  # legacy completions
    if isinstance(prompt, str):
        count += len(prompt.split())
    elif isinstance(prompt, list):
        count += sum(len(p.split()) for p in prompt if isinstance(p, str))
    value = request.get("input")
    if isinstance(value, str):
        count += len(value.split())
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, str):
                count += len(item.split())
            elif isinstance(item, dict) and isinstance(item.get("content"), str):
                count += len(item["content"].split())
    return max(count, 1)


def _usage(reply: Reply, request: dict[str, Any]) -> tuple[int, int]:
    prompt = reply.prompt_tokens if reply.prompt_tokens is not None else _prompt_words(request)
    completion = reply.completion_tokens
    if completion is None:
        completion = len(_words(reply.content)) + sum(1 for _ in reply.tool_calls)
    return prompt, completion


def _model(reply: Reply, request: dict[str, Any]) -> str:
    return reply.model or str(request.get("model") or "scripted-model")


def _call_id(reply: Reply, index: int, number: int) -> str:
    call = reply.tool_calls[index]
    return call.id or f"call_{number}_{index}"


def _finish(reply: Reply) -> str:
    return reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop")


def chat_completion(reply: Reply, request: dict[str, Any], number: int) -> dict[str, Any]:
    prompt, completion = _usage(reply, request)
    message: dict[str, Any] = {"role": "assistant", "content": reply.content, "refusal": None}
    if reply.tool_calls:
        message["tool_calls"] = [
            {
                "id": _call_id(reply, i, number),
                "type": "function",
                "function": {"name": c.name, "arguments": c.arguments},
            }
            for i, c in enumerate(reply.tool_calls)
        ]
    choice: dict[str, Any] = {"index": 0, "message": message, "finish_reason": _finish(reply), "logprobs": None}
    body: dict[str, Any] = {
        "id": f"chatcmpl-{number}",
        "object": "chat.completion",
        "created": CREATED,
        "model": _model(reply, request),
        "choices": [choice],
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
    }
    if reply.prompt_token_ids is not None:
        body["prompt_token_ids"] = reply.prompt_token_ids
    if reply.response_token_ids is not None:
        if reply.token_ids_style == "agentlightning":
            body["response_token_ids"] = [reply.response_token_ids]
        else:
            choice["token_ids"] = reply.response_token_ids
    return body


def chat_chunks(reply: Reply, request: dict[str, Any], number: int, include_usage: bool) -> list[dict[str, Any]]:
    """The chunks of a streamed completion; those marked ``_content`` count for break/error_after."""
    model = _model(reply, request)
    base = {"id": f"chatcmpl-{number}", "object": "chat.completion.chunk", "created": CREATED, "model": model}
    if include_usage:
        base["usage"] = None

    def chunk(delta: dict[str, Any], finish: str | None = None, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
        choice.update(extra or {})
        return {**base, "choices": [choice]}

    first = chunk({"role": "assistant", "content": ""})
    if reply.prompt_token_ids is not None:
        first["prompt_token_ids"] = reply.prompt_token_ids
    chunks = [first]
    if reply.azure_first_chunk:  # Azure OpenAI: content-filter results before the first real chunk
        filters = [{"prompt_index": 0, "content_filter_results": {}}]
        chunks.insert(0, {**base, "id": "", "model": "", "created": 0, "choices": [], "prompt_filter_results": filters})
    words = _words(reply.content)
    ids = list(reply.response_token_ids or ())
    per_word = max(1, -(-len(ids) // max(len(words), 1))) if ids else 0
    for i, word in enumerate(words):
        extra = {"token_ids": ids[i * per_word : (i + 1) * per_word]} if ids else None
        chunks.append({**chunk({"content": word if i == 0 else " " + word}, extra=extra), "_content": True})
    for index, call in enumerate(reply.tool_calls):
        head = {"index": index, "id": _call_id(reply, index, number), "type": "function"}
        head["function"] = {"name": call.name, "arguments": ""}
        chunks.append({**chunk({"tool_calls": [head]}), "_content": True})
        half = len(call.arguments) // 2
        for piece in (call.arguments[:half], call.arguments[half:]):
            delta = {"tool_calls": [{"index": index, "function": {"arguments": piece}}]}
            chunks.append({**chunk(delta), "_content": True})
    chunks.append(chunk({}, _finish(reply)))
    if include_usage:
        prompt, completion = _usage(reply, request)
        usage = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
        chunks.append({**base, "choices": [], "usage": usage})
    return chunks


def text_completion(reply: Reply, request: dict[str, Any], number: int) -> dict[str, Any]:
    """A legacy ``/v1/completions`` answer (``object: text_completion``)."""
    prompt, completion = _usage(reply, request)
    choice: dict[str, Any] = {
        "index": 0,
        "text": reply.content or "",
        "finish_reason": _finish(reply),
        "logprobs": None,
    }
    if reply.response_token_ids is not None:
        choice["token_ids"] = reply.response_token_ids
    body: dict[str, Any] = {
        "id": f"cmpl-{number}",
        "object": "text_completion",
        "created": CREATED,
        "model": _model(reply, request),
        "choices": [choice],
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
    }
    if reply.prompt_token_ids is not None:
        body["prompt_token_ids"] = reply.prompt_token_ids
    return body


def completion_chunks(reply: Reply, request: dict[str, Any], number: int, include_usage: bool) -> list[dict[str, Any]]:
    """The chunks of a streamed legacy completion (one word each, then the finish reason, then usage if asked)."""
    base = {"id": f"cmpl-{number}", "object": "text_completion", "created": CREATED, "model": _model(reply, request)}
    words = _words(reply.content)
    ids = list(reply.response_token_ids or ())
    per_word = max(1, -(-len(ids) // max(len(words), 1))) if ids else 0
    chunks: list[dict[str, Any]] = []
    for i, word in enumerate(words):
        choice: dict[str, Any] = {"index": 0, "text": word if i == 0 else " " + word, "finish_reason": None}
        choice["logprobs"] = None
        if ids:
            choice["token_ids"] = ids[i * per_word : (i + 1) * per_word]
        chunks.append({**base, "choices": [choice], "_content": True})
    chunks.append({**base, "choices": [{"index": 0, "text": "", "finish_reason": _finish(reply), "logprobs": None}]})
    if reply.prompt_token_ids is not None:
        chunks[0]["prompt_token_ids"] = reply.prompt_token_ids
    if include_usage:
        prompt, completion = _usage(reply, request)
        usage = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
        chunks.append({**base, "choices": [], "usage": usage})
    return chunks


def response_object(reply: Reply, request: dict[str, Any], number: int, status: str) -> dict[str, Any]:
    prompt, completion = _usage(reply, request)
    output: list[dict[str, Any]] = []
    if status == "completed":
        if reply.content is not None:
            text = {"type": "output_text", "text": reply.content, "annotations": []}
            output.append(
                {
                    "type": "message",
                    "id": f"msg_{number}",
                    "status": "completed",
                    "role": "assistant",
                    "content": [text],
                }
            )
        for index, call in enumerate(reply.tool_calls):
            output.append(
                {
                    "type": "function_call",
                    "id": f"fc_{number}_{index}",
                    "call_id": _call_id(reply, index, number),
                    "name": call.name,
                    "arguments": call.arguments,
                    "status": "completed",
                }
            )
    body: dict[str, Any] = {
        "id": f"resp_{number}",
        "object": "response",
        "created_at": CREATED,
        "status": status,
        "model": _model(reply, request),
        "output": output,
        "error": None,
        "incomplete_details": None,
        "instructions": request.get("instructions"),
        "metadata": {},
        "parallel_tool_calls": True,
        "temperature": request.get("temperature"),
        "top_p": request.get("top_p"),
        "tool_choice": "auto",
        "tools": request.get("tools") or [],
        "usage": None,
    }
    if status == "completed":
        body["usage"] = {
            "input_tokens": prompt,
            "output_tokens": completion,
            "total_tokens": prompt + completion,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens_details": {"reasoning_tokens": 0},
        }
    return body


def response_events(reply: Reply, request: dict[str, Any], number: int) -> list[dict[str, Any]]:
    """The events of a streamed response, in the order OpenAI sends them and ``responses.stream()`` needs.

    ``response.created`` and ``response.in_progress``; per output item ``output_item.added``, then for a
    message ``content_part.added``, ``output_text.delta``..., ``output_text.done``, ``content_part.done``, and
    for a function call ``function_call_arguments.delta``..., ``function_call_arguments.done``; then
    ``output_item.done`` with the finished item; last ``response.completed``. The items and their ids are those
    of :func:`response_object`, so the final response matches the items streamed before it.
    """
    events: list[dict[str, Any]] = []

    def add(kind: str, content: bool = False, **fields: Any) -> None:
        event = {"type": kind, "sequence_number": len(events), **fields}
        if content:
            event["_content"] = True
        events.append(event)

    add("response.created", response=response_object(reply, request, number, "in_progress"))
    add("response.in_progress", response=response_object(reply, request, number, "in_progress"))
    items = response_object(reply, request, number, "completed")["output"]
    for index, item in enumerate(items):
        item_id = item["id"]
        if item["type"] == "message":
            add(
                "response.output_item.added",
                output_index=index,
                item={**item, "status": "in_progress", "content": []},
            )
            part = item["content"][0]
            at = {"item_id": item_id, "output_index": index, "content_index": 0}
            add("response.content_part.added", **at, part={**part, "text": ""})
            for i, word in enumerate(_words(part["text"])):
                add("response.output_text.delta", True, **at, delta=word if i == 0 else " " + word, logprobs=[])
            add("response.output_text.done", **at, text=part["text"], logprobs=[])
            add("response.content_part.done", **at, part=part)
        else:  # function_call
            add(
                "response.output_item.added",
                output_index=index,
                item={**item, "status": "in_progress", "arguments": ""},
            )
            arguments = item["arguments"]
            half = len(arguments) // 2
            for piece in (arguments[:half], arguments[half:]):
                add("response.function_call_arguments.delta", True, item_id=item_id, output_index=index, delta=piece)
            add(
                "response.function_call_arguments.done",
                item_id=item_id,
                output_index=index,
                name=item["name"],
                arguments=arguments,
            )
        add("response.output_item.done", output_index=index, item=item)
    add("response.completed", response=response_object(reply, request, number, "completed"))
    return events


def embeddings(reply: Reply, request: dict[str, Any]) -> dict[str, Any]:
    value = request.get("input")
    inputs = [value] if isinstance(value, str) else list(value or [])
    base64_format = request.get("encoding_format") == "base64"
    data = []
    for index in range(len(inputs)):
        vector = [round(0.1 * (index + 1) + 0.01 * k, 4) for k in range(4)]
        embedding: Any = base64.b64encode(struct.pack("<4f", *vector)).decode() if base64_format else vector
        data.append({"object": "embedding", "index": index, "embedding": embedding})
    tokens = sum(len(str(t).split()) for t in inputs) or 1
    return {
        "object": "list",
        "data": data,
        "model": _model(reply, request),
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
