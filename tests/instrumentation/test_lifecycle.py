"""The core lifecycle a plugin builds on: patch resolution, requirements, options, run-id spans, generators,
capture decisions, message shapes through the training adapters."""

from __future__ import annotations

import asyncio
import json
import logging
import textwrap
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import context, trace
from opentelemetry.trace import StatusCode

import agentlightning.instrumentation as inst
from agentlightning import semconv as sc
from agentlightning.adapter import TracerTraceToTriplet, TraceToMessages
from agentlightning.instrumentation import (
    InstrumentationConfig,
    Instrumentor,
    Operation,
    Option,
    Patch,
    RunSpans,
    capture_enabled,
    check_requirement,
    register_instrumentor,
    render_options,
    wrap,
)
from agentlightning.instrumentation import messages as m
from agentlightning.instrumentation._config import parse_bool
from agentlightning.tracer import current_trace_state
from agentlightning.tracer.otel import OtelTracer
from agentlightning.types import Span

ROOT = Path(__file__).resolve().parents[2]


# ---- patch targets resolved through the MRO ------------------------------------------------------


@pytest.fixture
def framework(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    name = f"mrofw_{abs(hash(tmp_path)) % 10**8}"
    (tmp_path / f"{name}.py").write_text(
        textwrap.dedent(
            """
            class Base:
                @classmethod
                def make(cls):
                    return cls
                @staticmethod
                def double(x):
                    return 2 * x
            class Child(Base):
                pass
            class GrandChild(Child):
                pass
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    return name


class Passthrough(Instrumentor):
    name = "passthrough-test"

    def __init__(self, module: str) -> None:
        super().__init__()
        self.module = module
        self.calls = 0

    def _patches(self, config: InstrumentationConfig) -> list[Patch]:
        def factory(switch: Any) -> Any:
            def wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
                self.calls += 1
                return wrapped(*args, **kwargs)

            return wrapper

        return [Patch(self.module, "Child.make", factory), Patch(self.module, "Child.double", factory)]


def test_inherited_classmethod_and_staticmethod_patched_on_a_subclass(framework: str) -> None:
    import importlib

    module = importlib.import_module(framework)
    instrumentor = Passthrough(framework)
    instrumentor.instrument()
    try:
        assert module.Child.make() is module.Child  # keeps its cls
        assert module.GrandChild.make() is module.GrandChild  # bound late, to the class it is called on
        assert module.Base.make() is module.Base  # the base is untouched
        assert module.Child().double(4) == 8  # a staticmethod still works on instances
        assert module.Child.double(5) == 10
        assert instrumentor.calls == 4
    finally:
        instrumentor.uninstrument()
    assert "make" not in vars(module.Child) and "double" not in vars(module.Child)  # inherited again
    assert module.Child.make() is module.Child


class SubclassWatcher(Instrumentor):
    """Wraps ``Hooked.__init_subclass__``, which the class inherits from C (``object``'s), like AutoGen's
    ``ChatCompletionClient`` inherits ``typing.Generic``'s on Python 3.12+."""

    name = "subclass-watcher-test"

    def __init__(self, module: str) -> None:
        super().__init__()
        self.module = module
        self.seen: list[Any] = []

    def _patches(self, config: InstrumentationConfig) -> list[Patch]:
        def factory(switch: Any) -> Any:
            def wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
                self.seen.append(instance)
                return wrapped(*args, **kwargs)

            return wrapper

        return [Patch(self.module, "Hooked.__init_subclass__", factory)]


def test_an_init_subclass_inherited_from_c_is_wrapped_with_the_class_and_the_mro_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"subfw_{abs(hash(tmp_path)) % 10**8}"
    (tmp_path / f"{name}.py").write_text(
        textwrap.dedent(
            """
            class Hooked:
                pass
            class Mixin:
                def __init_subclass__(cls, tag="", **kwargs):
                    cls.tag = tag
                    super().__init_subclass__(**kwargs)
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    module = __import__(name)
    watcher = SubclassWatcher(name)
    watcher.instrument()
    try:
        child = type("Child", (module.Hooked,), {})
        both = type("Both", (child, module.Mixin), {}, tag="x")  # Mixin's hook comes after Hooked in the MRO
        assert watcher.seen == [child, both]  # the wrapper learns the class being defined
        assert both.tag == "x"  # and the rest of the MRO still runs, with the class's keywords
        with pytest.raises(TypeError):
            type("Bad", (module.Hooked,), {}, unknown=1)  # what object.__init_subclass__ says, unchanged
    finally:
        watcher.uninstrument()
    assert "__init_subclass__" not in vars(module.Hooked)  # inherited again


# ---- requirements checked with packaging ---------------------------------------------------------


def test_requirements_upper_bounds_and_markers() -> None:
    import wrapt

    assert check_requirement("pytest>=1,<999") is None
    too_new = check_requirement("pytest<1")
    assert too_new is not None and "newer than this plugin supports" in too_new and "pytest<1" in too_new
    if wrapt.__version__.startswith("2."):
        problem = check_requirement("wrapt<2")
        assert problem is not None and f"wrapt {wrapt.__version__} is installed" in problem
    assert check_requirement("no-such-dist-here>=1; python_version < '3'") is None  # marker does not apply
    assert "not installed" in (check_requirement("no-such-dist-here>=1") or "")
    assert "not a valid requirement" in (check_requirement("pytest >>> 1") or "")


def test_plugin_refused_with_a_sentence_when_too_new() -> None:
    class TooNew(Instrumentor):
        name = "too-new"
        instruments = ("pytest>=1,<2",)

        def _patches(self, config: InstrumentationConfig) -> list[Patch]:
            return []

    with pytest.raises(
        inst.InstrumentationUnavailableError, match=r"Cannot instrument too-new: pytest .* is installed"
    ):
        TooNew().instrument()


# ---- options -------------------------------------------------------------------------------------


def test_unknown_option_names_the_nearest_one() -> None:
    with pytest.raises(TypeError, match=r"'capture_contnet'.*did you mean 'capture_content'"):
        inst.instrument_all(capture_contnet=True)
    with pytest.raises(TypeError, match="did you mean 'capture_content'"):
        inst.instrument("openai", capture_contents=True)
    with pytest.raises(TypeError, match="known options"):
        InstrumentationConfig.resolve(zzz=1)


def test_plugin_options_are_typed_rows_and_reach_the_config(monkeypatch: pytest.MonkeyPatch) -> None:
    class WithOption(Instrumentor):
        name = "with-option"
        options = (Option("trace_runtime", "trace_runtime", (("ACME_TRACE_RUNTIME", parse_bool),), False, "bool", "x"),)

        def _patches(self, config: InstrumentationConfig) -> list[Patch]:
            return []

    plugin = WithOption()
    register_instrumentor("with-option", plugin)
    plugin.instrument()
    assert plugin.config is not None and plugin.config.extra == {"trace_runtime": False}
    monkeypatch.setenv("ACME_TRACE_RUNTIME", "yes")
    plugin.instrument()  # re-instrumenting re-reads the environment
    assert plugin.config.extra == {"trace_runtime": True}
    inst.instrument_all(trace_runtime=False, disabled=[n for n in inst.available_instrumentors() if n != "with-option"])
    assert plugin.config.extra == {"trace_runtime": False}
    plugin.uninstrument()


def test_capture_content_is_three_valued(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AGENTLIGHTNING_CAPTURE_CONTENT", raising=False)
    monkeypatch.delenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", raising=False)
    unset = InstrumentationConfig.resolve()
    assert unset.capture_content is None and capture_enabled(unset) is False
    off = InstrumentationConfig.resolve(capture_content=False)
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "SPAN_ONLY")
    assert InstrumentationConfig.resolve().capture_content is True
    tracer = OtelTracer()
    tracer.init()
    try:
        with tracer.trace_context("capture"):
            state = current_trace_state()
            assert state is not None
            state.capture_content = True  # what a Trainer's rollouts ask for
            assert capture_enabled(unset) is True  # unset: the trace context decides
            assert capture_enabled(off) is False  # the user's explicit "no" wins
    finally:
        tracer.teardown()


def test_the_configuration_page_is_rendered_from_the_table() -> None:
    page = (ROOT / "docs" / "configuration.md").read_text()
    assert render_options() in page, "docs/configuration.md is stale: paste render_options() into it"


# ---- the run-id form -----------------------------------------------------------------------------


def test_run_spans_across_threads_and_tasks(spans: Any, caplog: pytest.LogCaptureFixture) -> None:
    runs = RunSpans(trace.get_tracer("callback.framework"))
    before = context.get_current()
    with caplog.at_level(logging.DEBUG), trace.get_tracer("user").start_as_current_span("user") as user:
        runs.start_agent("root", "invoke_workflow graph", workflow=True)

        def node(i: int) -> None:  # started on one thread...
            runs.start_agent(f"node-{i}", f"invoke_agent node-{i}", parent_run_id="root")
            runs.start_tool(f"tool-{i}", f"execute_tool t{i}", parent_run_id=f"node-{i}")

        threads = [threading.Thread(target=node, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

        async def finish(i: int) -> None:  # ... ended in asyncio tasks
            await asyncio.sleep(0)
            if i % 2:
                runs.fail(f"tool-{i}", RuntimeError("tool broke"))
            else:
                runs.stop(f"tool-{i}", {"ok": True})
            runs.stop(f"node-{i}")

        async def finish_all() -> None:
            await asyncio.gather(*(finish(i) for i in range(4)))

        asyncio.run(finish_all())
        runs.stop("root")
    assert context.get_current() == before
    assert len(runs) == 0
    assert not runs.stop("root") and not runs.fail("never", ValueError())  # ended or unknown: nothing happens
    assert "Failed to detach context" not in caplog.text
    by_name = {s.name: s for s in spans.get_finished_spans()}
    root = by_name["invoke_workflow graph"]
    assert root.parent.span_id == user.get_span_context().span_id  # parented on the span current at start
    for i in range(4):
        node_span, tool = by_name[f"invoke_agent node-{i}"], by_name[f"execute_tool t{i}"]
        assert node_span.parent.span_id == root.context.span_id
        assert tool.parent.span_id == node_span.context.span_id
        assert tool.status.status_code is (StatusCode.ERROR if i % 2 else StatusCode.UNSET)
    assert len({s.context.trace_id for s in spans.get_finished_spans()}) == 1


def test_run_spans_close_all_frees_everything(spans: Any) -> None:
    runs = RunSpans(trace.get_tracer("callback.framework"))
    for i in range(100):
        runs.start_llm(i, f"chat m{i}")
    assert runs.close_all() == 100 and len(runs) == 0
    assert inst.current_llm_invocation() is None
    assert len(spans.get_finished_spans()) == 100


# ---- generator wrappers --------------------------------------------------------------------------


class Turns:
    def __init__(self) -> None:
        self.seen: list[Any] = []

    async def run_stream(self, n: int) -> AsyncIterator[int]:
        for i in range(n):
            self.seen.append(trace.get_current_span())
            await asyncio.sleep(0)
            yield i

    def steps(self, n: int) -> Iterator[int]:
        for i in range(n):
            self.seen.append(trace.get_current_span())
            yield i


TURN = Operation("agent", lambda instance, args, kwargs, capture: ("invoke_agent turns", {}))


@pytest.mark.parametrize("style", ["async_gen", "gen"])
def test_generator_span_current_inside_never_between_items(style: str, spans: Any) -> None:
    turns = Turns()
    method = "run_stream" if style == "async_gen" else "steps"
    wrapper = wrap(trace.get_tracer("gen.test"), InstrumentationConfig(), TURN, style)(inst.Switch())
    original = getattr(Turns, method)

    def call(*args: Any) -> Any:
        return wrapper(original.__get__(turns), turns, args, {})

    outside: list[Any] = []
    with trace.get_tracer("user").start_as_current_span("caller") as caller:
        if style == "async_gen":

            async def consume() -> list[int]:
                items = []
                async for item in call(3):
                    outside.append(trace.get_current_span())
                    items.append(item)
                return items

            assert asyncio.run(consume()) == [0, 1, 2]
        else:
            items = []
            for item in call(3):
                outside.append(trace.get_current_span())
                items.append(item)
            assert items == [0, 1, 2]
    [span] = [s for s in spans.get_finished_spans() if s.name == "invoke_agent turns"]
    assert {s.get_span_context().span_id for s in turns.seen} == {span.context.span_id}  # parenting across yields
    assert all(s is caller for s in outside)  # the caller never sees our span between items
    assert span.parent.span_id == caller.get_span_context().span_id


async def test_async_generator_closed_early_or_raising_ends_the_span(spans: Any) -> None:
    turns = Turns()
    wrapper = wrap(trace.get_tracer("gen.test"), InstrumentationConfig(), TURN, "async_gen")(inst.Switch())
    agen = wrapper(Turns.run_stream.__get__(turns), turns, (5,), {})
    assert await agen.__anext__() == 0
    await agen.aclose()

    async def broken() -> AsyncIterator[int]:
        yield 1
        raise KeyError("inside")

    failing = wrapper(broken, None, (), {})
    with pytest.raises(KeyError):
        async for _ in failing:
            pass
    first, second = [s for s in spans.get_finished_spans() if s.name == "invoke_agent turns"]
    assert first.status.status_code is StatusCode.UNSET
    assert second.status.status_code is StatusCode.ERROR and second.attributes[sc.ERROR_TYPE] == "KeyError"


# ---- message shapes through the training adapters ------------------------------------------------


def test_message_shapes_round_trip_through_the_adapters() -> None:
    inputs = [
        m.input_message("user", [m.text_part("What is 2 + 2?")]),
        m.input_message("assistant", [m.tool_call_part("call_1", "add", '{"a": 2, "b": 2}')]),
        m.input_message("tool", [m.tool_call_response_part("call_1", "4")]),
    ]
    outputs = [m.output_message([m.text_part("4")], "stop")]
    attributes = {
        sc.GEN_AI_OPERATION_NAME: sc.OP_CHAT,
        sc.GEN_AI_SYSTEM_INSTRUCTIONS: m.dumps(m.system_instructions("Be terse.")),
        sc.GEN_AI_INPUT_MESSAGES: m.dumps(inputs),
        sc.GEN_AI_OUTPUT_MESSAGES: m.dumps(outputs),
        sc.GEN_AI_TOOL_DEFINITIONS: m.dumps(m.tool_definitions([{"type": "function", "name": "add"}], True)),
        sc.AGL_PROMPT_TOKEN_IDS: [1, 2, 3],
        sc.AGL_RESPONSE_TOKEN_IDS: [4],
    }
    span = Span(
        rollout_id="ro-1",
        attempt_id="at-1",
        sequence_id=1,
        trace_id="a" * 32,
        span_id="b" * 16,
        parent_id=None,
        name="chat m",
        attributes=attributes,
        start_time=1.0,
        end_time=2.0,
    )
    [record] = TraceToMessages().adapt([span])
    assert record["messages"][0] == {"role": "system", "content": "Be terse."}
    assert record["messages"][1] == {"role": "user", "content": "What is 2 + 2?"}
    assert record["messages"][2]["tool_calls"][0]["function"] == {"name": "add", "arguments": '{"a": 2, "b": 2}'}
    assert record["messages"][3]["role"] == "tool" and record["messages"][3]["content"] == "4"
    assert record["messages"][-1] == {"role": "assistant", "content": "4"}
    [triplet] = TracerTraceToTriplet().adapt([span])
    assert triplet.prompt["token_ids"] == [1, 2, 3] and triplet.response["token_ids"] == [4]
    assert json.loads(m.dumps(outputs)) == outputs  # plain JSON, no encoder surprises
