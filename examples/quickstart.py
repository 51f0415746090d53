"""Quickstart: an OpenAI agent over a handful of tasks, traced, rewarded and turned into training data.

    uv run agentlightning-run --replay cassettes/examples/quickstart.yaml examples/quickstart.py  # offline, no key
    uv run agentlightning show                      # the span tree of the latest rollout
    uv run agentlightning-run --record cassettes/examples/quickstart.yaml examples/quickstart.py --local-server

The agent is ordinary OpenAI client code inside a ``@rollout`` function. ``instrument_all()`` makes each
of its calls an OpenTelemetry span (GenAI conventions: model, token usage, response id, and the token ids
a vLLM-style server returns); ``Trainer.dev`` runs it over the tasks with four concurrent runners, each
rollout's spans land in the store (``.agentlightning/store.db``, or where ``agentlightning-run --store`` says),
and the triplet adapter turns them into training data.

The script itself knows nothing of cassettes: ``agentlightning-run --replay`` answers its HTTP from one
recorded once, so the example runs anywhere, offline. ``--local-server`` points it at the bundled scripted
server instead (that is how the cassette was recorded); ``OPENAI_BASE_URL`` at a real one.
"""

from __future__ import annotations

import argparse
import os

import openai

import agentlightning as agl

TASKS = [
    {"question": "What is 2 + 3?", "answer": "5"},
    {"question": "What is 7 * 6?", "answer": "42"},
    {"question": "What is 10 - 4?", "answer": "6"},
    {"question": "What is 9 / 3?", "answer": "3"},
    {"question": "What is 2 ** 10?", "answer": "1024"},
]


@agl.rollout
def math_agent(task: dict[str, str], llm: agl.LLM) -> float:
    client = openai.OpenAI(base_url=llm.endpoint, api_key=llm.api_key or "not-needed", max_retries=0)
    response = client.chat.completions.create(
        model=llm.model,
        messages=[
            {"role": "system", "content": "Answer with the number only."},
            {"role": "user", "content": task["question"]},
        ],
        temperature=0.0,
    )
    answer = (response.choices[0].message.content or "").strip()
    return 1.0 if answer == task["answer"] else 0.0


def run(endpoint: str, *, n_runners: int = 4) -> None:
    agl.instrument_all()
    llm = agl.LLM(endpoint=endpoint, model="tiny-math", api_key="not-needed")
    trainer = agl.Trainer(n_runners=n_runners, initial_resources={"main_llm": llm})  # the default store
    rollouts = trainer.dev(math_agent, TASKS)
    for rollout in rollouts:
        spans = trainer.store_query_spans(rollout.rollout_id)
        calls = [s for s in spans if s.attributes.get("gen_ai.operation.name") == "chat"]
        tokens = (
            sum(s.attributes.get("gen_ai.usage.input_tokens", 0) for s in calls),
            sum(s.attributes.get("gen_ai.usage.output_tokens", 0) for s in calls),
        )
        print(
            f"{rollout.rollout_id}  {rollout.status:9s}  reward={agl.find_final_reward(spans)}  "
            f"tokens in/out={tokens[0]}/{tokens[1]}  {rollout.input['question']}"
        )
        for triplet in trainer.adapter.adapt(spans):
            print(
                f"    triplet: {len(triplet.prompt['token_ids'])} prompt token ids -> "
                f"{len(triplet.response['token_ids'])} response token ids, reward {triplet.reward}"
            )


def run_on_local_server() -> None:
    """Run against the scripted local server, which answers like a small, fallible model (records the cassette)."""
    from agentlightning.testing import Reply, ScriptedOpenAIServer

    with ScriptedOpenAIServer() as server:
        for task in TASKS:  # one runner, so replies go out in task order
            answer = "3.0" if "/" in task["question"] else task["answer"]  # it gets the division "wrong"
            server.script(
                Reply(
                    content=answer,
                    prompt_token_ids=[ord(c) for c in task["question"]],
                    response_token_ids=[ord(c) for c in answer],
                )
            )
        run(server.base_url, n_runners=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--local-server", action="store_true", help="answer from the bundled scripted server")
    if parser.parse_args().local_server:
        run_on_local_server()
    else:  # under agentlightning-run --replay the cassette answers, whatever the host
        run(os.environ.get("OPENAI_BASE_URL", "http://127.0.0.1:9/v1"))


if __name__ == "__main__":
    main()
