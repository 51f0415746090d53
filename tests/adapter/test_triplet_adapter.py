"""TracerTraceToTriplet on hand-built span trees: which calls become triplets, and which reward each gets."""

from __future__ import annotations

import json
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentlightning.adapter import DEFAULT_LLM_CALL_MATCH, TracerTraceToTriplet
from agentlightning.types import Span

TRACE = "a" * 32


def span(
    sid: str,
    name: str,
    start: float | None,
    end: float | None,
    parent: str | None = None,
    attrs: dict[str, Any] | None = None,
    seq: int = 0,
) -> Span:
    return Span(
        rollout_id="ro-1",
        attempt_id="at-1",
        sequence_id=seq,
        trace_id=TRACE,
        span_id=sid,
        parent_id=parent,
        name=name,
        attributes=attrs or {},
        start_time=start,
        end_time=end,
    )


def llm(sid: str, start: float, end: float, parent: str | None = "root", rid: str | None = None, **attrs: Any) -> Span:
    attributes: dict[str, Any] = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o-mini", **attrs}
    if rid is not None:
        attributes["gen_ai.response.id"] = rid
    return span(sid, "chat gpt-4o-mini", start, end, parent, attributes)


def agent(sid: str, name: str, start: float, end: float, parent: str | None = "root") -> Span:
    attrs = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": name}
    return span(sid, f"invoke_agent {name}", start, end, parent, attrs)


def reward(sid: str, at: float, value: float, parent: str | None = "root") -> Span:
    attrs = {"agentlightning.reward.0.name": "primary", "agentlightning.reward.0.value": value}
    return span(sid, "agentlightning.annotation", at, at, parent, attrs)


def root(start: float = 0.0, end: float = 100.0) -> Span:
    return span("root", "agentlightning.rollout", start, end)


def ids(triplets: list[Any]) -> list[str]:
    return [t.metadata["span_id"] for t in triplets]


def rewards(triplets: list[Any]) -> list[float | None]:
    return [t.reward for t in triplets]


def test_nested_llm_calls_found_in_start_order_with_their_agent() -> None:
    spans = [
        root(),
        agent("outer", "planner", 1, 20),
        agent("inner", "solver", 2, 10, parent="outer"),
        llm("deep", 3, 4, parent="inner", rid="r-deep"),
        llm("shallow", 12, 13, parent="outer", rid="r-shallow"),
        llm("first", 0.5, 0.9, rid="r-first"),
    ]
    triplets = TracerTraceToTriplet()(list(reversed(spans)))
    assert ids(triplets) == ["first", "deep", "shallow"]
    assert [t.metadata["agent_name"] for t in triplets] == [None, "solver", "planner"]
    assert rewards(triplets) == [None, None, None]


def test_reward_goes_to_latest_call_that_ended_before_it() -> None:
    spans = [root(), llm("c1", 1, 2), llm("c2", 3, 4), llm("c3", 5, 6), reward("r", 7, 0.8)]
    assert rewards(TracerTraceToTriplet().adapt(spans)) == [None, None, 0.8]


def test_each_reward_goes_to_a_different_call() -> None:
    spans = [
        root(),
        llm("c1", 1, 2),
        reward("r1", 2.5, 0.1),
        llm("c2", 3, 4),
        reward("r2", 5, 0.2),
        reward("r3", 6, 0.3),
    ]
    # r1 -> c1 (only call ended), r2 -> c2 (latest), r3 -> nothing left unrewarded.
    assert rewards(TracerTraceToTriplet().adapt(spans)) == [0.1, 0.2]
    spans = [root(), llm("c1", 1, 2), llm("c2", 3, 4), reward("r1", 5, 0.1), reward("r2", 6, 0.2)]
    # Both after both calls: the first reward takes the latest call, the second the one before it.
    assert rewards(TracerTraceToTriplet().adapt(spans)) == [0.2, 0.1]


def test_reward_during_a_call_goes_to_an_earlier_call() -> None:
    spans = [root(), llm("c1", 1, 2), llm("c2", 3, 6), reward("r", 4, 1.0)]
    assert rewards(TracerTraceToTriplet().adapt(spans)) == [1.0, None]


def test_reward_with_no_prior_call_is_dropped() -> None:
    spans = [root(), reward("r", 0.5, 1.0), llm("c1", 1, 2)]
    assert rewards(TracerTraceToTriplet().adapt(spans)) == [None]
    assert TracerTraceToTriplet().adapt([root(), reward("r", 0.5, 1.0)]) == []
    assert TracerTraceToTriplet().adapt([]) == []


def test_agentops_reward_payload_is_matched_too() -> None:
    payload = {"agentops.task.output": json.dumps({"type": "reward", "value": 0.6})}
    spans = [root(), llm("c1", 1, 2), span("r", "reward_fn.task", 3, 3.5, "root", payload)]
    assert rewards(TracerTraceToTriplet().adapt(spans)) == [0.6]


def test_duplicate_response_ids_keep_the_outermost() -> None:
    spans = [
        root(),
        llm("outer", 1, 5, rid="resp-1"),
        span("inner", "openai.chat.completion", 2, 4, "outer", {"gen_ai.response.id": "resp-1"}),
        span("layer", "openai.chat.completion", 2, 4, "outer"),  # same call, no id: an inner layer
        llm("again", 6, 7, rid="resp-1"),  # the same response recorded twice elsewhere
        llm("other", 8, 9, rid="resp-2"),
    ]
    assert ids(TracerTraceToTriplet().adapt(spans)) == ["outer", "other"]


def test_same_span_given_twice_gives_one_triplet() -> None:
    call = llm("c1", 1, 2)
    assert ids(TracerTraceToTriplet().adapt([root(), call, call])) == ["c1"]


def test_orphan_with_missing_parent_is_repaired_under_smallest_enclosing_span() -> None:
    spans = [
        root(),
        agent("planner", "planner", 1, 50),
        agent("solver", "solver", 2, 20, parent="planner"),
        llm("orphan", 5, 6, parent="lost-parent", rid="r1"),
        llm("thread", 7, 8, parent=None, rid="r2"),  # context lost in a thread: a second root
    ]
    solver = TracerTraceToTriplet(agent_match="solver").adapt(spans)
    assert ids(solver) == ["orphan", "thread"]
    assert [t.metadata["agent_name"] for t in solver] == ["solver", "solver"]
    # The nearest agent decides: the calls are the solver's, not the planner's.
    assert TracerTraceToTriplet(agent_match="^planner$").adapt(spans) == []
    # Without repair the orphans hang under no agent, so agent_match cannot find them ...
    assert TracerTraceToTriplet(repair_hierarchy=False, agent_match="solver").adapt(spans) == []
    # ... but they are still LLM calls.
    assert ids(TracerTraceToTriplet(repair_hierarchy=False).adapt(spans)) == ["orphan", "thread"]


def test_repair_never_moves_spans_that_have_their_parent() -> None:
    spans = [root(), agent("solver", "solver", 1, 10), llm("c1", 2, 3, parent="root")]
    assert TracerTraceToTriplet(agent_match="solver").adapt(spans) == []


def test_repair_picks_the_tightest_enclosing_span() -> None:
    spans = [root(), agent("big", "big", 5, 30), agent("small", "small", 5, 10), llm("o", 5, 9, parent="gone")]
    assert [t.metadata["agent_name"] for t in TracerTraceToTriplet().adapt(spans)] == ["small"]
    spans = [root(), agent("big", "big", 5, 30), agent("tight", "tight", 4, 10), llm("o", 5, 9, parent="gone")]
    assert [t.metadata["agent_name"] for t in TracerTraceToTriplet().adapt(spans)] == ["tight"]


def test_concurrent_agents_triplets_in_call_start_order() -> None:
    spans = [
        root(),
        agent("a", "a", 1, 10),
        llm("a1", 8, 9, parent="a", rid="a1"),
        agent("b", "b", 2, 5),
        llm("b1", 3, 4, parent="b", rid="b1"),
    ]
    assert ids(TracerTraceToTriplet().adapt(spans)) == ["b1", "a1"]


def test_parent_loop_loses_no_span() -> None:
    spans = [llm("a", 1, 2, parent="b", rid="ra"), llm("b", 3, 4, parent="a", rid="rb")]
    assert sorted(ids(TracerTraceToTriplet().adapt(spans))) == ["a", "b"]


def test_agent_match_filters_by_agent_name() -> None:
    spans = [
        root(),
        agent("p", "planner", 1, 10),
        llm("p1", 2, 3, parent="p", rid="p1"),
        agent("s", "solver", 11, 20),
        llm("s1", 12, 13, parent="s", rid="s1"),
        llm("s2", 14, 15, parent="s", rid="s2"),
        llm("loose", 21, 22, rid="loose"),
    ]
    assert ids(TracerTraceToTriplet(agent_match="solv").adapt(spans)) == ["s1", "s2"]
    assert ids(TracerTraceToTriplet(agent_match="planner|solver").adapt(spans)) == ["p1", "s1", "s2"]
    assert ids(TracerTraceToTriplet().adapt(spans)) == ["p1", "s1", "s2", "loose"]


def test_agent_match_with_other_tracers_agent_attributes() -> None:
    spans = [
        root(),
        span("a", "crew.task", 1, 10, "root", {"agentops.span.kind": "agent", "operation.name": "writer"}),
        span("c", "openai.chat.completion", 2, 3, "a", {"gen_ai.response.id": "x"}),
    ]
    triplets = TracerTraceToTriplet(agent_match="writer").adapt(spans)
    assert ids(triplets) == ["c"] and triplets[0].metadata["agent_name"] == "writer"


def test_llm_calls_inside_a_reward_span_are_excluded() -> None:
    judge_scope = {"agentops.task.output": json.dumps({"type": "reward", "value": 0.9})}
    spans = [
        root(),
        llm("act", 1, 2, rid="act"),
        span("judge", "reward", 3, 8, "root", judge_scope),
        llm("judge-call", 4, 5, parent="judge", rid="judge"),
    ]
    default = TracerTraceToTriplet().adapt(spans)
    assert ids(default) == ["act"] and rewards(default) == [0.9]
    included = TracerTraceToTriplet(exclude_llm_call_in_reward=False).adapt(spans)
    # The judge call is kept, but it ended after the reward span started, so the reward stays with "act".
    assert ids(included) == ["act", "judge-call"] and rewards(included) == [0.9, None]


def test_reward_operation_span_without_value_still_excludes_its_calls() -> None:
    scope = {"agentlightning.operation.name": "reward"}
    spans = [root(), span("op", "agentlightning.operation", 1, 5, "root", scope), llm("j", 2, 3, parent="op")]
    assert TracerTraceToTriplet().adapt(spans) == []


def test_token_ids_raw_content_and_metadata() -> None:
    inputs = [{"role": "user", "parts": [{"type": "text", "content": "2+2?"}]}]
    outputs = [{"role": "assistant", "parts": [{"type": "text", "content": "4"}], "finish_reason": "stop"}]
    call = llm(
        "c1",
        1,
        2,
        rid="chatcmpl-1",
        **{
            "agentlightning.prompt_token_ids": [1, 2, 3],
            "agentlightning.response_token_ids": "[7, 8]",
            "gen_ai.input.messages": json.dumps(inputs),
            "gen_ai.output.messages": json.dumps(outputs),
            "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
            "gen_ai.request.temperature": 0.2,
        },
    )
    (t,) = TracerTraceToTriplet().adapt([root(), call, reward("r", 3, 1.0)])
    assert t.prompt == {"token_ids": [1, 2, 3], "raw_content": inputs}
    assert t.response == {"token_ids": [7, 8], "raw_content": outputs}
    assert t.reward == 1.0
    assert t.metadata["response_id"] == "chatcmpl-1"
    assert t.metadata["model"] == "gpt-4o-mini-2024-07-18"
    assert t.metadata["request"] == {"model": "gpt-4o-mini", "temperature": 0.2}
    assert t.metadata["response"]["id"] == "chatcmpl-1"
    assert t.metadata["trace_id"] == TRACE


def test_no_recorded_content_gives_empty_token_ids_and_none() -> None:
    (t,) = TracerTraceToTriplet().adapt([root(), llm("c1", 1, 2, **{"agentlightning.prompt_token_ids": "garbage"})])
    assert t.prompt == {"token_ids": [], "raw_content": None}
    assert t.response == {"token_ids": [], "raw_content": None}


def test_agent_lightning_03_agentops_style_span() -> None:
    attrs = {
        "prompt_token_ids": [5, 6],
        "response_token_ids": [9],
        "gen_ai.prompt.0.role": "user",
        "gen_ai.prompt.0.content": "hi",
        "gen_ai.completion.0.role": "assistant",
        "gen_ai.completion.0.content": "hello",
    }
    (t,) = TracerTraceToTriplet().adapt([span("c", "openai.chat.completion", 1, 2, None, attrs)])
    assert t.prompt == {"token_ids": [5, 6], "raw_content": [{"role": "user", "content": "hi"}]}
    assert t.response == {"token_ids": [9], "raw_content": [{"role": "assistant", "content": "hello"}]}


@pytest.mark.parametrize(
    ("name", "is_call"),
    [
        ("chat gpt-4o-mini", True),
        ("text_completion davinci", True),
        ("generate_content gemini", True),
        ("chat", True),
        ("openai.chat.completion", True),
        ("invoke_agent chat_bot", False),
        ("execute_tool chat", False),
        ("chatter", False),
        ("agentlightning.annotation", False),
    ],
)
def test_default_llm_call_match_by_name_alone(name: str, is_call: bool) -> None:
    found = TracerTraceToTriplet().adapt([span("x", name, 1, 2)])
    assert len(found) == int(is_call)
    assert DEFAULT_LLM_CALL_MATCH  # exported for users who extend it


def test_custom_llm_call_match_adds_names_and_genai_spans_still_count() -> None:
    spans = [root(), span("mine", "my_llm.generate", 1, 2, "root"), llm("genai", 3, 4)]
    assert ids(TracerTraceToTriplet(llm_call_match=r"^my_llm\.").adapt(spans)) == ["mine", "genai"]


def test_first_sibling_policy_only_rewards_siblings() -> None:
    spans = [
        root(),
        agent("a", "solver", 1, 5),
        llm("c1", 2, 3, parent="a", rid="c1"),
        reward("outside", 6, 1.0),  # sibling of the agent, not of c1
    ]
    assert rewards(TracerTraceToTriplet().adapt(spans)) == [1.0]
    assert rewards(TracerTraceToTriplet(reward_match="first_sibling").adapt(spans)) == [None]
    spans.append(reward("inside", 4, 0.5, parent="a"))
    assert rewards(TracerTraceToTriplet(reward_match="first_sibling").adapt(spans)) == [0.5]


def test_unknown_reward_match_is_rejected() -> None:
    with pytest.raises(ValueError, match="last_occurrence"):
        TracerTraceToTriplet(reward_match="last_occurrence")


def test_readable_spans_from_the_sdk() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("invoke_agent solver", attributes={"gen_ai.agent.name": "solver"}):
        with tracer.start_as_current_span("chat m", attributes={"gen_ai.response.id": "r1"}):
            pass
        with tracer.start_as_current_span(
            "agentlightning.annotation",
            attributes={"agentlightning.reward.0.name": "primary", "agentlightning.reward.0.value": 0.5},
        ):
            pass
    provider.shutdown()
    (t,) = TracerTraceToTriplet(agent_match="solver").adapt(list(exporter.get_finished_spans()))
    assert t.reward == 0.5 and t.metadata["response_id"] == "r1"


def test_deep_trees_do_not_hit_the_recursion_limit() -> None:
    depth = 5000
    spans = [span("n0", "step", 0, 2 * depth)]
    spans += [span(f"n{i}", "step", i, 2 * depth - i, f"n{i - 1}") for i in range(1, depth)]
    spans.append(llm("leaf", depth, depth + 0.5, parent=f"n{depth - 1}", rid="leaf"))
    spans.append(reward("r", depth + 1, 1.0, parent=f"n{depth - 1}"))
    assert rewards(TracerTraceToTriplet().adapt(spans)) == [1.0]


HINT = "Training data needs capture_content=True"


def test_empty_triplets_are_explained_once_per_process(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import agentlightning.adapter.triplet as triplet_module

    monkeypatch.setattr(triplet_module, "_empty_hint_logged", False, raising=False)  # as in a fresh process
    adapter = TracerTraceToTriplet()
    with caplog.at_level("WARNING", logger="agentlightning.adapter.triplet"):
        # What the instrumentation records by default: no content, and no token ids from a plain server.
        [empty] = adapter.adapt([root(), llm("a", 1, 2, rid="r1")])
        assert empty.prompt == {"token_ids": [], "raw_content": None}
        assert empty.response == {"token_ids": [], "raw_content": None}
        assert [r.getMessage() for r in caplog.records if HINT in r.getMessage()] == [
            "1 of 1 training triplets have an empty prompt and response: no message content and no token ids were "
            "recorded for their LLM calls. Training data needs capture_content=True "
            "(agl.instrument_all(capture_content=True) or AGENTLIGHTNING_CAPTURE_CONTENT=true) or a model server "
            "that returns token ids (such as vLLM). Logged once per process."
        ]
        adapter.adapt([root(), llm("a", 1, 2, rid="r1"), llm("b", 3, 4, rid="r2")])
        TracerTraceToTriplet().adapt([root(), llm("a", 1, 2, rid="r1")])
    assert sum(HINT in r.getMessage() for r in caplog.records) == 1


@pytest.mark.parametrize(
    "attrs",
    [
        {"agentlightning.prompt_token_ids": [1, 2], "agentlightning.response_token_ids": [3]},
        {"gen_ai.input.messages": json.dumps([{"role": "user", "parts": [{"type": "text", "content": "hi"}]}])},
    ],
    ids=["token-ids", "content"],
)
def test_no_hint_when_triplets_carry_token_ids_or_content(
    attrs: dict[str, Any], caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import agentlightning.adapter.triplet as triplet_module

    monkeypatch.setattr(triplet_module, "_empty_hint_logged", False, raising=False)
    with caplog.at_level("WARNING", logger="agentlightning.adapter.triplet"):
        [full] = TracerTraceToTriplet().adapt([root(), llm("a", 1, 2, rid="r1", **attrs)])
        assert TracerTraceToTriplet().adapt([root()]) == []  # no LLM call: nothing to explain either
    assert full.prompt["token_ids"] or full.prompt["raw_content"]
    assert not [r for r in caplog.records if HINT in r.getMessage()]
