"""Prompt optimization: try a few prompt templates over a small dataset, keep the one with the best mean reward.

    uv run agentlightning-run --replay cassettes/examples/prompt_optimization.yaml examples/prompt_optimization.py
    uv run agentlightning report -o report.html     # the templates side by side, reward per rollout
    uv run agentlightning-run --record cassettes/examples/prompt_optimization.yaml \\
        examples/prompt_optimization.py --local-server  # re-record against the bundled scripted server

The algorithm is an ``@algo`` function: for each ``PromptTemplate`` it stores a resources version (template
plus LLM), enqueues one rollout per task under it, waits for them and averages their rewards. The agent is
plain OpenAI client code that formats the template it is given. ``Trainer.fit`` runs four runners; every
rollout lands in the store under its resources version, which is what the report's per-version table reads.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

import openai

import agentlightning as agl

TEMPLATES = [
    "{question}",
    "Answer briefly. {question}",
    "Reply with the number only, no words. {question}",
]
TASKS = [
    {"question": "What is 12 + 30?", "answer": "42"},
    {"question": "What is 9 * 9?", "answer": "81"},
    {"question": "What is 100 - 1?", "answer": "99"},
    {"question": "What is 2 ** 5?", "answer": "32"},
]


@agl.rollout
def calculator(task: dict[str, str], prompt_template: agl.PromptTemplate, llm: agl.LLM) -> float:
    client = openai.OpenAI(base_url=llm.endpoint, api_key=llm.api_key or "not-needed", max_retries=0)
    response = client.chat.completions.create(
        model=llm.model,
        messages=[{"role": "user", "content": prompt_template.format(question=task["question"])}],
        temperature=0.0,
    )
    return 1.0 if (response.choices[0].message.content or "").strip() == task["answer"] else 0.0


@agl.algo
async def try_templates(*, store: agl.LightningStore, train_dataset: Any, initial_resources: Any) -> None:
    results = []
    for template in TEMPLATES:
        resources = await store.add_resources(
            {"prompt": agl.PromptTemplate(template=template, engine="f-string"), "llm": initial_resources["llm"]}
        )
        ids = []
        for task in train_dataset:
            rollout = await store.enqueue_rollout(input=task, mode="train", resources_id=resources.resources_id)
            ids.append(rollout.rollout_id)
        await store.wait_for_rollouts(ids)
        rewards = [agl.find_final_reward(await store.query_spans(i, "latest")) or 0.0 for i in ids]
        mean = sum(rewards) / len(rewards)
        results.append((mean, template))
        print(f"mean reward {mean:.2f}  {template!r}")
    best_reward, best = max(results)
    print(f"best template: {best!r} (mean reward {best_reward:.2f})")


def run(endpoint: str, *, n_runners: int = 4) -> None:
    llm = agl.LLM(endpoint=endpoint, model="tiny-math", api_key="not-needed")
    trainer = agl.Trainer(n_runners=n_runners, algorithm=try_templates, initial_resources={"llm": llm})
    trainer.fit(calculator, TASKS)


def run_on_local_server() -> None:
    """The scripted server answers like a small model that follows terse instructions best."""
    from agentlightning.testing import Reply, ScriptedOpenAIServer

    with ScriptedOpenAIServer() as server:
        for template in TEMPLATES:  # one runner, so replies go out in this order
            for task in TASKS:
                if template == "{question}":
                    answer = f"The answer is {task['answer']}."
                elif "briefly" in template:
                    answer = task["answer"] if task["answer"] in ("42", "81") else f"{task['answer']}, I think"
                else:
                    answer = task["answer"]
                server.script(Reply(content=answer))
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
