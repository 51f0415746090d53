"""The other teams of autogen-agentchat 0.7: SelectorGroupChat, Swarm, MagenticOneGroupChat.

Each team run is one ``invoke_workflow {team}`` span at the root of one trace; the members' turns nest under
it, each model call is one ``chat`` span (also the team's own calls: the selector's and the orchestrator's
sit directly under the workflow), with and without the OpenAI plugin underneath.
"""

from __future__ import annotations

import json
from typing import Any

from autogen_agentchat.agents import AssistantAgent
from autogen_agentchat.conditions import HandoffTermination, MaxMessageTermination, TextMentionTermination
from autogen_agentchat.teams import MagenticOneGroupChat, SelectorGroupChat, Swarm
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from test_autogen_agents import assert_only_ours, llm_spans, parent_name, tree

from agentlightning import semconv as sc
from agentlightning.testing import Reply, ScriptedOpenAIServer, ToolCall


def children(finished: list[Any], by_id: dict[int, Any], parent: str) -> list[str]:
    return [s.name for s in finished if parent_name(s, by_id) == parent]


async def test_selector_group_chat(
    instrumented: InMemorySpanExporter, server: ScriptedOpenAIServer, make_client: Any
) -> None:
    server.script(
        Reply("solver", prompt_tokens=50, completion_tokens=1),  # the selector picks the solver
        Reply("draft", prompt_tokens=8, completion_tokens=1),
        Reply("critic", prompt_tokens=60, completion_tokens=1),  # then the critic
        Reply("APPROVE", prompt_tokens=9, completion_tokens=1),
    )
    client = make_client()
    members = [
        AssistantAgent("solver", model_client=client, description="solves the task"),
        AssistantAgent("critic", model_client=client, description="reviews the answer"),
        AssistantAgent("editor", model_client=client, description="edits the text"),
    ]
    team = SelectorGroupChat(
        members, model_client=client, termination_condition=TextMentionTermination("APPROVE") | MaxMessageTermination(8)
    )
    result = await team.run(task="Write a haiku.")
    await client.close()
    assert [m.source for m in result.messages] == ["user", "solver", "critic"]

    finished, by_id = tree(instrumented)
    assert_only_ours(finished)
    (workflow,) = [s for s in finished if s.parent is None]
    assert workflow.name == "invoke_workflow SelectorGroupChat"
    assert workflow.attributes is not None and "APPROVE" in str(
        workflow.attributes["agentlightning.autogen.stop_reason"]
    )
    assert sorted(children(finished, by_id, workflow.name)) == [
        "chat scripted-model",  # the two speaker selections
        "chat scripted-model",
        "invoke_agent critic",
        "invoke_agent solver",
    ]
    llms = llm_spans(finished)
    assert len(llms) == 4 == len(server.requests)  # one span per model call
    by_parent = {parent_name(s, by_id): s for s in llms if parent_name(s, by_id) != workflow.name}
    assert by_parent["invoke_agent solver"].attributes[sc.GEN_AI_USAGE_INPUT_TOKENS] == 8  # type: ignore[index]
    assert by_parent["invoke_agent critic"].attributes[sc.GEN_AI_USAGE_INPUT_TOKENS] == 9  # type: ignore[index]


async def test_swarm_with_a_handoff(
    instrumented: InMemorySpanExporter, server: ScriptedOpenAIServer, make_client: Any
) -> None:
    server.script(
        Reply(None, tool_calls=[ToolCall("transfer_to_bob", "{}", id="call_h")], prompt_tokens=20),
        Reply("done, APPROVE", prompt_tokens=30, completion_tokens=2),
    )
    client = make_client()
    team = Swarm(
        [AssistantAgent("alice", model_client=client, handoffs=["bob"]), AssistantAgent("bob", model_client=client)],
        termination_condition=TextMentionTermination("APPROVE") | HandoffTermination("user"),
    )
    result = await team.run(task="Pass it on.")
    await client.close()
    assert [type(m).__name__ for m in result.messages][-2:] == ["HandoffMessage", "TextMessage"]

    finished, by_id = tree(instrumented)
    assert_only_ours(finished)
    assert [s.name for s in finished if s.parent is None] == ["invoke_workflow Swarm"]
    assert children(finished, by_id, "invoke_workflow Swarm") == ["invoke_agent alice", "invoke_agent bob"]
    assert sorted(children(finished, by_id, "invoke_agent alice")) == [
        "chat scripted-model",
        "execute_tool transfer_to_bob",  # the handoff is a tool call of alice's turn
    ]
    assert children(finished, by_id, "invoke_agent bob") == ["chat scripted-model"]
    assert len(llm_spans(finished)) == 2 == len(server.requests)


def _ledger(satisfied: bool, speaker: str, instruction: str) -> str:
    entry = {
        "is_request_satisfied": {"reason": "checked", "answer": satisfied},
        "is_in_loop": {"reason": "no", "answer": False},
        "is_progress_being_made": {"reason": "yes", "answer": True},
        "next_speaker": {"reason": "the solver computes", "answer": speaker},
        "instruction_or_question": {"reason": "next step", "answer": instruction},
    }
    return json.dumps(entry)


async def test_magentic_one_group_chat(
    instrumented: InMemorySpanExporter, server: ScriptedOpenAIServer, make_client: Any
) -> None:
    server.script(
        Reply("Facts: 17 and 23."),  # the orchestrator: facts, plan, progress ledger
        Reply("Plan: ask the solver."),
        Reply(_ledger(False, "solver", "Compute 17 * 23.")),
        Reply("391", prompt_tokens=15, completion_tokens=1),  # the solver's turn
        Reply(_ledger(True, "solver", "done")),
        Reply("The answer is 391."),  # the orchestrator's final answer
    )
    client = make_client()
    team = MagenticOneGroupChat([AssistantAgent("solver", model_client=client)], model_client=client, max_turns=5)
    result = await team.run(task="What is 17 * 23?")
    await client.close()
    assert result.messages[-1].content == "The answer is 391."

    finished, by_id = tree(instrumented)
    assert_only_ours(finished)
    (workflow,) = [s for s in finished if s.parent is None]
    assert workflow.name == "invoke_workflow MagenticOneGroupChat"
    assert children(finished, by_id, workflow.name).count("chat scripted-model") == 5  # the orchestrator's calls
    assert children(finished, by_id, workflow.name).count("invoke_agent solver") == 1
    (solver_llm,) = [s for s in llm_spans(finished) if parent_name(s, by_id) == "invoke_agent solver"]
    assert solver_llm.attributes is not None and solver_llm.attributes[sc.GEN_AI_USAGE_INPUT_TOKENS] == 15
    assert len(llm_spans(finished)) == 6 == len(server.requests)
