"""agent-lightning 0.3 names and behaviours, as a 0.3 program uses them."""

from __future__ import annotations

import importlib
import importlib.util
import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import openai
import pytest

import agentlightning as agl
from agentlightning.instrumentation import _registry, uninstrument_all
from agentlightning.testing import Reply, ScriptedOpenAIServer


@pytest.fixture
def clean_instrumentation() -> Iterator[None]:
    """Trainers and runners instrument the installed plugins; undo it after the test."""
    yield
    uninstrument_all()


@pytest.fixture
def server() -> Iterator[ScriptedOpenAIServer]:
    with ScriptedOpenAIServer(default=Reply(content="4")) as scripted:
        yield scripted


# ---- 1. logging ---------------------------------------------------------------------------------


@pytest.fixture
def restore_loggers() -> Iterator[None]:
    names = ["agentlightning", "agentlightning.store", "my_app", None]
    saved = {
        n: (logging.getLogger(n).level, list(logging.getLogger(n).handlers), logging.getLogger(n).propagate)
        for n in names
    }
    yield
    for name, (level, handlers, propagate) in saved.items():
        logger = logging.getLogger(name)
        logger.setLevel(level)
        logger.handlers[:] = handlers
        logger.propagate = propagate


@pytest.mark.usefixtures("restore_loggers")
def test_setup_logging_is_idempotent_and_leaves_the_root_logger_alone(capsys: pytest.CaptureFixture[str]) -> None:
    root_handlers = list(logging.getLogger().handlers)
    agl.setup_logging()
    agl.setup_logging("DEBUG")
    logger = logging.getLogger("agentlightning")
    assert logger.level == logging.DEBUG and len(logger.handlers) == 1 and logger.propagate is False
    assert logging.getLogger().handlers == root_handlers
    logging.getLogger("agentlightning.runner").debug("hello from the runner")
    assert capsys.readouterr().err.count("hello from the runner") == 1


@pytest.mark.usefixtures("restore_loggers")
def test_setup_logging_options() -> None:
    agl.setup_logging("warning", submodule_levels={"agentlightning.store": "DEBUG"}, apply_to=["my_app"])
    assert logging.getLogger("agentlightning").level == logging.WARNING
    assert logging.getLogger("agentlightning.store").level == logging.DEBUG
    assert logging.getLogger("my_app").level == logging.WARNING and len(logging.getLogger("my_app").handlers) == 1
    with pytest.raises(ValueError, match="Unknown logging level 'LOUD'"):
        agl.setup_logging("LOUD")
    with pytest.raises(ValueError, match="use apply_to"):
        agl.setup_logging(submodule_levels={"other": "INFO"})


@pytest.mark.usefixtures("restore_loggers")
def test_deprecated_logging_aliases_warn_and_configure() -> None:
    with pytest.warns(DeprecationWarning, match="setup_logging"):
        agl.setup_module_logging("ERROR")  # type: ignore[attr-defined]
    assert logging.getLogger("agentlightning").level == logging.ERROR
    with pytest.warns(DeprecationWarning, match="setup_logging"):
        logger = agl.configure_logger(logging.INFO, name="my_app")  # type: ignore[attr-defined]
    assert logger.name == "my_app" and logger.level == logging.INFO


# ---- 2. agentlightning.reward -------------------------------------------------------------------


def test_reward_module_has_the_03_names() -> None:
    from agentlightning import reward as module

    for name in ["find_final_reward", "find_reward_spans", "get_reward_value", "is_reward_span", "emit_reward"]:
        assert getattr(module, name) is getattr(agl, name)


async def test_reward_decorator_turns_the_return_value_into_a_reward_span(tracer: agl.OtelTracer) -> None:
    from agentlightning.reward import reward

    @reward
    def grade(answer: str) -> float:
        return 1.0 if answer == "4" else 0.0

    @reward
    async def agrade(answer: str) -> float | None:
        return None if answer == "skip" else 0.5

    async with tracer.trace_context("t"):
        assert grade("4") == 1.0
        assert await agrade("x") == 0.5
        assert await agrade("skip") is None
    spans = tracer.get_last_trace()
    assert [agl.get_reward_value(s) for s in agl.find_reward_spans(spans)] == [1.0, 0.5]
    assert grade.__name__ == "grade"


async def test_reward_decorator_outside_a_rollout_and_bad_values(
    tracer: agl.OtelTracer, caplog: pytest.LogCaptureFixture
) -> None:
    from agentlightning.reward import reward

    @reward
    def grade(value: Any) -> Any:
        return value

    assert grade(0.3) == 0.3  # a grading function still works in a unit test
    assert "no reward span was recorded" in caplog.text
    async with tracer.trace_context("t"):
        with pytest.raises(TypeError, match=r"returned str 'good'; it must return a number"):
            grade("good")


# ---- 3. the runner's debug API ------------------------------------------------------------------


async def test_runner_run_context_and_step_run_a_task_as_a_fresh_rollout(store: agl.LightningStore) -> None:
    seen: list[Any] = []

    @agl.rollout
    def agent(task: dict[str, int], llm: agl.LLM) -> float:
        seen.append((task, llm.model))
        return float(task["x"])

    task = {"x": 3}
    runner = agl.LitAgentRunner[dict[str, int]](agl.OtelTracer(), auto_instrument=False)
    with runner.run_context(agent=agent, store=store):
        rollout = await runner.step(task, resources={"main_llm": agl.LLM(endpoint="http://127.0.0.1:9", model="m")})
        again = await runner.step({"x": 1}, mode="val")
    assert seen[0][0] is task and [m for _, m in seen] == ["m", "m"]  # the object itself; resources kept
    assert isinstance(rollout, agl.Rollout) and rollout.status == "succeeded" and rollout.mode == "train"
    assert again.mode == "val"
    assert agl.find_final_reward(await store.query_spans(rollout.rollout_id)) == 3.0
    assert await store.dequeue_rollout() is None  # not through the queue
    with pytest.raises(ValueError, match="no agent"):
        _ = runner.agent  # torn down on exit


async def test_runner_iter_and_step_of_a_dequeued_rollout(store: agl.LightningStore) -> None:
    @agl.rollout
    def agent(task: str, llm: agl.LLM) -> float:
        return 0.5

    await store.enqueue_rollout(input="a")
    runner: agl.LitAgentRunner[str] = agl.LitAgentRunner(agl.OtelTracer(), auto_instrument=False)
    with runner.run_context(agent=agent, store=store):
        assert await runner.iter() == 1
        attempted = await store.start_rollout(input="b")
        with pytest.raises(TypeError, match="resources= and mode= are for step"):
            await runner.step(attempted, mode="val")


# ---- 4. Trainer(n_workers=) ---------------------------------------------------------------------


def test_trainer_n_workers_is_a_deprecated_alias() -> None:
    with pytest.warns(DeprecationWarning, match="n_runners"):
        trainer = agl.Trainer(n_workers=3)
    assert trainer.n_runners == 3
    with pytest.warns(DeprecationWarning), pytest.raises(ValueError, match="pass only n_runners"):
        agl.Trainer(n_runners=2, n_workers=3)


# ---- 5. get_langchain_handler -------------------------------------------------------------------


@pytest.mark.skipif(
    importlib.util.find_spec("langchain_core") is None,
    reason="langchain-core 1.x needs Python >= 3.11 (not installed here)",
)
def test_get_langchain_handler_is_none_until_the_langchain_plugin_traces_then_its_handler() -> None:
    from langchain_core.callbacks import BaseCallbackHandler

    from agentlightning.instrumentation import instrument, uninstrument

    uninstrument("langchain")  # from a known state, whatever ran before in this process
    tracer = agl.OtelTracer()
    assert "langchain" in _registry.available_instrumentors()  # the workspace installs the plugin
    assert tracer.get_langchain_handler() is None  # installed, not instrumented: 0.3's None
    instrument("langchain")
    try:
        handler = tracer.get_langchain_handler()
        assert isinstance(handler, BaseCallbackHandler)
        assert type(handler).__module__.startswith("agentlightning_langchain")
    finally:
        uninstrument("langchain")
    assert tracer.get_langchain_handler() is None


# ---- 6 + 7. auto-instrumentation and content capture in Trainer rollouts ------------------------


def _agent() -> Any:
    @agl.rollout
    def agent(task: str, llm: agl.LLM) -> float:
        client = openai.OpenAI(base_url=llm.endpoint, api_key="k", max_retries=0)
        reply = client.chat.completions.create(model=llm.model, messages=[{"role": "user", "content": task}])
        client.close()
        return 1.0 if reply.choices[0].message.content == "4" else 0.0

    return agent


def _chat_spans(trainer: agl.Trainer, rollout: agl.Rollout) -> list[agl.Span]:
    return [
        s for s in trainer.store_query_spans(rollout.rollout_id) if s.attributes.get("gen_ai.operation.name") == "chat"
    ]


@pytest.mark.usefixtures("clean_instrumentation")
def test_trainer_instruments_by_itself_and_captures_content(server: ScriptedOpenAIServer) -> None:
    uninstrument_all()
    llm = agl.LLM(endpoint=server.base_url, model="tiny")
    trainer = agl.Trainer(store=agl.InMemoryLightningStore(), initial_resources={"main_llm": llm}, progress=False)
    (rollout,) = trainer.dev(_agent(), ["2 + 2?"])
    (span,) = _chat_spans(trainer, rollout)
    assert "2 + 2?" in span.attributes["gen_ai.input.messages"]
    (triplet,) = trainer.adapter.adapt(trainer.store_query_spans(rollout.rollout_id))
    assert triplet.prompt["raw_content"] and triplet.response["raw_content"]


@pytest.mark.usefixtures("clean_instrumentation")
def test_trainer_capture_content_false_and_auto_instrument_false(server: ScriptedOpenAIServer) -> None:
    uninstrument_all()
    llm = agl.LLM(endpoint=server.base_url, model="tiny")
    store = agl.InMemoryLightningStore()
    trainer = agl.Trainer(store=store, initial_resources={"main_llm": llm}, progress=False, capture_content=False)
    (rollout,) = trainer.dev(_agent(), ["2 + 2?"])
    (span,) = _chat_spans(trainer, rollout)
    assert "gen_ai.input.messages" not in span.attributes and "2 + 2?" not in str(span.attributes)
    uninstrument_all()
    off = agl.Trainer(store=store, initial_resources={"main_llm": llm}, progress=False, auto_instrument=False)
    (rollout,) = off.dev(_agent(), ["2 + 2?"])
    assert _chat_spans(off, rollout) == [] and rollout.status == "succeeded"


@pytest.mark.usefixtures("clean_instrumentation")
def test_explicit_instrumentation_options_survive_auto_instrumentation(server: ScriptedOpenAIServer) -> None:
    agl.instrument_all(capture_content=False)  # the user said no: the Trainer must not turn it back on
    llm = agl.LLM(endpoint=server.base_url, model="tiny")
    trainer = agl.Trainer(store=agl.InMemoryLightningStore(), initial_resources={"main_llm": llm}, progress=False)
    (rollout,) = trainer.dev(_agent(), ["2 + 2?"])
    (span,) = _chat_spans(trainer, rollout)
    assert "gen_ai.input.messages" not in span.attributes


@pytest.mark.usefixtures("clean_instrumentation")
def test_bare_instrument_all_stays_content_free_outside_a_trainer(
    server: ScriptedOpenAIServer, tracer: agl.OtelTracer
) -> None:
    agl.instrument_all()
    with openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0) as client, tracer.trace_context("t"):
        client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": "secret"}])
    (span,) = [s for s in tracer.get_last_trace() if s.attributes.get("gen_ai.operation.name") == "chat"]
    assert "secret" not in str(span.attributes)
    with openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0) as client:
        with tracer.trace_context("t", capture_content=True):
            client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": "shown"}])
    (span,) = [s for s in tracer.get_last_trace() if s.attributes.get("gen_ai.operation.name") == "chat"]
    assert "shown" in span.attributes["gen_ai.input.messages"]


# ---- 8. utils.otel and semconv ------------------------------------------------------------------


def test_tags_and_links_round_trip_and_find_the_linked_span(tracer: agl.OtelTracer) -> None:
    from agentlightning.semconv import AGL_OPERATION, LightningSpanAttributes
    from agentlightning.utils.otel import (
        extract_links_from_attributes,
        extract_tags_from_attributes,
        make_link_attributes,
        make_tag_attributes,
        query_linked_spans,
    )

    tags = make_tag_attributes(["reward.extrinsic", "gen_ai.model:tiny"])
    assert tags == {"agentlightning.tag.0": "reward.extrinsic", "agentlightning.tag.1": "gen_ai.model:tiny"}
    assert extract_tags_from_attributes({**tags, "other": 1}) == ["reward.extrinsic", "gen_ai.model:tiny"]
    assert LightningSpanAttributes.TAG.value == "agentlightning.tag" and AGL_OPERATION == "agentlightning.operation"
    with pytest.raises(TypeError, match="list of tags"):
        make_tag_attributes("one")  # type: ignore[arg-type]
    with tracer.trace_context("t"):
        target = tracer.create_span("llm", attributes={"gen_ai.response.id": "resp-1"})
        tracer.create_span("other", attributes={"gen_ai.response.id": "resp-2"})
        tracer.create_span(AGL_OPERATION, attributes=make_link_attributes({"gen_ai.response.id": "resp-1"}))
    spans = tracer.get_last_trace()
    link_span = next(s for s in spans if s.name == AGL_OPERATION)
    links = extract_links_from_attributes(link_span.attributes)
    assert [(link.key_match, link.value_match) for link in links] == [("gen_ai.response.id", "resp-1")]
    assert [s.name for s in query_linked_spans(spans, links)] == ["llm"]
    span_id = format(target.context.span_id, "016x")
    by_id = extract_links_from_attributes(make_link_attributes({"span_id": span_id}))
    assert [s.name for s in query_linked_spans(spans, by_id)] == ["llm"]
    assert [s.name for s in query_linked_spans([target], by_id)] == ["llm"]  # OpenTelemetry spans too
    with pytest.raises(ValueError, match="must be strings"):
        make_link_attributes({"span_id": 3})  # type: ignore[dict-item]


def test_flatten_and_unflatten_are_inverse() -> None:
    from agentlightning.utils.otel import flatten_attributes, unflatten_attributes

    nested = {"a": [{"b": 1}, {"c": "x"}], "d": {"e": True}}
    flat = flatten_attributes(nested)
    assert flat == {"a.0.b": 1, "a.1.c": "x", "d.e": True}
    assert unflatten_attributes(flat) == nested


# ---- 9. the HTTP store and AgentOpsTracer -------------------------------------------------------


@pytest.mark.parametrize("name", ["LightningStoreClient", "LightningStoreServer"])
def test_http_store_names_raise_import_error_pointing_at_postgres(name: str) -> None:
    with pytest.raises(ImportError, match="PostgreSQL"):
        exec(f"from agentlightning import {name}")
    with pytest.raises(ImportError, match="PostgreSQL"):
        exec(f"from agentlightning.store import {name}")
    with pytest.raises(ImportError, match="PostgreSQL"):
        importlib.import_module("agentlightning.store.client_server")


def test_agentops_tracer_comes_from_the_agentops_plugin() -> None:
    from agentlightning_agentops._tracer import AgentOpsTracer

    assert agl.AgentOpsTracer is AgentOpsTracer  # type: ignore[attr-defined]
    assert issubclass(AgentOpsTracer, agl.OtelTracer)


_WITHOUT_AGENTOPS = """
import sys
sys.modules["agentops"] = None  # as if AgentOps were not installed
import agentlightning as agl
for attempt in (lambda: agl.AgentOpsTracer, lambda: __import__("agentlightning.tracer.agentops"),
                lambda: __import__("agentlightning.instrumentation.agentops"),
                lambda: __import__("agentlightning.instrumentation.agentops_langchain")):
    try:
        attempt()
    except ImportError as exc:
        print(exc)
    else:
        print("imported")
"""


@pytest.mark.slow
def test_agentops_names_are_an_import_error_naming_the_extra_without_agentops() -> None:
    out = subprocess.run([sys.executable, "-c", _WITHOUT_AGENTOPS], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == 4
    assert all("pip install 'agentlightning[agentops]'" in line for line in lines), lines
    assert "AgentOps plugin" in lines[0] and "agl.OtelTracer()" in lines[0]


@pytest.mark.usefixtures("clean_instrumentation")
def test_a_tool_call_message_without_content_is_traced_in_a_trainer_rollout(server: ScriptedOpenAIServer) -> None:
    # 0.3 crashed inside create() on this message (content None) once content was captured.
    @agl.rollout
    def agent(task: str, llm: agl.LLM) -> float:
        with openai.OpenAI(base_url=llm.endpoint, api_key="k", max_retries=0) as client:
            call = {"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}
            client.chat.completions.create(
                model=llm.model,
                messages=[
                    {"role": "user", "content": task},
                    {"role": "assistant", "content": None, "tool_calls": [call]},
                    {"role": "tool", "tool_call_id": "c1", "content": "found"},
                ],
            )
        return 1.0

    llm = agl.LLM(endpoint=server.base_url, model="tiny")
    trainer = agl.Trainer(store=agl.InMemoryLightningStore(), initial_resources={"main_llm": llm}, progress=False)
    (rollout,) = trainer.dev(agent, ["look it up"])
    assert rollout.status == "succeeded"
    (span,) = _chat_spans(trainer, rollout)
    messages = json.loads(span.attributes["gen_ai.input.messages"])
    assert messages[1] == {
        "role": "assistant",
        "parts": [{"type": "tool_call", "id": "c1", "name": "lookup", "arguments": "{}"}],
    }
