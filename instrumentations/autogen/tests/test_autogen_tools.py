"""Tool runs: arguments and results only with content capture, errors on the tool's span, streaming tools
(``BaseStreamTool.run_json_stream``: an agent used as a tool) as one span each."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from autogen_agentchat.agents import AssistantAgent
from autogen_agentchat.tools import AgentTool
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode
from test_autogen_agents import assert_only_ours, broken, llm_spans, parent_name, tree, weather

from agentlightning import semconv as sc
from agentlightning.instrumentation import instrument, uninstrument_all
from agentlightning.testing import Reply, ScriptedOpenAIServer, ToolCall


@pytest.fixture(params=[False, True], ids=["no-capture", "capture"])
def capture(request: pytest.FixtureRequest, spans: InMemorySpanExporter) -> Iterator[bool]:
    instrument("autogen", capture_content=request.param)
    instrument("openai", capture_content=request.param)
    try:
        yield request.param
    finally:
        uninstrument_all()


async def test_tool_arguments_and_result_only_with_capture(
    capture: bool, spans: InMemorySpanExporter, model_client: Any, server: ScriptedOpenAIServer
) -> None:
    server.script(Reply(None, tool_calls=[ToolCall("weather", '{"city": "Oslo"}', id="call_7")]))
    await AssistantAgent("solver", model_client=model_client, tools=[weather]).run(task="Weather in Oslo?")

    (tool,) = [s for s in spans.get_finished_spans() if s.name == "execute_tool weather"]
    attributes = dict(tool.attributes or {})
    assert attributes[sc.GEN_AI_TOOL_CALL_ID] == "call_7"
    assert attributes["gen_ai.tool.description"] == "The weather in a city."
    if capture:
        assert json.loads(attributes[sc.GEN_AI_TOOL_CALL_ARGUMENTS]) == {"city": "Oslo"}
        assert attributes[sc.GEN_AI_TOOL_CALL_RESULT] == "sunny in Oslo"
    else:
        assert sc.GEN_AI_TOOL_CALL_ARGUMENTS not in attributes
        assert sc.GEN_AI_TOOL_CALL_RESULT not in attributes


async def test_tool_that_raises_with_capture(
    capture: bool, spans: InMemorySpanExporter, model_client: Any, server: ScriptedOpenAIServer
) -> None:
    server.script(Reply(None, tool_calls=[ToolCall("broken", '{"city": "Oslo"}', id="call_1")]))
    result = await AssistantAgent("solver", model_client=model_client, tools=[broken]).run(task="Weather?")
    assert "no station in Oslo" in str(result.messages[-1].content)  # AutoGen gives the error to the model

    (tool,) = [s for s in spans.get_finished_spans() if s.name == "execute_tool broken"]
    assert tool.status.status_code is StatusCode.ERROR
    attributes = dict(tool.attributes or {})
    assert attributes["error.type"] == "RuntimeError" and sc.GEN_AI_TOOL_CALL_RESULT not in attributes
    assert ("no station in Oslo" in str(tool.status.description)) is capture  # the message only with capture
    assert [e.name for e in tool.events] == ["exception"]


async def test_agent_as_a_streaming_tool_is_one_tool_span(
    instrumented: InMemorySpanExporter, make_client: Any, server: ScriptedOpenAIServer
) -> None:
    server.script(
        Reply(None, tool_calls=[ToolCall("writer", '{"task": "a haiku"}', id="call_w")], prompt_tokens=12),
        Reply("old pond, a frog", prompt_tokens=4, completion_tokens=4),  # the writer, run as the tool
    )
    client = make_client(parallel_tool_calls=False)
    writer = AssistantAgent("writer", model_client=client, description="writes poems")
    manager = AssistantAgent("manager", model_client=client, tools=[AgentTool(writer)])
    result = await manager.run(task="Get me a haiku.")
    await client.close()
    assert "old pond, a frog" in str(result.messages[-1].content)

    finished, by_id = tree(instrumented)
    assert_only_ours(finished)
    (tool,) = [s for s in finished if s.name.startswith("execute_tool")]  # run_json_stream, not run_json too
    assert tool.name == "execute_tool writer" and parent_name(tool, by_id) == "invoke_agent manager"
    assert tool.attributes is not None and tool.attributes[sc.GEN_AI_TOOL_CALL_ID] == "call_w"
    writer_spans = [s for s in finished if s.name == "invoke_agent writer"]
    (writer_run,) = [s for s in writer_spans if parent_name(s, by_id) == "execute_tool writer"]
    llms = llm_spans(finished)
    assert len(llms) == 2 == len(server.requests)
    assert sorted(parent_name(s, by_id) or "" for s in llms) == ["invoke_agent manager", "invoke_agent writer"]
    assert writer_run.status.status_code is not StatusCode.ERROR


async def test_streaming_tool_result_only_with_capture(
    capture: bool, spans: InMemorySpanExporter, make_client: Any, server: ScriptedOpenAIServer
) -> None:
    server.script(
        Reply(None, tool_calls=[ToolCall("writer", '{"task": "a haiku"}', id="call_w")]),
        Reply("old pond, a frog"),
    )
    client = make_client(parallel_tool_calls=False)
    writer = AssistantAgent("writer", model_client=client)
    await AssistantAgent("manager", model_client=client, tools=[AgentTool(writer)]).run(task="Get me a haiku.")
    await client.close()

    (tool,) = [s for s in spans.get_finished_spans() if s.name == "execute_tool writer"]
    attributes = dict(tool.attributes or {})
    if capture:
        assert json.loads(attributes[sc.GEN_AI_TOOL_CALL_ARGUMENTS]) == {"task": "a haiku"}
        assert "old pond, a frog" in attributes[sc.GEN_AI_TOOL_CALL_RESULT]  # the TaskResult, as JSON
    else:
        assert sc.GEN_AI_TOOL_CALL_ARGUMENTS not in attributes and sc.GEN_AI_TOOL_CALL_RESULT not in attributes
