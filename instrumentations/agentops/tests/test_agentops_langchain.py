"""``instrument_agentops_langchain()`` (agent-lightning 0.3's name): a LangChain run with AgentOps' own LangChain
callback handler added by the program lands in the store with the LangChain plugin's spans, one LLM span per
model call, offline; the program exits although the handler ends its session span at interpreter shutdown."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from agentlightning.adapter.base import DEFAULT_LLM_CALL_MATCH
from agentlightning.testing.network import ENV_RECORD

PROGRAM = textwrap.dedent(
    """
    import asyncio, json, sys
    from agentlightning.testing import network
    network.install()
    network.activate()
    import agentlightning as agl
    from agentlightning.instrumentation import instrument
    from agentlightning.instrumentation.agentops_langchain import instrument_agentops_langchain
    from agentlightning.testing import Reply, ScriptedOpenAIServer

    instrument_agentops_langchain()
    instrument("openai")
    from agentops.integration.callbacks.langchain import LangchainCallbackHandler
    from langchain_core.runnables import RunnableLambda
    from langchain_openai import ChatOpenAI

    store = agl.InMemoryLightningStore()
    tracer = agl.OtelTracer()
    tracer.init()
    tracer.init_worker(0, store)

    def agent(model):
        handler = LangchainCallbackHandler(api_key="k")  # the user's AgentOps handler, as its docs show
        chain = RunnableLambda(lambda text: text.upper()) | model
        return chain.invoke("q", config={"callbacks": [handler]}).content

    with ScriptedOpenAIServer(default=Reply(content="hi")) as server:
        model = ChatOpenAI(model="m", base_url=server.base_url, api_key="x", max_retries=0)
        attempted = asyncio.run(store.start_rollout(input=1))
        with tracer.trace_context(rollout_id=attempted.rollout_id, attempt_id=attempted.attempt.attempt_id):
            answer = agent(model)
            # Kept until interpreter shutdown: its __del__ ends its session span while Python finalizes.
            lingering = LangchainCallbackHandler(api_key="k")
    spans = asyncio.run(store.query_spans(attempted.rollout_id))
    names = {s.span_id: s.name for s in spans}
    print(json.dumps({"answer": answer, "spans": [[s.name, names.get(s.parent_id), s.trace_id] for s in spans]}))
    """
)


@pytest.mark.slow
def test_agentops_langchain_handler_runs_land_in_the_store_with_one_llm_span(tmp_path: Path) -> None:
    env = {**os.environ, ENV_RECORD: str(tmp_path / "attempts.txt"), "AGENTOPS_LOG_LEVEL": "CRITICAL"}
    env.pop("AGENTOPS_INSTRUMENT_LLM_CALLS", None)  # AgentOps' default: its LLM instrumentation on as well
    out = subprocess.run(
        [sys.executable, "-c", PROGRAM], capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["answer"] == "hi"
    spans = result["spans"]
    llm = [name for name, _, _ in spans if re.search(DEFAULT_LLM_CALL_MATCH, name)]
    assert llm == ["chat m"]  # not also AgentOps' chat_model.llm and openai.chat.completion
    parents = {name: parent for name, parent, _ in spans}
    assert parents["session.session"] == "agentlightning.rollout"  # AgentOps' handler session, in the rollout
    assert parents["agentlightning.rollout"] is None
    assert len({trace for _, _, trace in spans}) == 1
    assert not (tmp_path / "attempts.txt").exists()
    assert not (tmp_path / "agentops.log").exists()
