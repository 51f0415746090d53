"""A LangGraph agent with a tool, unchanged, traced into rollouts and turned into training data.

    uv run --all-packages python examples/langchain_agent.py            # replays its cassette: offline, no key
    uv run --all-packages python examples/langchain_agent.py --record   # re-records it against the local server

The agent is ordinary LangChain code (``langchain.agents.create_agent`` with a ``ChatOpenAI`` model and one
tool) inside a ``@rollout`` function. ``instrument_all()`` turns on the LangChain plugin (the agent, its graph
nodes, each model call and the tool become one span tree) and the OpenAI plugin underneath it (it adds the
response id, usage and the token ids a vLLM-style server returns to the same ``chat`` span: one span per
model call). ``Trainer.dev`` runs the agent over the tasks; the triplet adapter gives one triplet per model
call, in call order, with the rollout's reward.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path
from typing import Any

from langchain.agents import create_agent
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI

import agentlightning as agl
from agentlightning.testing.cassettes import MATCH_ON, use_cassette

CASSETTE = Path(__file__).resolve().parent.parent / "cassettes" / "examples" / "langchain_agent.yaml"
TASKS: list[dict[str, Any]] = [
    {"question": "What is 17 * 23?", "a": 17, "b": 23, "answer": "391"},
    {"question": "What is 12 * 12?", "a": 12, "b": 12, "answer": "144"},
    {"question": "What is 9 * 8?", "a": 9, "b": 8, "answer": "72"},
]


@tool
def multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    return a * b


@agl.rollout
def calculator_agent(task: dict[str, Any], llm: agl.LLM) -> float:
    model = ChatOpenAI(model=llm.model, base_url=llm.endpoint, api_key=llm.api_key or "none", max_retries=0)  # type: ignore[arg-type]
    agent = create_agent(model, [multiply], system_prompt="Use the tool, then answer with the number only.")
    result = agent.invoke({"messages": [("user", task["question"])]})
    answer = str(result["messages"][-1].content).strip()
    return 1.0 if answer == task["answer"] else 0.0


def run(endpoint: str, *, record: bool) -> None:
    agl.instrument_all()
    llm = agl.LLM(endpoint=endpoint, model="tiny-calc", api_key="not-needed")
    with (
        tempfile.TemporaryDirectory() as tmp,
        use_cassette(CASSETTE, record_mode="all" if record else "none", match_on=(*MATCH_ON, "body")),
    ):
        store = agl.SqliteLightningStore(os.path.join(tmp, "store.db"))
        trainer = agl.Trainer(n_runners=1, store=store, initial_resources={"main_llm": llm})
        rollouts = trainer.dev(calculator_agent, TASKS)
        for rollout in rollouts:
            spans = trainer.store_query_spans(rollout.rollout_id)
            chats = [s for s in spans if s.attributes.get("gen_ai.operation.name") == "chat"]
            triplets = trainer.adapter.adapt(spans)
            print(
                f"{rollout.rollout_id}  {rollout.status:9s}  reward={agl.find_final_reward(spans)}  "
                f"model calls={len(chats)}  triplets={len(triplets)}  {rollout.input['question']}"
            )
        store.close()


def record() -> None:
    """Record the cassette against the scripted local server: a tool call, then the answer, per task."""
    from agentlightning.testing import Reply, ScriptedOpenAIServer, ToolCall

    with ScriptedOpenAIServer() as server:
        for task in TASKS:
            call = f'{{"a": {task["a"]}, "b": {task["b"]}}}'
            answer = task["answer"] if task["a"] != 9 else "71"  # the small model slips on one answer
            server.script(
                Reply(
                    tool_calls=[ToolCall("multiply", call)],
                    prompt_token_ids=[ord(c) for c in task["question"]],
                    response_token_ids=[ord(c) for c in call],
                ),
                Reply(
                    content=answer,
                    prompt_token_ids=[ord(c) for c in task["question"] + task["answer"]],
                    response_token_ids=[ord(c) for c in answer],
                ),
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
