"""What the spans keep of the user's and the model's content, with content capture off and on."""

from __future__ import annotations

import json
from typing import Any

import openai
import pydantic
import pytest
from opentelemetry.trace import StatusCode

from agentlightning import semconv as sc
from agentlightning.instrumentation import instrument_openai, uninstrument_all
from agentlightning.testing import Reply, ScriptedOpenAIServer

pytestmark = pytest.mark.usefixtures("instrumented")

MESSAGES = [{"role": "user", "content": "Who is the patient?"}]
SECRET_ANSWER = "The patient Jane Doe is HIV positive"
MCP_TOOL = {
    "type": "mcp",
    "server_label": "crm",
    "server_url": "https://crm.internal/mcp",
    "headers": {"Authorization": "Bearer sk-live-SECRET"},
    "authorization": "oauth-SECRET-token",
    "require_approval": "never",
}
FUNCTION_TOOL = {
    "type": "function",
    "function": {
        "name": "lookup_customer",
        "description": "Look up a customer. Internal: the DB password is hunter2",
        "parameters": {"type": "object", "properties": {"ssn": {"type": "string"}}},
    },
}


def tool_definitions(span: Any) -> Any:
    return json.loads(span.attributes[sc.GEN_AI_TOOL_DEFINITIONS])


# ---- tool definitions ---------------------------------------------------------------------------


def test_tool_definitions_without_capture_are_names_only(client: openai.OpenAI, llm_spans: Any) -> None:
    client.responses.create(model="m", input="hi", tools=[MCP_TOOL])  # type: ignore[list-item]
    client.chat.completions.create(model="m", messages=MESSAGES, tools=[FUNCTION_TOOL])  # type: ignore[list-item]
    responses_span, chat_span = llm_spans()
    assert tool_definitions(responses_span) == [{"type": "mcp"}]
    assert tool_definitions(chat_span) == [{"type": "function", "name": "lookup_customer"}]
    recorded = responses_span.attributes[sc.GEN_AI_TOOL_DEFINITIONS] + chat_span.attributes[sc.GEN_AI_TOOL_DEFINITIONS]
    assert "SECRET" not in recorded and "hunter2" not in recorded


def test_tool_definitions_with_capture_keep_no_credentials(client: openai.OpenAI, llm_spans: Any) -> None:
    instrument_openai(capture_content=True)
    client.responses.create(model="m", input="hi", tools=[MCP_TOOL])  # type: ignore[list-item]
    client.chat.completions.create(model="m", messages=MESSAGES, tools=[FUNCTION_TOOL])  # type: ignore[list-item]
    responses_span, chat_span = llm_spans()
    [mcp] = tool_definitions(responses_span)
    assert mcp == {k: v for k, v in MCP_TOOL.items() if k not in ("headers", "authorization")}
    assert "SECRET" not in responses_span.attributes[sc.GEN_AI_TOOL_DEFINITIONS]
    # the whole function definition, flattened to the GenAI form, description and schema included
    assert tool_definitions(chat_span) == [{"type": "function", **FUNCTION_TOOL["function"]}]  # type: ignore[dict-item]


# ---- errors from reading the model's output -----------------------------------------------------


class Diagnosis(pydantic.BaseModel):
    diagnosis: str


def _recorded_text(span: Any) -> str:
    events = [dict(e.attributes or {}) for e in span.events]
    return json.dumps([span.status.description, dict(span.attributes), events], default=str)


def test_parse_failure_without_capture_keeps_the_answer_out_of_the_span(
    client: openai.OpenAI, server: ScriptedOpenAIServer, llm_spans: Any
) -> None:
    server.script(Reply(content=SECRET_ANSWER))
    with pytest.raises(pydantic.ValidationError) as info:
        client.chat.completions.parse(model="m", messages=MESSAGES, response_format=Diagnosis)
    assert "Jane Doe" in str(info.value)  # the user's exception is untouched
    [span] = llm_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[sc.ERROR_TYPE] == "ValidationError"
    assert span.status.description == "ValidationError (message withheld: content capture is off)"
    [event] = span.events
    assert event.name == "exception" and "exception.message" not in event.attributes
    assert event.attributes["exception.type"] == "pydantic_core._pydantic_core.ValidationError"
    assert "Jane Doe" not in _recorded_text(span)


def test_parse_failure_with_capture_records_the_message(
    client: openai.OpenAI, server: ScriptedOpenAIServer, llm_spans: Any
) -> None:
    instrument_openai(capture_content=True)
    server.script(Reply(content=SECRET_ANSWER))
    with pytest.raises(pydantic.ValidationError):
        client.chat.completions.parse(model="m", messages=MESSAGES, response_format=Diagnosis)
    [span] = llm_spans()
    assert "Jane Doe" in span.status.description
    assert "Jane Doe" in span.events[0].attributes["exception.message"]


def test_api_errors_keep_their_message_without_capture(
    client: openai.OpenAI, server: ScriptedOpenAIServer, llm_spans: Any
) -> None:
    server.script(Reply.error(400, "model m is not available"))
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="m", messages=MESSAGES)
    [span] = llm_spans()
    assert "model m is not available" in span.status.description
    assert "model m is not available" in span.events[0].attributes["exception.message"]


# ---- OpenTelemetry's capture setting ------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "captured"),
    [
        ("SPAN_ONLY", True),
        ("span_and_event", True),
        ("Event_Only", True),
        ("NO_CONTENT", False),
        ("true", True),
        ("false", False),
    ],
)
def test_otel_capture_environment_values(
    client: openai.OpenAI, llm_spans: Any, monkeypatch: pytest.MonkeyPatch, value: str, captured: bool
) -> None:
    uninstrument_all()
    monkeypatch.delenv(sc.CAPTURE_CONTENT_ENV, raising=False)
    monkeypatch.setenv(sc.OTEL_CAPTURE_CONTENT_ENV, value)
    instrument_openai()
    client.chat.completions.create(model="m", messages=MESSAGES)
    assert (sc.GEN_AI_INPUT_MESSAGES in llm_spans()[0].attributes) is captured
