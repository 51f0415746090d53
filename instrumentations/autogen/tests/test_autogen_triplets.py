"""A two-agent team inside a rollout: its spans reach the store, and triplets select one agent."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from autogen_agentchat.agents import AssistantAgent
from autogen_agentchat.conditions import TextMentionTermination
from autogen_agentchat.teams import RoundRobinGroupChat

from agentlightning.adapter import TracerTraceToTriplet
from agentlightning.testing import Reply, ScriptedOpenAIServer


def test_triplets_per_agent_with_agent_match(
    request: pytest.FixtureRequest, instrumented: Any, server: ScriptedOpenAIServer, make_client: Any
) -> None:
    from agentlightning.store.memory import InMemoryLightningStore
    from agentlightning.tracer.otel import OtelTracer

    # solver, critic, solver, critic (APPROVE): two model calls per agent
    server.script(
        *(
            Reply(text, prompt_token_ids=[i, i + 1], response_token_ids=[100 + i], prompt_tokens=2, completion_tokens=1)
            for i, text in enumerate(["draft 1", "try again", "draft 2", "APPROVE"])
        )
    )

    async def team_run() -> None:
        client = make_client()
        team = RoundRobinGroupChat(
            [AssistantAgent("solver", model_client=client), AssistantAgent("critic", model_client=client)],
            termination_condition=TextMentionTermination("APPROVE"),
        )
        await team.run(task="Write a haiku.")
        await client.close()

    store = InMemoryLightningStore()
    tracer = OtelTracer()
    with tracer.lifespan(store):
        rollout = asyncio.run(store.start_rollout(input={"task": "haiku"}))
        with tracer.trace_context("team", rollout_id=rollout.rollout_id, attempt_id=rollout.attempt.attempt_id):
            asyncio.run(team_run())
        spans = asyncio.run(store.query_spans(rollout.rollout_id))

    assert len({s.trace_id for s in spans}) == 1
    assert sum(1 for s in spans if s.name.startswith("chat ")) == 4  # one LLM span per model call
    everyone = TracerTraceToTriplet()(spans)
    assert len(everyone) == 4
    solver = TracerTraceToTriplet(agent_match="^solver$")(spans)
    critic = TracerTraceToTriplet(agent_match="critic")(spans)
    assert [t.metadata["agent_name"] for t in solver] == ["solver", "solver"]
    assert [t.metadata["agent_name"] for t in critic] == ["critic", "critic"]
    if request.node.callspec.params["instrumented"] == "autogen+openai":
        # the OpenAI layer under AutoGen's model client adds the token ids to the same LLM span
        assert [t.response["token_ids"] for t in solver] == [[100], [102]]
        assert [t.response["token_ids"] for t in critic] == [[101], [103]]


def test_selector_team_triplets_select_one_member(
    instrumented: Any, server: ScriptedOpenAIServer, make_client: Any
) -> None:
    """The selector's own model calls sit under the team span, not under a member: agent_match leaves them out."""
    from autogen_agentchat.teams import SelectorGroupChat

    from agentlightning.store.memory import InMemoryLightningStore
    from agentlightning.tracer.otel import OtelTracer

    server.script(Reply("solver"), Reply("391"), Reply("critic"), Reply("APPROVE"))

    async def team_run() -> None:
        client = make_client()
        members = [
            AssistantAgent("solver", model_client=client, description="computes"),
            AssistantAgent("critic", model_client=client, description="checks"),
            AssistantAgent("editor", model_client=client, description="edits"),
        ]
        team = SelectorGroupChat(members, model_client=client, termination_condition=TextMentionTermination("APPROVE"))
        await team.run(task="What is 17 * 23?")
        await client.close()

    store = InMemoryLightningStore()
    tracer = OtelTracer()
    with tracer.lifespan(store):
        rollout = asyncio.run(store.start_rollout(input={"task": "math"}))
        with tracer.trace_context("team", rollout_id=rollout.rollout_id, attempt_id=rollout.attempt.attempt_id):
            asyncio.run(team_run())
        spans = asyncio.run(store.query_spans(rollout.rollout_id))

    assert sum(1 for s in spans if s.name.startswith("chat ")) == 4
    solver = TracerTraceToTriplet(agent_match="^solver$")(spans)
    assert [t.metadata["agent_name"] for t in solver] == ["solver"]
    critic = TracerTraceToTriplet(agent_match="^critic$")(spans)
    assert [t.metadata["agent_name"] for t in critic] == ["critic"]
