"""An AutoGen team in rollouts: a solver with a calculator tool and a critic, traced and turned into data.

    uv run --all-packages python examples/autogen_team.py            # replays its cassette: offline, no key
    uv run --all-packages python examples/autogen_team.py --record   # re-records it against the local server

The team is ordinary ``autogen-agentchat`` 0.7 code inside a ``@rollout`` function: a ``RoundRobinGroupChat``
of a "solver" (with a ``calculator`` tool) and a "critic" that ends the chat by saying APPROVE.
``instrument_all()`` finds the AutoGen and OpenAI plugins (``pip install "agentlightning[autogen]"``): each
team run is an ``invoke_workflow`` span, each turn an ``invoke_agent`` span, each model call one ``chat`` span
(AutoGen's model client owns it, the OpenAI layer adds token ids), each tool run an ``execute_tool`` span.
``Trainer.dev`` runs the tasks with four concurrent runners, one rollout per task in a SQLite store, and the
triplet adapter with ``agent_match="solver"`` keeps only the solver's model calls: training data for it alone.

The HTTP traffic comes from a cassette recorded once, so the example runs anywhere, offline.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

import agentlightning as agl
from agentlightning.testing.cassettes import MATCH_ON, use_cassette

CASSETTE = Path(__file__).resolve().parent.parent / "cassettes" / "examples" / "autogen_team.yaml"
TASKS = [
    {"question": "What is 17 * 23?", "expression": "17 * 23", "answer": "391"},
    {"question": "What is 1024 / 8?", "expression": "1024 / 8", "answer": "128"},
    {"question": "What is 99 + 1?", "expression": "99 + 1", "answer": "100"},
]


def calculator(expression: str) -> str:
    """Evaluates an arithmetic expression of two numbers and one of + - * /."""
    left, operator, right = expression.split()
    a, b = float(left), float(right)
    value = {"+": a + b, "-": a - b, "*": a * b, "/": a / b}[operator]
    return str(int(value)) if value == int(value) else str(value)


@agl.rollout
async def team_agent(task: dict[str, str], llm: agl.LLM) -> float:
    from autogen_agentchat.agents import AssistantAgent
    from autogen_agentchat.conditions import MaxMessageTermination, TextMentionTermination
    from autogen_agentchat.teams import RoundRobinGroupChat
    from autogen_core.models import ModelFamily, ModelInfo
    from autogen_ext.models.openai import OpenAIChatCompletionClient

    # A model name AutoGen does not know needs model_info; it then resolves to itself.
    info = ModelInfo(
        vision=False, function_calling=True, json_output=False, family=ModelFamily.UNKNOWN, structured_output=False
    )
    client = OpenAIChatCompletionClient(
        model=llm.model, base_url=llm.endpoint, api_key=llm.api_key or "not-needed", model_info=info, max_retries=0
    )
    solver = AssistantAgent(
        "solver",
        model_client=client,
        tools=[calculator],
        reflect_on_tool_use=True,
        system_message="Use the calculator, then answer with the number only.",
    )
    critic = AssistantAgent("critic", model_client=client, system_message="Say APPROVE when the answer is right.")
    team = RoundRobinGroupChat(
        [solver, critic], termination_condition=TextMentionTermination("APPROVE") | MaxMessageTermination(8)
    )
    try:
        result = await team.run(task=task["question"])
    finally:
        await client.close()
    answers = [m.content for m in result.messages if m.source == "solver" and isinstance(m.content, str)]
    return 1.0 if answers and answers[-1].strip() == task["answer"] else 0.0


def run(endpoint: str, *, record: bool) -> None:
    agl.instrument_all()
    llm = agl.LLM(endpoint=endpoint, model="tiny-math", api_key="not-needed")
    # Requests are matched by their body too, so concurrent runners replay in any order.
    with (
        tempfile.TemporaryDirectory() as tmp,
        use_cassette(CASSETTE, record_mode="all" if record else "none", match_on=(*MATCH_ON, "body")),
    ):
        store = agl.SqliteLightningStore(os.path.join(tmp, "store.db"))
        trainer = agl.Trainer(n_runners=1 if record else 4, store=store, initial_resources={"main_llm": llm})
        rollouts = trainer.dev(team_agent, TASKS)
        solver_only = agl.TracerTraceToTriplet(agent_match="^solver$")
        for rollout in rollouts:
            spans = trainer.store_query_spans(rollout.rollout_id)
            names = [s.name for s in spans]
            workflows = names.count("invoke_workflow RoundRobinGroupChat")
            print(
                f"{rollout.rollout_id}  {rollout.status:9s}  reward={agl.find_final_reward(spans)}  "
                f"traces={len({s.trace_id for s in spans})}  workflows={workflows}  "
                f"llm={sum(n.startswith('chat ') for n in names)}  tools={names.count('execute_tool calculator')}  "
                f"solver_triplets={len(solver_only.adapt(spans))}  {rollout.input['question']}"
            )
        store.close()


def record() -> None:
    """Record the cassette against the scripted local server: per task, a tool call, an answer, an approval."""
    from agentlightning.testing import Reply, ScriptedOpenAIServer, ToolCall

    with ScriptedOpenAIServer() as server:
        for i, task in enumerate(TASKS):  # one runner while recording, so replies go out in task order
            arguments = json.dumps({"expression": task["expression"]})
            answer = task["answer"]
            server.script(
                Reply(None, tool_calls=[ToolCall("calculator", arguments, id=f"call_{i}")], prompt_tokens=40),
                Reply(
                    answer,
                    prompt_token_ids=[ord(c) for c in task["question"]],
                    response_token_ids=[ord(c) for c in answer],
                ),
                Reply("APPROVE", prompt_tokens=30, completion_tokens=1),
            )
        CASSETTE.parent.mkdir(parents=True, exist_ok=True)
        run(server.base_url, record=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--record", action="store_true", help="re-record the cassette against the local server")
    if parser.parse_args().record:
        record()
    else:
        run("http://127.0.0.1:9/v1", record=False)  # never reached: the cassette answers


if __name__ == "__main__":
    main()
