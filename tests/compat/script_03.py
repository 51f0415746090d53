"""A small agent-lightning 0.3-style program: no instrument_all(), n_workers=, LitAgentRunner[str].

Run by tests/compat/test_script_03.py in a fresh interpreter; prints one JSON report on stdout.
"""

from __future__ import annotations

import asyncio
import json

import openai

import agentlightning as agl
from agentlightning.testing import Reply, ScriptedOpenAIServer

agl.setup_logging()


@agl.rollout
def agent(task: str, llm: agl.LLM) -> float:
    client = openai.OpenAI(base_url=llm.endpoint, api_key="not-needed", max_retries=0)
    first = client.chat.completions.create(model=llm.model, messages=[{"role": "user", "content": task}])
    second = client.chat.completions.create(
        model=llm.model,
        messages=[
            {"role": "user", "content": task},
            {"role": "assistant", "content": first.choices[0].message.content},
            {"role": "user", "content": "Sure?"},
        ],
    )
    return 1.0 if second.choices[0].message.content == "4" else 0.0


def report(trainer: agl.Trainer, rollout: agl.Rollout) -> dict[str, object]:
    spans = trainer.store_query_spans(rollout.rollout_id)
    return {
        "status": rollout.status,
        "llm_spans": sum(1 for s in spans if s.attributes.get("gen_ai.operation.name") == "chat"),
        "reward": agl.find_final_reward(spans),
        "triplets": [t.model_dump(mode="json") for t in trainer.adapter.adapt(spans)],
    }


async def debug(store: agl.LightningStore, llm: agl.LLM) -> agl.Rollout:
    runner = agl.LitAgentRunner[str](agl.OtelTracer())
    with runner.run_context(agent=agent, store=store):
        return await runner.step("What is 3 + 1?", resources={"main_llm": llm}, mode="val")


def main() -> None:
    with ScriptedOpenAIServer(default=Reply(content="4")) as server:
        llm = agl.LLM(endpoint=server.base_url, model="tiny")
        store = agl.InMemoryLightningStore()
        trainer = agl.Trainer(n_workers=1, store=store, initial_resources={"main_llm": llm})
        rollouts = trainer.dev(agent, ["What is 2 + 2?", "What is 1 + 3?"])
        stepped = asyncio.run(debug(store, llm))
        print(
            json.dumps(
                {
                    "dev": [report(trainer, r) for r in rollouts],
                    "step": report(trainer, stepped),
                    "step_mode": stepped.mode,
                    "requests": len(server.requests),
                }
            )
        )


if __name__ == "__main__":
    main()
