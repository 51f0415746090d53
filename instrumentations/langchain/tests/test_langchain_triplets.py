"""LangGraph agents inside a rollout, to training data: one triplet per model call, in call order, rewards
matched, with structured-output calls and a multi-node graph; ``agent_match`` picks the agent or the nodes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from typing import Any, TypedDict

import pytest
from langchain.agents import create_agent
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from langgraph.graph import END, START, StateGraph
from pydantic import BaseModel

import agentlightning as agl
from agentlightning.adapter import TracerTraceToTriplet
from agentlightning.instrumentation import instrument, uninstrument_all
from agentlightning.testing import Reply, ScriptedOpenAIServer, ToolCall
from agentlightning.types import Span


@pytest.fixture(params=["langchain", "langchain+openai", "openai+langchain"])
def plugins(request: pytest.FixtureRequest) -> Iterator[str]:
    for name in str(request.param).split("+"):
        instrument(name)
    try:
        yield str(request.param)
    finally:
        uninstrument_all()


def _rollout(body: Callable[[], None]) -> list[Span]:
    """Run ``body`` as one rollout with content capture on; its spans from the store."""
    from agentlightning.store.memory import InMemoryLightningStore
    from agentlightning.tracer.otel import OtelTracer

    store = InMemoryLightningStore()
    tracer = OtelTracer()
    with tracer.lifespan(store):
        rollout = asyncio.run(store.start_rollout(input={}))
        with tracer.trace_context(
            "agent", rollout_id=rollout.rollout_id, attempt_id=rollout.attempt.attempt_id, capture_content=True
        ):
            body()
        return list(asyncio.run(store.query_spans(rollout.rollout_id)))


def _numbers(triplets: list[Any]) -> list[int]:
    """The server's reply numbers (``chatcmpl-N``) of the triplets' responses, to compare call orders."""
    return [int(str(t.metadata["response_id"]).removeprefix("chatcmpl-")) for t in triplets]


def _in_call_order(triplets: list[Any], count: int) -> list[int]:
    numbers = _numbers(triplets)
    assert len(numbers) == count and numbers == list(range(numbers[0], numbers[0] + count)), numbers
    return numbers


def _ids(text: str, base: int) -> list[int]:
    return [base + i for i, _ in enumerate(text.split())]


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def test_agent_with_a_tool_one_triplet_per_call(plugins: str, server: ScriptedOpenAIServer) -> None:
    server.script(
        Reply(tool_calls=[ToolCall("add", '{"a": 2, "b": 3}')], prompt_token_ids=[1, 2], response_token_ids=[10]),
        Reply(content="5", prompt_token_ids=[1, 2, 10, 3], response_token_ids=[11]),
    )
    model = ChatOpenAI(model="gpt-test", base_url=server.base_url, api_key="k", max_retries=0)  # type: ignore[arg-type]

    def body() -> None:
        answer = create_agent(model, [add], name="calc").invoke({"messages": [("user", "2+3?")]})
        agl.emit_reward(1.0 if answer["messages"][-1].content == "5" else 0.0)

    spans = _rollout(body)
    triplets = TracerTraceToTriplet()(spans)
    assert [t.reward for t in triplets] == [None, 1.0]  # the reward goes to the last call before it
    assert [t.metadata["agent_name"] for t in triplets] == ["calc", "calc"]
    _in_call_order(triplets, 2)
    first, second = (t.response["raw_content"] for t in triplets)
    assert [p["name"] for p in first[0]["parts"] if p["type"] == "tool_call"] == ["add"]
    assert second[0]["parts"] == [{"type": "text", "content": "5"}]
    if "openai" in plugins:
        assert [t.response["token_ids"] for t in triplets] == [[10], [11]]
        assert [t.prompt["token_ids"] for t in triplets] == [[1, 2], [1, 2, 10, 3]]
    assert len(TracerTraceToTriplet(agent_match="^calc$")(spans)) == 2
    assert len(TracerTraceToTriplet(agent_match="^model$")(spans)) == 2  # the agent's model node
    assert TracerTraceToTriplet(agent_match="^other$")(spans) == []


class _Plan(BaseModel):
    steps: list[str]


class _State(TypedDict, total=False):
    topic: str
    plan: list[str]
    draft: str
    final: str


def _writer_graph(model: ChatOpenAI) -> Any:
    def plan(state: _State) -> _State:
        result = model.with_structured_output(_Plan, method="json_schema").invoke(f"Plan: {state['topic']}")
        assert isinstance(result, _Plan)
        return {"plan": result.steps}

    def write(state: _State) -> _State:
        return {"draft": str(model.invoke("Write: " + ", ".join(state["plan"])).content)}

    def grade(state: _State) -> _State:
        agl.emit_reward(0.5 if state["draft"] else 0.0)  # a reward for the draft, mid-graph
        return {}

    def review(state: _State) -> _State:
        return {"final": str(model.invoke("Review: " + state["draft"]).content)}

    builder = StateGraph(_State)
    for name, node in (("plan", plan), ("write", write), ("grade", grade), ("review", review)):
        builder.add_node(name, node)
    builder.add_edge(START, "plan")
    builder.add_edge("plan", "write")
    builder.add_edge("write", "grade")
    builder.add_edge("grade", "review")
    builder.add_edge("review", END)
    return builder.compile(name="writer")


def test_multi_node_graph_with_structured_output(plugins: str, server: ScriptedOpenAIServer) -> None:
    replies = ['{"steps": ["intro", "body"]}', "a short draft", "a better draft"]
    token_ids = [_ids(text, 100 * (i + 1)) for i, text in enumerate(replies)]
    server.script(*(Reply(content=text, response_token_ids=ids) for text, ids in zip(replies, token_ids, strict=True)))
    model = ChatOpenAI(model="gpt-test", base_url=server.base_url, api_key="k", max_retries=0)  # type: ignore[arg-type]

    def body() -> None:
        final = _writer_graph(model).invoke({"topic": "otters"})
        agl.emit_reward(1.0 if final["final"] == "a better draft" else 0.0)

    spans = _rollout(body)
    assert sum(1 for s in spans if s.name == "chat gpt-test") == 3  # one LLM span per model call
    triplets = TracerTraceToTriplet()(spans)
    first = _in_call_order(triplets, 3)[0]
    assert [t.reward for t in triplets] == [None, 0.5, 1.0]
    structured = triplets[0]
    assert structured.prompt["raw_content"][0]["parts"][0]["content"] == "Plan: otters"
    assert json.loads(structured.response["raw_content"][0]["parts"][0]["content"]) == {"steps": ["intro", "body"]}
    if "openai" in plugins:  # token ids too, the structured-output call (``parse``) included
        assert [t.response["token_ids"] for t in triplets] == token_ids
    # a hand-built graph has no agent span: agent_match picks nodes
    picked = TracerTraceToTriplet(agent_match="^(plan|write)$")(spans)
    assert _numbers(picked) == [first, first + 1]
    assert _numbers(TracerTraceToTriplet(agent_match="^review$")(spans)) == [first + 2]
    assert TracerTraceToTriplet(agent_match="^writer$")(spans) == []  # the graph is a workflow, not an agent
