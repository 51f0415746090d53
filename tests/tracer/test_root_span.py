"""One rollout attempt is one trace: every trace context opens one root span, and everything nests under it
(issue 7 item 3). The adapters read such a rollout as before."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import openai
import pytest
from opentelemetry import trace as trace_api

import agentlightning as agl
from agentlightning import semconv as sc
from agentlightning.instrumentation import instrument_openai, uninstrument_all
from agentlightning.testing import Reply, ScriptedOpenAIServer
from agentlightning.tracer.otel import OtelTracer

user_tracer = trace_api.get_tracer("user.code")


@pytest.fixture(scope="module")
def server() -> Iterator[ScriptedOpenAIServer]:
    with ScriptedOpenAIServer(default=Reply(content="ok")) as scripted:
        yield scripted


@pytest.fixture
def instrumented() -> Iterator[None]:
    instrument_openai(capture_content=True)
    try:
        yield
    finally:
        uninstrument_all()


def _ask(client: openai.OpenAI, text: str) -> None:
    client.chat.completions.create(model="m", messages=[{"role": "user", "content": text}])


@pytest.mark.usefixtures("instrumented")
async def test_calls_of_one_context_share_one_trace_under_its_root(
    store: agl.LightningStore, tracer: OtelTracer, server: ScriptedOpenAIServer
) -> None:
    rollout = await store.start_rollout(input=1)
    rid, aid = rollout.rollout_id, rollout.attempt.attempt_id
    with openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0) as client:
        with tracer.trace_context("two calls", rollout_id=rid, attempt_id=aid):
            _ask(client, "first")  # two top-level calls: without a root they were two traces
            _ask(client, "second")
    spans = await store.query_spans(rid)
    (root,) = [s for s in spans if s.name == sc.AGL_ROLLOUT]
    calls = [s for s in spans if s.attributes.get(sc.GEN_AI_OPERATION_NAME) == "chat"]
    assert len(calls) == 2 and all(c.parent_id == root.span_id for c in calls)
    assert {s.trace_id for s in spans} == {root.trace_id}
    assert root.parent_id is None
    assert (root.attributes[sc.AGL_ROLLOUT_ID], root.attributes[sc.AGL_ATTEMPT_ID]) == (rid, aid)
    assert root.attributes[sc.AGL_TRACE_NAME] == "two calls"


async def test_a_context_opened_under_a_users_span_nests_under_it(
    store: agl.LightningStore, tracer: OtelTracer
) -> None:
    rollout = await store.start_rollout(input=1)
    with user_tracer.start_as_current_span("user request") as outer:
        with tracer.trace_context(rollout_id=rollout.rollout_id, attempt_id=rollout.attempt.attempt_id):
            with user_tracer.start_as_current_span("step"):
                pass
        assert trace_api.get_current_span() is outer  # the user's span is current again after the context
    spans = {s.name: s for s in await store.query_spans(rollout.rollout_id)}
    outer_ctx = outer.get_span_context()
    assert spans[sc.AGL_ROLLOUT].parent_id == format(outer_ctx.span_id, "016x")
    assert spans[sc.AGL_ROLLOUT].trace_id == format(outer_ctx.trace_id, "032x")
    assert spans["step"].parent_id == spans[sc.AGL_ROLLOUT].span_id


def test_an_exception_leaving_the_context_marks_the_root_error(tracer: OtelTracer) -> None:
    with pytest.raises(KeyError):
        with tracer.trace_context("fails"):
            raise KeyError("missing")
    (root,) = tracer.get_last_trace()
    assert root.status.status_code == "ERROR"
    assert root.attributes[sc.ERROR_TYPE] == "KeyError"
    assert trace_api.get_current_span() is trace_api.INVALID_SPAN  # nothing left attached


async def test_an_async_context_left_in_another_task_detaches_cleanly(
    tracer: OtelTracer, caplog: pytest.LogCaptureFixture
) -> None:
    context = tracer.trace_context("moved")
    await context.__aenter__()
    await asyncio.create_task(context.__aexit__(None, None, None))  # left in a copy of this context
    assert "Failed to detach context" not in caplog.text
    assert [s.name for s in tracer.get_last_trace()] == [sc.AGL_ROLLOUT]


@pytest.mark.usefixtures("instrumented")
def test_runner_rollout_is_one_tree_and_the_adapters_read_it(server: ScriptedOpenAIServer) -> None:
    server.script(
        Reply(content="draft", prompt_token_ids=[1], response_token_ids=[2]),
        Reply(content="final", prompt_token_ids=[3], response_token_ids=[4]),
        Reply(content="judge says 1", prompt_token_ids=[5], response_token_ids=[6]),
    )

    @agl.rollout
    def agent(task: str, llm: agl.LLM) -> None:
        with openai.OpenAI(base_url=llm.endpoint, api_key="k", max_retries=0) as client:
            solver = {sc.GEN_AI_OPERATION_NAME: "invoke_agent", sc.GEN_AI_AGENT_NAME: "solver"}
            with user_tracer.start_as_current_span("invoke_agent solver", attributes=solver):
                _ask(client, f"{task} draft")
                _ask(client, f"{task} final")
            with agl.operation("reward"):
                _ask(client, "judge")  # an LLM judge: not a training call
            agl.emit_reward(1.0)

    store = agl.InMemoryLightningStore()
    trainer = agl.Trainer(
        n_runners=1, store=store, initial_resources={"llm": agl.LLM(endpoint=server.base_url, model="m")}
    )
    (rollout,) = trainer.dev(agent, ["task"])
    assert rollout.status == "succeeded"
    spans = trainer.store_query_spans(rollout.rollout_id)
    roots = [s for s in spans if s.name == sc.AGL_ROLLOUT]
    assert len(roots) == 1  # the runner uses the context's root; it does not open a second one
    ids = {s.span_id for s in spans}
    assert [s.name for s in spans if s.parent_id not in ids] == [sc.AGL_ROLLOUT]
    assert len({s.trace_id for s in spans}) == 1

    triplets = agl.TracerTraceToTriplet(agent_match="solver")(spans)
    assert [t.response["raw_content"][0]["parts"][0]["content"] for t in triplets] == ["draft", "final"]
    assert [t.response["token_ids"] for t in triplets] == [[2], [4]]
    assert [t.reward for t in triplets] == [None, 1.0]
    assert [t.metadata["agent_name"] for t in triplets] == ["solver", "solver"]
    assert agl.TracerTraceToTriplet(agent_match="other")(spans) == []
    records = agl.TraceToMessages()(spans)
    assert [r["messages"][-1]["content"] for r in records] == ["draft", "final", "judge says 1"]
