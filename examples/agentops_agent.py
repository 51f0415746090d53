"""An agent written for AgentOps, unchanged, traced into rollouts by ``AgentOpsTracer`` and turned into training data.

    uv run --all-packages python examples/agentops_agent.py            # replays its cassette: offline, no key
    uv run --all-packages python examples/agentops_agent.py --record   # re-records it against the local server

The agent is ordinary AgentOps code: an ``@agentops.agent`` class whose ``@agentops.operation`` calls an
``@agentops.tool`` and the OpenAI client. ``Trainer(tracer=agl.AgentOpsTracer())`` (agent-lightning 0.3's way)
instruments AgentOps and calls ``agentops.init()`` offline: its agent, operation and tool spans land in each
rollout's span tree, under the rollout, next to the ``chat`` span of the model call (the OpenAI plugin's, one
per call), and nothing is sent to AgentOps' cloud, with or without ``AGENTOPS_API_KEY``. A program that calls
``agentops.init(api_key=...)`` itself works the same after ``agl.instrument_all()``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path
from typing import Any

import agentops
import openai

import agentlightning as agl
from agentlightning.testing.cassettes import MATCH_ON, use_cassette

CASSETTE = Path(__file__).resolve().parent.parent / "cassettes" / "examples" / "agentops_agent.yaml"
CAPITALS = {"France": "Paris", "Japan": "Tokyo", "Peru": "Lima"}
TASKS: list[dict[str, Any]] = [{"country": country, "answer": capital} for country, capital in CAPITALS.items()]


@agentops.tool
def lookup_capital(country: str) -> str:
    return CAPITALS[country]


@agentops.agent
class Geographer:
    def __init__(self, llm: agl.LLM) -> None:
        self.model = llm.model
        self.client = openai.OpenAI(base_url=llm.endpoint, api_key=llm.api_key or "none", max_retries=0)

    @agentops.operation
    def answer(self, country: str) -> str:
        fact = lookup_capital(country)
        response = self.client.chat.completions.create(
            model=self.model,
            messages=[
                {"role": "system", "content": f"Fact: the capital of {country} is {fact}. Answer with one word."},
                {"role": "user", "content": f"What is the capital of {country}?"},
            ],
        )
        return (response.choices[0].message.content or "").strip()


@agl.rollout
def geography_agent(task: dict[str, Any], llm: agl.LLM) -> float:
    return 1.0 if Geographer(llm).answer(task["country"]) == task["answer"] else 0.0


def run(endpoint: str, *, record: bool) -> None:
    llm = agl.LLM(endpoint=endpoint, model="tiny-geo", api_key="not-needed")
    with (
        tempfile.TemporaryDirectory() as tmp,
        use_cassette(CASSETTE, record_mode="all" if record else "none", match_on=MATCH_ON),
    ):
        store = agl.SqliteLightningStore(os.path.join(tmp, "store.db"))
        trainer = agl.Trainer(
            n_runners=1, store=store, tracer=agl.AgentOpsTracer(), initial_resources={"main_llm": llm}
        )
        rollouts = trainer.dev(geography_agent, TASKS)
        for rollout in rollouts:
            spans = trainer.store_query_spans(rollout.rollout_id)
            agentops_spans = sorted(s.name for s in spans if "agentops.span.kind" in s.attributes)
            chats = [s for s in spans if s.attributes.get("gen_ai.operation.name") == "chat"]
            print(
                f"{rollout.rollout_id}  {rollout.status:9s}  reward={agl.find_final_reward(spans)}  "
                f"model calls={len(chats)}  triplets={len(trainer.adapter.adapt(spans))}  "
                f"agentops spans={','.join(agentops_spans)}  {rollout.input['country']}"
            )
        store.close()


def record() -> None:
    """Record the cassette against the scripted local server (it gets one capital wrong)."""
    from agentlightning.testing import Reply, ScriptedOpenAIServer

    with ScriptedOpenAIServer() as server:
        for task in TASKS:  # one runner, so replies go out in task order
            answer = task["answer"] if task["country"] != "Peru" else "Cusco"
            server.script(
                Reply(
                    content=answer,
                    prompt_token_ids=[ord(c) for c in task["country"]],
                    response_token_ids=[ord(c) for c in answer],
                )
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
