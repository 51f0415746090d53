"""Model clients other than OpenAI's: every ``ChatCompletionClient`` subclass is traced, one span per call.

The replay client (``autogen_ext.models.replay``) is a real client of autogen-ext that answers from a list,
offline; the cache (``autogen_ext.models.cache``) wraps another client; a user's own subclass is traced whether
it was defined before or after instrumenting.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from autogen_agentchat.agents import AssistantAgent
from autogen_core import CancellationToken, InMemoryStore
from autogen_core.models import ChatCompletionClient, CreateResult, LLMMessage, UserMessage
from autogen_ext.models.cache import ChatCompletionCache
from autogen_ext.models.replay import ReplayChatCompletionClient
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from test_autogen_agents import assert_only_ours, llm_spans, parent_name, tree

from agentlightning import semconv as sc
from agentlightning.instrumentation import instrument, uninstrument_all
from agentlightning.testing import Reply, ScriptedOpenAIServer


class EarlyClient(ReplayChatCompletionClient):
    """A user's client defined before instrumenting (at import of this module): found by the subclass walk."""

    async def create(self, messages: Sequence[LLMMessage], **kwargs: Any) -> CreateResult:
        return await super().create(messages, **kwargs)


async def test_replay_client_agent_run(instrumented: InMemorySpanExporter) -> None:
    client = ReplayChatCompletionClient(["Paris is the capital."])
    result = await AssistantAgent("solver", model_client=client).run(task="Capital of France?")
    assert result.messages[-1].content == "Paris is the capital."

    finished, by_id = tree(instrumented)
    assert_only_ours(finished)
    (llm,) = llm_spans(finished)
    assert llm.name == "chat ReplayChatCompletionClient"  # no model name: the client's class
    assert llm.kind is SpanKind.CLIENT
    assert parent_name(llm, by_id) == "invoke_agent solver"
    assert llm.attributes is not None
    assert llm.attributes[sc.GEN_AI_PROVIDER_NAME] == "autogen"
    # the replay client counts words: the system message and task, and four words of answer
    assert llm.attributes[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 4
    assert llm.attributes[sc.GEN_AI_USAGE_INPUT_TOKENS] == client.total_usage().prompt_tokens > 0
    assert llm.attributes[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)


async def test_replay_client_streamed(instrumented: InMemorySpanExporter) -> None:
    client = ReplayChatCompletionClient(["streamed three words"])
    agent = AssistantAgent("solver", model_client=client, model_client_stream=True)
    items = [item async for item in agent.run_stream(task="Go")]
    assert items[-1].messages[-1].content == "streamed three words"

    finished, by_id = tree(instrumented)
    assert_only_ours(finished)
    (llm,) = llm_spans(finished)
    assert parent_name(llm, by_id) == "invoke_agent solver"
    assert llm.attributes is not None and llm.attributes[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 3


async def test_user_clients_defined_before_and_after_instrumenting(instrumented: InMemorySpanExporter) -> None:
    class LateClient(ReplayChatCompletionClient):  # defined now, with the plugin on
        async def create(self, messages: Sequence[LLMMessage], **kwargs: Any) -> CreateResult:
            return await super().create(messages, **kwargs)

    messages = [UserMessage(content="hi", source="user")]
    for client in (EarlyClient(["one"]), LateClient(["two"])):
        await client.create(messages)

    finished = llm_spans(list(instrumented.get_finished_spans()))
    # each subclass's create and the replay client's create under it: one span per call, named by the outer
    assert [s.name for s in finished] == ["chat EarlyClient", "chat LateClient"]
    assert all(s.parent is None for s in finished)


async def test_user_client_patches_are_removed_by_uninstrument(spans: InMemorySpanExporter) -> None:
    instrument("autogen")
    try:

        class Late(ReplayChatCompletionClient):
            async def create(self, messages: Sequence[LLMMessage], **kwargs: Any) -> CreateResult:
                return await super().create(messages, **kwargs)

        wrapped_create = vars(Late)["create"]
        assert getattr(wrapped_create, "__wrapped__", None) is not None  # patched at its definition
    finally:
        uninstrument_all()
    assert not hasattr(vars(Late)["create"], "__wrapped__")  # the original function is back
    assert not hasattr(vars(ReplayChatCompletionClient)["create"], "__wrapped__")
    assert "__init_subclass__" not in vars(ChatCompletionClient)  # the hook is gone

    class AfterwardsClient(ReplayChatCompletionClient):
        async def create(self, messages: Sequence[LLMMessage], **kwargs: Any) -> CreateResult:
            return await super().create(messages, **kwargs)

    assert not hasattr(vars(AfterwardsClient)["create"], "__wrapped__")
    await AfterwardsClient(["x"]).create([UserMessage(content="hi", source="user")])
    assert not spans.get_finished_spans()

    instrument("autogen")  # again: the walk finds the class defined while the plugin was off
    try:
        await AfterwardsClient(["y"]).create([UserMessage(content="hi", source="user")])
    finally:
        uninstrument_all()
    assert [s.name for s in spans.get_finished_spans()] == ["chat AfterwardsClient"]


async def test_cache_around_the_openai_client_one_span_per_call(
    instrumented: InMemorySpanExporter, make_client: Any, server: ScriptedOpenAIServer
) -> None:
    server.script(Reply("fresh", prompt_tokens=6, completion_tokens=1))
    inner = make_client()
    cache = ChatCompletionCache(inner, InMemoryStore())
    messages = [UserMessage(content="hi", source="user")]
    first = await cache.create(messages, cancellation_token=CancellationToken())
    second = await cache.create(messages)  # answered by the cache: no request
    await inner.close()
    assert first.content == second.content == "fresh" and len(server.requests) == 1

    finished = llm_spans(list(instrumented.get_finished_spans()))
    assert [s.name for s in finished] == ["chat scripted-model", "chat scripted-model"]
    fresh, cached = (s.attributes or {} for s in finished)
    assert fresh[sc.GEN_AI_PROVIDER_NAME] == "openai"  # the wrapped client's
    assert fresh[sc.GEN_AI_USAGE_INPUT_TOKENS] == 6
    assert "agentlightning.autogen.cached" not in fresh
    assert cached["agentlightning.autogen.cached"] is True
