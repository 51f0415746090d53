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
