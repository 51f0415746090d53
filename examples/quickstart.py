"""Quickstart: an agent over a handful of tasks, with rewards, run by ``Trainer.dev``.

    uv run python examples/quickstart.py

The "model" here is a few lines of plain Python that records its call the way an instrumented LLM
client does (an OpenTelemetry span with GenAI attributes and token ids), so the example needs no network
and no API key. Everything else is the real pipeline: the trainer enqueues one rollout per task, four
runners take them from the SQLite store, every span lands in its rollout, and the triplet adapter turns
each rollout's spans into training data.
"""

from __future__ import annotations

import json
import os
import tempfile

from opentelemetry import trace

import agentlightning as agl

TASKS = [
    {"question": "What is 2 + 3?", "answer": "5"},
    {"question": "What is 7 * 6?", "answer": "42"},
    {"question": "What is 10 - 4?", "answer": "6"},
    {"question": "What is 9 / 3?", "answer": "3"},
    {"question": "What is 2 ** 10?", "answer": "1024"},
]

tracer = trace.get_tracer("quickstart")


def tiny_model(llm: agl.LLM, question: str) -> str:
    """A stand-in for an LLM call: evaluates the arithmetic, except that it cannot divide."""
    with tracer.start_as_current_span(f"chat {llm.model}") as span:
        expression = question.removeprefix("What is ").removesuffix("?")
        answer = "I don't know" if "/" in expression else str(eval(expression, {"__builtins__": {}}))
        prompt_ids, response_ids = [ord(c) for c in question], [ord(c) for c in answer]
        span.set_attributes(
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "tiny",
                "gen_ai.request.model": llm.model,
                "gen_ai.response.id": f"resp-{abs(hash(question)) % 10**8}",
                "gen_ai.usage.input_tokens": len(prompt_ids),
                "gen_ai.usage.output_tokens": len(response_ids),
                "gen_ai.input.messages": json.dumps([{"role": "user", "content": question}]),
                "gen_ai.output.messages": json.dumps([{"role": "assistant", "content": answer}]),
                "agentlightning.prompt_token_ids": prompt_ids,
                "agentlightning.response_token_ids": response_ids,
            }
        )
        return answer


@agl.rollout
def math_agent(task: dict[str, str], llm: agl.LLM) -> float:
    answer = tiny_model(llm, task["question"])
    return 1.0 if answer.strip() == task["answer"] else 0.0


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = agl.SqliteLightningStore(os.path.join(tmp, "store.db"))
        trainer = agl.Trainer(
            n_runners=4,
            store=store,
            initial_resources={"main_llm": agl.LLM(endpoint="http://127.0.0.1:1/v1", model="tiny-math")},
        )
        rollouts = trainer.dev(math_agent, TASKS)
        for rollout in rollouts:
            spans = trainer.store_query_spans(rollout.rollout_id)
            reward = agl.find_final_reward(spans)
            print(f"{rollout.rollout_id}  {rollout.status:9s}  reward={reward}  {rollout.input['question']}")
            for triplet in trainer.adapter.adapt(spans):
                print(
                    f"    triplet: {len(triplet.prompt['token_ids'])} prompt tokens -> "
                    f"{len(triplet.response['token_ids'])} response tokens, reward {triplet.reward}"
                )
        store.close()


if __name__ == "__main__":
    main()
