"""TraceToMessages: LLM call spans to OpenAI fine-tuning records."""

from __future__ import annotations

import json
from typing import Any

from agentlightning.adapter import TraceToMessages
from agentlightning.types import Span


def span(sid: str, name: str, start: float, attrs: dict[str, Any], parent: str | None = None) -> Span:
    return Span(
        rollout_id="ro-1",
        attempt_id="at-1",
        sequence_id=0,
        trace_id="b" * 32,
        span_id=sid,
        parent_id=parent,
        name=name,
        attributes=attrs,
        start_time=start,
        end_time=start + 1,
    )


def chat(sid: str, start: float, inputs: Any, outputs: Any, rid: str | None = None, **extra: Any) -> Span:
    attrs: dict[str, Any] = {"gen_ai.operation.name": "chat", **extra}
    if inputs is not None:
        attrs["gen_ai.input.messages"] = json.dumps(inputs)
    if outputs is not None:
        attrs["gen_ai.output.messages"] = json.dumps(outputs)
    if rid is not None:
        attrs["gen_ai.response.id"] = rid
    return span(sid, "chat gpt-4o-mini", start, attrs)


def text(role: str, content: str) -> dict[str, Any]:
    return {"role": role, "parts": [{"type": "text", "content": content}]}


WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}


def test_semconv_messages_with_tool_call_and_tool_definitions() -> None:
    outputs = [
        {
            "role": "assistant",
            "parts": [{"type": "tool_call", "id": "call_1", "name": "get_weather", "arguments": {"city": "Paris"}}],
            "finish_reason": "tool_calls",
        }
    ]
    call = chat(
        "c1",
        1,
        [text("system", "Be brief."), text("user", "Weather in Paris?")],
        outputs,
        **{"gen_ai.tool.definitions": json.dumps([WEATHER_TOOL])},
    )
    assert TraceToMessages().adapt([call]) == [
        {
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Weather in Paris?"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                        }
                    ],
                },
            ],
            "tools": [
                {
                    "type": "function",
                    "function": {
                        "name": "get_weather",
                        "description": "Weather for a city",
                        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
                    },
                }
            ],
        }
    ]


def test_second_turn_carries_tool_results_and_final_answer() -> None:
    inputs = [
        text("user", "Weather in Paris?"),
        {
            "role": "assistant",
            "parts": [{"type": "tool_call", "id": "call_1", "name": "get_weather", "arguments": "{}"}],
        },
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": "call_1", "response": {"temp": 21}}]},
    ]
    (record,) = TraceToMessages().adapt([chat("c2", 2, inputs, [text("assistant", "21°C.")])])
    assert record["messages"][1]["tool_calls"][0]["function"] == {"name": "get_weather", "arguments": "{}"}
    assert record["messages"][2] == {"role": "tool", "tool_call_id": "call_1", "content": '{"temp": 21}'}
    assert record["messages"][3] == {"role": "assistant", "content": "21°C."}
    assert record["tools"] is None


def test_openai_shaped_messages_and_choices_pass_through() -> None:
    inputs = [{"role": "user", "content": "hi", "name": "bob"}]
    outputs = [{"index": 0, "message": {"role": "assistant", "content": "hello"}, "finish_reason": "stop"}]
    tools = [{"type": "function", "function": {"name": "f", "parameters": '{"type": "object"}'}}]
    call = chat("c", 1, inputs, outputs, **{"gen_ai.tool.definitions": json.dumps(tools)})
    (record,) = TraceToMessages().adapt([call])
    assert record["messages"] == [
        {"role": "user", "content": "hi", "name": "bob"},
        {"role": "assistant", "content": "hello"},
    ]
    assert record["tools"] == [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]


def test_system_instructions_become_the_leading_system_message() -> None:
    call = chat(
        "c",
        1,
        [text("user", "hi")],
        [text("assistant", "hello")],
        **{"gen_ai.system_instructions": json.dumps([{"type": "text", "content": "You are terse."}])},
    )
    (record,) = TraceToMessages().adapt([call])
    assert record["messages"][0] == {"role": "system", "content": "You are terse."}
    assert len(record["messages"]) == 3


def test_calls_without_recorded_content_are_skipped() -> None:
    spans = [
        chat("nothing", 1, None, None),
        chat("no-reply", 2, [text("user", "hi")], None),
        chat("no-input", 2.5, None, [text("assistant", "orphan reply")]),
        chat("empty-reply", 3, [text("user", "hi")], [{"role": "assistant", "parts": []}]),
        chat("ok", 4, [text("user", "hi")], [text("assistant", "yo")]),
    ]
    records = TraceToMessages().adapt(spans)
    assert [r["messages"][-1]["content"] for r in records] == ["yo"]


def test_agentops_flattened_attributes() -> None:
    attrs = {
        "gen_ai.prompt.0.role": "user",
        "gen_ai.prompt.0.content": "add 1 and 2",
        "gen_ai.completion.0.role": "assistant",
        "gen_ai.completion.0.tool_calls.0.id": "t1",
        "gen_ai.completion.0.tool_calls.0.name": "add",
        "gen_ai.completion.0.tool_calls.0.arguments": '{"a": 1, "b": 2}',
        "gen_ai.request.functions.0.name": "add",
        "gen_ai.request.functions.0.parameters": '{"type": "object"}',
    }
    (record,) = TraceToMessages().adapt([span("c", "openai.chat.completion", 1, attrs)])
    assert record["messages"][0] == {"role": "user", "content": "add 1 and 2"}
    assert record["messages"][1]["tool_calls"] == [
        {"id": "t1", "type": "function", "function": {"name": "add", "arguments": '{"a": 1, "b": 2}'}}
    ]
    assert record["tools"] == [{"type": "function", "function": {"name": "add", "parameters": {"type": "object"}}}]


def test_start_order_dedup_and_non_llm_spans_ignored() -> None:
    spans = [
        chat("late", 5, [text("user", "second")], [text("assistant", "2")], rid="r2"),
        chat("early", 1, [text("user", "first")], [text("assistant", "1")], rid="r1"),
        chat("dup", 6, [text("user", "first")], [text("assistant", "1")], rid="r1"),
        span(
            "agent",
            "invoke_agent solver",
            0,
            {
                "gen_ai.operation.name": "invoke_agent",
                "gen_ai.input.messages": json.dumps([text("user", "agent input")]),
                "gen_ai.output.messages": json.dumps([text("assistant", "agent output")]),
            },
        ),
    ]
    records = TraceToMessages().adapt(spans)
    assert [r["messages"][0]["content"] for r in records] == ["first", "second"]


def test_duplicate_without_content_does_not_hide_the_one_with_content() -> None:
    spans = [
        chat("outer", 1, None, None, rid="r1"),
        chat("inner", 2, [text("user", "q")], [text("assistant", "a")], rid="r1"),
    ]
    assert len(TraceToMessages().adapt(spans)) == 1


def test_image_parts_become_openai_content_parts() -> None:
    inputs = [
        {
            "role": "user",
            "parts": [
                {"type": "text", "content": "What is this?"},
                {"type": "uri", "modality": "image", "uri": "https://x/cat.png"},
                {"type": "blob", "modality": "image", "mime_type": "image/jpeg", "content": "QUJD"},
            ],
        }
    ]
    (record,) = TraceToMessages().adapt([chat("c", 1, inputs, [text("assistant", "A cat.")])])
    assert record["messages"][0]["content"] == [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "https://x/cat.png"}},
        {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,QUJD"}},
    ]
