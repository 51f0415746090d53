"""Quickstart: an OpenAI agent over a handful of tasks, traced, rewarded and turned into training data.

    uv run python examples/quickstart.py            # replays cassettes/examples/quickstart.yaml: offline, no key
    uv run python examples/quickstart.py --record   # re-records it against the local scripted server

The agent is ordinary OpenAI client code inside a ``@rollout`` function. ``instrument_all()`` makes each
of its calls an OpenTelemetry span (GenAI conventions: model, token usage, response id, and the token ids
a vLLM-style server returns); ``Trainer.dev`` runs it over the tasks with four concurrent runners, each
rollout's spans land in a SQLite store, and the triplet adapter turns them into training data.

The HTTP traffic comes from a cassette recorded once, so the example runs anywhere, offline.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import openai

import agentlightning as agl
from agentlightning.testing import use_cassette

CASSETTE = Path(__file__).resolve().parent.parent / "cassettes" / "examples" / "quickstart.yaml"
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


def run(endpoint: str, *, record: bool) -> None:
    agl.instrument_all()
    llm = agl.LLM(endpoint=endpoint, model="tiny-math", api_key="not-needed")
    # Requests are matched by their body too (the cassettes' default), so concurrent runners replay in any order.
    with (
        tempfile.TemporaryDirectory() as tmp,
        use_cassette(CASSETTE, record_mode="all" if record else "none"),
    ):
        store = agl.SqliteLightningStore(os.path.join(tmp, "store.db"))
        trainer = agl.Trainer(n_runners=1 if record else 4, store=store, initial_resources={"main_llm": llm})
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
        store.close()


def record() -> None:
    """Record the cassette against the scripted local server, which answers like a small, fallible model."""
    from agentlightning.testing import Reply, ScriptedOpenAIServer

    with ScriptedOpenAIServer() as server:
        for task in TASKS:  # one runner while recording, so replies go out in task order
            answer = "3.0" if "/" in task["question"] else task["answer"]  # it gets the division "wrong"
            server.script(
                Reply(
                    content=answer,
                    prompt_token_ids=[ord(c) for c in task["question"]],
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
