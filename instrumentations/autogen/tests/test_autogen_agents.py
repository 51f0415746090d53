"""A real AutoGen program against the scripted local server: the span tree a user sees in a rollout."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from autogen_agentchat.agents import AssistantAgent
from autogen_agentchat.conditions import MaxMessageTermination, TextMentionTermination
from autogen_agentchat.teams import RoundRobinGroupChat
from autogen_core import CancellationToken
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from agentlightning import semconv as sc
from agentlightning.testing import Reply, ScriptedOpenAIServer, ToolCall

OURS = "agentlightning.autogen"


def tree(spans: InMemorySpanExporter) -> tuple[list[ReadableSpan], dict[int, ReadableSpan]]:
    finished = list(spans.get_finished_spans())
    return finished, {s.context.span_id: s for s in finished}


def parent_name(span: ReadableSpan, by_id: dict[int, ReadableSpan]) -> str | None:
    return by_id[span.parent.span_id].name if span.parent is not None else None


def assert_only_ours(finished: list[ReadableSpan]) -> None:
    """No AutoGen duplicates (autogen-core's GenAI or runtime spans), one trace, every span ours or openai's."""
    scopes = {s.instrumentation_scope.name for s in finished if s.instrumentation_scope}
    assert scopes <= {OURS, "agentlightning.openai"}, scopes
    assert len({s.context.trace_id for s in finished}) == 1


def llm_spans(finished: list[ReadableSpan]) -> list[ReadableSpan]:
    return [s for s in finished if s.name.startswith("chat ")]


def weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


def broken(city: str) -> str:
    """A tool that always fails."""
    raise RuntimeError(f"no station in {city}")


async def test_one_agent_run(
    instrumented: InMemorySpanExporter, model_client: Any, server: ScriptedOpenAIServer
) -> None:
    server.script(Reply("Paris.", prompt_tokens=11, completion_tokens=3))
    agent = AssistantAgent("solver", model_client=model_client, description="solves things")
    result = await agent.run(task="Capital of France?")
    assert result.messages[-1].content == "Paris."

    finished, by_id = tree(instrumented)
    assert_only_ours(finished)
    names = [(s.name, parent_name(s, by_id)) for s in finished]
    assert names == [
        ("chat scripted-model", "invoke_agent solver"),
        ("invoke_agent solver", "invoke_agent solver"),  # the turn, under the run
        ("invoke_agent solver", None),
    ]
    (llm,) = llm_spans(finished)
    assert llm.attributes is not None
    assert llm.attributes[sc.GEN_AI_USAGE_INPUT_TOKENS] == 11
    assert llm.attributes[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 3
    run = finished[-1]
    assert run.attributes is not None and run.attributes["gen_ai.agent.description"] == "solves things"
    assert run.attributes["agentlightning.autogen.message_count"] == 2
    assert sc.GEN_AI_INPUT_MESSAGES not in llm.attributes  # no content without capture


async def test_agent_with_tool(
    instrumented: InMemorySpanExporter, model_client: Any, server: ScriptedOpenAIServer
) -> None:
    server.script(
        Reply(
            None,
            tool_calls=[ToolCall("weather", '{"city": "Oslo"}', id="call_1")],
            prompt_tokens=20,
            completion_tokens=5,
        ),
        Reply("It is sunny.", prompt_tokens=30, completion_tokens=4),
    )
    agent = AssistantAgent("solver", model_client=model_client, tools=[weather], reflect_on_tool_use=True)
    await agent.run(task="Weather in Oslo?")

    finished, by_id = tree(instrumented)
    assert_only_ours(finished)
    (tool,) = [s for s in finished if s.name == "execute_tool weather"]
    assert parent_name(tool, by_id) == "invoke_agent solver"
    assert tool.attributes is not None and tool.attributes[sc.GEN_AI_TOOL_CALL_ID] == "call_1"
    llms = llm_spans(finished)
    assert len(llms) == 2 == len(server.requests)
    assert [s.attributes[sc.GEN_AI_USAGE_INPUT_TOKENS] for s in llms if s.attributes] == [20, 30]
    assert sum(1 for s in finished if s.name == "invoke_agent solver") == 2


async def test_tool_that_raises(
    instrumented: InMemorySpanExporter, model_client: Any, server: ScriptedOpenAIServer
) -> None:
    server.script(Reply(None, tool_calls=[ToolCall("broken", '{"city": "Oslo"}', id="call_1")]))
    agent = AssistantAgent("solver", model_client=model_client, tools=[broken])
    result = await agent.run(task="Weather in Oslo?")  # AutoGen hands the error back as the tool's result
    assert "no station in Oslo" in str(result.messages[-1].content)

    finished, _ = tree(instrumented)
    assert_only_ours(finished)
    (tool,) = [s for s in finished if s.name == "execute_tool broken"]
    assert tool.status.status_code is StatusCode.ERROR
    assert tool.attributes is not None and tool.attributes["error.type"] == "RuntimeError"
    others = [s for s in finished if s is not tool]
    assert all(s.status.status_code is not StatusCode.ERROR for s in others)


async def test_round_robin_team(
    instrumented: InMemorySpanExporter, server: ScriptedOpenAIServer, make_client: Any
) -> None:
    server.script(
        Reply("draft", prompt_tokens=5, completion_tokens=1),
        Reply("looks good APPROVE", prompt_tokens=7, completion_tokens=3),
    )
    client = make_client()
    solver = AssistantAgent("solver", model_client=client)
    critic = AssistantAgent("critic", model_client=client)
    team = RoundRobinGroupChat(
        [solver, critic], termination_condition=TextMentionTermination("APPROVE") | MaxMessageTermination(10)
    )
    result = await team.run(task="Write a haiku.")
    await client.close()
    assert result.stop_reason and "APPROVE" in result.stop_reason

    finished, by_id = tree(instrumented)
    assert_only_ours(finished)
    (workflow,) = [s for s in finished if s.name.startswith("invoke_workflow ")]
    assert workflow.parent is None
    assert workflow.attributes is not None and "APPROVE" in str(
        workflow.attributes["agentlightning.autogen.stop_reason"]
    )
    turns = [s for s in finished if s.name.startswith("invoke_agent ")]
    assert sorted(s.name for s in turns) == ["invoke_agent critic", "invoke_agent solver"]
    assert all(s.parent is not None and s.parent.span_id == workflow.context.span_id for s in turns)
    llms = llm_spans(finished)
    assert len(llms) == 2
    assert sorted(parent_name(s, by_id) or "" for s in llms) == ["invoke_agent critic", "invoke_agent solver"]


async def test_run_stream_with_model_client_stream(
    instrumented: InMemorySpanExporter, server: ScriptedOpenAIServer, make_client: Any
) -> None:
    server.script(Reply("streamed answer", prompt_tokens=9, completion_tokens=2))
    model_client = make_client(stream_options={"include_usage": True})
    agent = AssistantAgent("solver", model_client=model_client, model_client_stream=True)
    items = [item async for item in agent.run_stream(task="Go")]
    assert items[-1].messages[-1].content == "streamed answer"

    finished, by_id = tree(instrumented)
    assert_only_ours(finished)
    (llm,) = llm_spans(finished)
    assert parent_name(llm, by_id) == "invoke_agent solver"
    assert llm.attributes is not None and llm.attributes[sc.GEN_AI_USAGE_INPUT_TOKENS] == 9
    assert [s.name for s in finished if s.parent is None] == ["invoke_agent solver"]
    await model_client.close()


async def test_stream_without_usage_writes_no_zero_counts(
    instrumented: InMemorySpanExporter, model_client: Any, server: ScriptedOpenAIServer
) -> None:
    server.script(Reply("streamed answer", prompt_tokens=9, completion_tokens=2))
    agent = AssistantAgent("solver", model_client=model_client, model_client_stream=True)
    await agent.run(task="Go")
    (llm,) = llm_spans(list(instrumented.get_finished_spans()))
    assert llm.attributes is not None and sc.GEN_AI_USAGE_INPUT_TOKENS not in llm.attributes


async def test_cancelled_run(
    instrumented: InMemorySpanExporter, model_client: Any, server: ScriptedOpenAIServer
) -> None:
    server.script(Reply("too late", delay=5.0))
    agent = AssistantAgent("solver", model_client=model_client)
    token = CancellationToken()
    task = asyncio.ensure_future(agent.run(task="Go", cancellation_token=token))
    while not server.requests:
        await asyncio.sleep(0.01)
    token.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    finished, _ = tree(instrumented)
    assert_only_ours(finished)
    assert {s.name for s in finished} >= {"invoke_agent solver", "chat scripted-model"}
    agent_spans = [s for s in finished if s.name == "invoke_agent solver"]
    assert len(agent_spans) == 2  # the turn and the run, both ended
    (llm,) = llm_spans(finished)  # the model call in flight when the token was cancelled
    for span in [*agent_spans, llm]:  # a cancellation is not a crash
        assert span.attributes is not None and span.attributes["agentlightning.autogen.cancelled"] is True
        assert span.status.status_code is not StatusCode.ERROR


async def test_team_max_turns(
    instrumented: InMemorySpanExporter, server: ScriptedOpenAIServer, make_client: Any
) -> None:
    server.script(Reply("one"), Reply("two"))
    client = make_client()
    team = RoundRobinGroupChat(
        [AssistantAgent("solver", model_client=client), AssistantAgent("critic", model_client=client)], max_turns=2
    )
    result = await team.run(task="Go")
    await client.close()
    assert result.stop_reason is not None

    finished, by_id = tree(instrumented)
    assert_only_ours(finished)
    assert [s.name for s in finished if s.parent is None] == ["invoke_workflow RoundRobinGroupChat"]
    assert sorted(s.name for s in finished if parent_name(s, by_id) == "invoke_workflow RoundRobinGroupChat") == [
        "invoke_agent critic",
        "invoke_agent solver",
    ]
    assert len(llm_spans(finished)) == 2


async def test_content_only_with_capture(
    spans: InMemorySpanExporter, model_client: Any, server: ScriptedOpenAIServer
) -> None:
    from agentlightning.instrumentation import instrument, uninstrument_all

    instrument("autogen", capture_content=True)
    try:
        server.script(Reply("Paris."))
        await AssistantAgent("solver", model_client=model_client).run(task="Capital of France?")
    finally:
        uninstrument_all()
    (llm,) = llm_spans(list(spans.get_finished_spans()))
    assert llm.attributes is not None
    assert "Capital of France?" in str(llm.attributes[sc.GEN_AI_INPUT_MESSAGES])
    assert "Paris." in str(llm.attributes[sc.GEN_AI_OUTPUT_MESSAGES])


async def test_runtime_spans_only_when_asked(
    spans: InMemorySpanExporter, server: ScriptedOpenAIServer, make_client: Any
) -> None:
    from agentlightning.instrumentation import instrument, uninstrument_all

    instrument("autogen", trace_runtime=True)
    try:
        server.script(Reply("done"))
        client = make_client()
        team = RoundRobinGroupChat([AssistantAgent("solver", model_client=client)], max_turns=1)
        await team.run(task="Go")
        await client.close()
    finally:
        uninstrument_all()
    scopes = {s.instrumentation_scope.name for s in spans.get_finished_spans() if s.instrumentation_scope}
    assert any(scope.startswith("autogen ") for scope in scopes), scopes  # the runtime's messaging spans
    assert "autogen-core" not in scopes  # its GenAI duplicates stay replaced
