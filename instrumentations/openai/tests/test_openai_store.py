"""OpenAI calls inside the agentlightning tracer's trace context land in that rollout in the store."""

from __future__ import annotations

import asyncio
from typing import Any

import openai
import pytest

from agentlightning import semconv as sc
from agentlightning.testing import Reply, ScriptedOpenAIServer

pytestmark = pytest.mark.usefixtures("instrumented")


def test_calls_in_a_trace_context_reach_the_store(client: openai.OpenAI, server: ScriptedOpenAIServer) -> None:
    from agentlightning.store.memory import InMemoryLightningStore
    from agentlightning.tracer.otel import OtelTracer

    store = InMemoryLightningStore()
    tracer = OtelTracer()
    with tracer.lifespan(store):
        rollout = asyncio.run(store.start_rollout(input={"q": "2+2"}))
        server.script(Reply(content="four", prompt_token_ids=[1, 2], response_token_ids=[3]))
        with tracer.trace_context("agent", rollout_id=rollout.rollout_id, attempt_id=rollout.attempt.attempt_id):
            client.chat.completions.create(model="m", messages=[{"role": "user", "content": "2+2?"}])
            for _ in client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "again"}], stream=True
            ):
                pass
        spans = asyncio.run(store.query_spans(rollout.rollout_id))
    llm = [s for s in spans if s.attributes.get(sc.GEN_AI_OPERATION_NAME) == "chat"]
    assert len(llm) == 2
    first: Any = llm[0]
    assert first.attributes[sc.GEN_AI_USAGE_INPUT_TOKENS] == 1
    assert first.attributes[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 1
    assert first.attributes[sc.AGL_PROMPT_TOKEN_IDS] == [1, 2]
    assert tracer.get_last_trace()[0].rollout_id == rollout.rollout_id


@pytest.mark.parametrize("is_async", [False, True], ids=["sync-agent", "async-agent"])
def test_calls_inside_trainer_dev_land_in_their_rollouts(
    store: Any, server: ScriptedOpenAIServer, is_async: bool
) -> None:
    import agentlightning as agl

    n = 24
    server.script(*(Reply(content=str(i), prompt_token_ids=[i, i + 1], response_token_ids=[i]) for i in range(n)))

    def make_client(llm: agl.LLM) -> Any:
        factory = openai.AsyncOpenAI if is_async else openai.OpenAI
        return factory(base_url=llm.endpoint, api_key="test-key", max_retries=0)

    if is_async:

        @agl.rollout
        async def agent(task: int, llm: agl.LLM) -> float:
            async with make_client(llm) as client:
                reply = await client.chat.completions.create(
                    model=llm.model, messages=[{"role": "user", "content": f"task {task}"}]
                )
            return float(reply.choices[0].message.content or 0)
    else:

        @agl.rollout
        def agent(task: int, llm: agl.LLM) -> float:
            with make_client(llm) as client:
                reply = client.chat.completions.create(
                    model=llm.model, messages=[{"role": "user", "content": f"task {task}"}]
                )
            return float(reply.choices[0].message.content or 0)

    trainer = agl.Trainer(
        n_runners=4, store=store, initial_resources={"llm": agl.LLM(endpoint=server.base_url, model="m")}
    )
    rollouts = trainer.dev(agent, list(range(n)))
    assert [r.status for r in rollouts] == ["succeeded"] * n
    replies_seen = set()
    for rollout in rollouts:
        spans = trainer.store_query_spans(rollout.rollout_id)
        (call,) = [s for s in spans if s.attributes.get(sc.GEN_AI_OPERATION_NAME) == "chat"]
        reply = call.attributes[sc.AGL_RESPONSE_TOKEN_IDS][0]
        replies_seen.add(reply)
        # the reward the agent computed from its own reply sits in the same rollout as the call that got it
        assert agl.find_final_reward(spans) == float(reply)
        assert call.attributes[sc.GEN_AI_USAGE_INPUT_TOKENS] == 2
        assert call.attributes[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 1
        assert call.attributes[sc.AGL_PROMPT_TOKEN_IDS] == [reply, reply + 1]
        (triplet,) = trainer.adapter.adapt(spans)
        assert triplet.reward == float(reply) and triplet.response["token_ids"] == [reply]
    assert replies_seen == set(range(n))
