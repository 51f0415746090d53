"""One LLM span per model call across layers, legacy completions, Azure, and the contract kit.

- a framework plugin's callback-opened LLM span (``RunSpans.start_llm``) and this plugin underneath: one span,
  the framework's, carrying the union (the provider's response id, usage and token ids win);
- OpenTelemetry's own ``opentelemetry-instrumentation-openai-v2`` on the same method, in either install order:
  one LLM span, token totals counted once;
- ``client.completions.create`` (sync, async, stream): ``text_completion {model}``;
- ``AzureOpenAI``: provider ``azure.ai.openai``, stream id/model when Azure's first chunk has ``"id": ""``;
  ``server.address`` / ``server.port`` on every span;
- content capture of a ``parse()`` result prints no pydantic serializer warning (the suite runs with ``-W error``).
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from pydantic import BaseModel

from agentlightning import semconv as sc
from agentlightning.instrumentation import RunSpans, instrument, uninstrument_all
from agentlightning.testing import Reply, ScriptedOpenAIServer
from agentlightning.testing.plugin_contract import PluginContract

MESSAGES = [{"role": "user", "content": "What is 2 + 2?"}]
LLM_OPERATIONS = {"chat", "text_completion", "embeddings"}


def llm(spans: Any) -> list[ReadableSpan]:
    """Every LLM span in the exporter, whoever made it."""
    return [
        s for s in spans.get_finished_spans() if (s.attributes or {}).get(sc.GEN_AI_OPERATION_NAME) in LLM_OPERATIONS
    ]


# ---- a framework's callback span and this plugin: one span with the union ---------------------------


def test_callback_llm_span_gets_the_providers_attributes(
    instrumented: Any, client: openai.OpenAI, server: ScriptedOpenAIServer
) -> None:
    server.script(Reply(content="4", prompt_token_ids=[1, 2, 3], response_token_ids=[9]))
    runs = RunSpans(trace.get_tracer("framework.under.test"))
    runs.start_agent("chain", "invoke_workflow chain", workflow=True)
    runs.start_llm("model", "chat framework-model", {"framework.only": 1}, parent_run_id="chain")
    result = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    # the framework ends its run on another thread, with its own (less exact) view of the usage
    ender = threading.Thread(target=runs.stop, args=("model", {sc.GEN_AI_USAGE_INPUT_TOKENS: 999, "framework.end": 1}))
    ender.start()
    ender.join()
    runs.stop("chain")
    assert len(runs) == 0
    [span] = llm(instrumented)
    assert span.name == "chat framework-model"  # the owner's span
    assert span.instrumentation_scope.name == "framework.under.test"
    a = dict(span.attributes or {})
    assert a["framework.only"] == 1 and a["framework.end"] == 1
    assert a[sc.GEN_AI_RESPONSE_ID] == result.id
    assert a[sc.GEN_AI_USAGE_INPUT_TOKENS] == result.usage.prompt_tokens  # the provider's count wins, once
    assert a[sc.AGL_PROMPT_TOKEN_IDS] == (1, 2, 3)
    assert a[sc.AGL_RESPONSE_TOKEN_IDS] == (9,)
    [chain] = [s for s in instrumented.get_finished_spans() if s.name == "invoke_workflow chain"]
    assert span.parent is not None and span.parent.span_id == chain.context.span_id


async def test_callback_llm_span_in_concurrent_tasks(
    instrumented: Any, aclient: openai.AsyncOpenAI, server: ScriptedOpenAIServer
) -> None:
    runs = RunSpans(trace.get_tracer("framework.under.test"))

    async def one(i: int) -> str:
        runs.start_llm(f"run-{i}", f"chat model-{i}")
        await asyncio.sleep(0)
        result = await aclient.chat.completions.create(model=f"model-{i}", messages=MESSAGES)
        runs.stop(f"run-{i}")
        return result.id

    ids = await asyncio.gather(*(one(i) for i in range(5)))
    spans = {s.name: dict(s.attributes or {}) for s in llm(instrumented)}
    assert len(spans) == 5 and len(runs) == 0
    for i, response_id in enumerate(ids):
        assert spans[f"chat model-{i}"][sc.GEN_AI_RESPONSE_ID] == response_id  # each task's own call


def test_provider_error_type_kept_when_the_framework_reraises_its_own(
    instrumented: Any, client: openai.OpenAI, server: ScriptedOpenAIServer
) -> None:
    class FrameworkError(openai.BadRequestError):
        pass

    server.script(Reply.error(400, "bad request"))
    runs = RunSpans(trace.get_tracer("framework.under.test"))
    runs.start_llm("model", "chat m")
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="m", messages=MESSAGES)
    runs.fail("model", FrameworkError(caught.value.message, response=caught.value.response, body=None))
    [span] = llm(instrumented)
    assert span.attributes[sc.ERROR_TYPE] == "BadRequestError"


# ---- OpenTelemetry's openai-v2 instrumentation next to ours ------------------------------------------


@pytest.fixture
def v2() -> Iterator[Any]:
    """openai-v2's instrumentor. Its ``uninstrument()`` (OpenTelemetry's ``unwrap``) reads the method through
    ``getattr`` and leaves a bound wrapper in the class when another layer sits under it, so the class
    attributes are put back by hand afterwards."""
    from openai.resources.chat.completions import AsyncCompletions, Completions
    from openai.resources.embeddings import AsyncEmbeddings, Embeddings
    from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor as V2

    saved = [(cls, vars(cls)["create"]) for cls in (Completions, AsyncCompletions, Embeddings, AsyncEmbeddings)]
    try:
        yield V2()
    finally:
        for cls, original in saved:
            cls.create = original


@pytest.mark.parametrize("first", ["ours", "openai-v2"])
@pytest.mark.parametrize("stream", [False, True])
def test_one_llm_span_next_to_openai_v2(
    first: str, stream: bool, v2: Any, spans: Any, client: openai.OpenAI, server: ScriptedOpenAIServer
) -> None:
    server.script(Reply(content="four", prompt_tokens=7, completion_tokens=1, response_token_ids=[5]))
    if first == "ours":
        instrument("openai")
        v2.instrument()
    else:
        v2.instrument()
        instrument("openai")
    try:
        kwargs: dict[str, Any] = {"stream": True, "stream_options": {"include_usage": True}} if stream else {}
        result = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, **kwargs)
        if stream:
            assert "".join(c.choices[0].delta.content or "" for c in result if c.choices) == "four"
    finally:  # remove the outer layer first
        if first == "ours":
            v2.uninstrument()
            uninstrument_all()
        else:
            uninstrument_all()
            v2.uninstrument()
    [span] = llm(spans)
    assert span.attributes[sc.GEN_AI_USAGE_INPUT_TOKENS] == 7
    assert sum(s.attributes.get(sc.GEN_AI_USAGE_INPUT_TOKENS, 0) for s in spans.get_finished_spans()) == 7
    assert span.attributes[sc.AGL_RESPONSE_TOKEN_IDS] == (5,)  # ours is there in both orders


@pytest.mark.parametrize(
    ("marker", "kind"),
    [
        ({"llm.request.type": "chat"}, trace.SpanKind.CLIENT),  # OpenLLMetry (AgentOps' LLM instrumentation)
        ({"openinference.span.kind": "LLM"}, trace.SpanKind.INTERNAL),  # OpenInference
    ],
    ids=["openllmetry", "openinference"],
)
def test_other_libraries_llm_span_gets_ours_added(
    marker: dict[str, str],
    kind: trace.SpanKind,
    instrumented: Any,
    client: openai.OpenAI,
    server: ScriptedOpenAIServer,
) -> None:
    server.script(Reply(content="4", response_token_ids=[4]))
    with trace.get_tracer("other.library").start_as_current_span("openai.chat", kind=kind, attributes=marker):
        result = client.chat.completions.create(model="m", messages=MESSAGES)
    [span] = instrumented.get_finished_spans()
    assert span.name == "openai.chat"
    assert span.attributes[sc.GEN_AI_RESPONSE_ID] == result.id
    assert span.attributes[sc.AGL_RESPONSE_TOKEN_IDS] == (4,)


# ---- legacy completions --------------------------------------------------------------------------


def test_legacy_completions(instrumented: Any, client: openai.OpenAI, server: ScriptedOpenAIServer) -> None:
    server.script(Reply(content="four", prompt_token_ids=[1, 2], response_token_ids=[3]))
    result = client.completions.create(model="davinci-002", prompt="2 + 2 =", max_tokens=5, temperature=0)
    assert result.choices[0].text == "four"
    [span] = llm(instrumented)
    a = dict(span.attributes or {})
    assert span.name == "text_completion davinci-002"
    assert a[sc.GEN_AI_OPERATION_NAME] == "text_completion"
    assert a[sc.GEN_AI_REQUEST_MAX_TOKENS] == 5
    assert a[sc.GEN_AI_RESPONSE_ID] == result.id
    assert a[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    assert a[sc.GEN_AI_USAGE_INPUT_TOKENS] == result.usage.prompt_tokens
    assert a[sc.AGL_PROMPT_TOKEN_IDS] == (1, 2) and a[sc.AGL_RESPONSE_TOKEN_IDS] == (3,)
    assert sc.GEN_AI_INPUT_MESSAGES not in a  # no content without capture


async def test_legacy_completions_async_and_stream_with_capture(
    aclient: openai.AsyncOpenAI, server: ScriptedOpenAIServer, spans: Any
) -> None:
    instrument("openai", capture_content=True)
    try:
        server.script(Reply(content="four"), Reply(content="one two three", response_token_ids=[1, 2, 3]))
        await aclient.completions.create(model="m", prompt="2 + 2 =")
        stream = await aclient.completions.create(
            model="m", prompt=["count"], stream=True, stream_options={"include_usage": True}
        )
        text = "".join([c.choices[0].text async for c in stream if c.choices])
    finally:
        uninstrument_all()
    assert text == "one two three"
    first, second = llm(spans)
    assert json.loads(first.attributes[sc.GEN_AI_OUTPUT_MESSAGES])[0]["parts"] == [{"type": "text", "content": "four"}]
    b = dict(second.attributes or {})
    assert second.name == "text_completion m"
    assert json.loads(b[sc.GEN_AI_INPUT_MESSAGES]) == [
        {"role": "user", "parts": [{"type": "text", "content": "count"}]}
    ]
    assert json.loads(b[sc.GEN_AI_OUTPUT_MESSAGES])[0]["parts"][0]["content"] == "one two three"
    assert b[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    assert b[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 3
    assert b[sc.AGL_RESPONSE_TOKEN_IDS] == (1, 2, 3)


def test_legacy_completions_sync_stream(instrumented: Any, client: openai.OpenAI, server: ScriptedOpenAIServer) -> None:
    server.script(Reply(content="a b"))
    with client.completions.create(model="m", prompt="x", stream=True) as stream:
        assert [c.choices[0].text for c in stream if c.choices][:2] == ["a", " b"]
    [span] = llm(instrumented)
    assert span.name == "text_completion m"
    assert span.attributes[sc.GEN_AI_RESPONSE_ID].startswith("cmpl-")


# ---- Azure and server attributes -----------------------------------------------------------------


@pytest.fixture
def azure(server: ScriptedOpenAIServer) -> Iterator[openai.AzureOpenAI]:
    with openai.AzureOpenAI(
        azure_endpoint=f"http://127.0.0.1:{server.port}", api_key="k", api_version="2024-06-01", max_retries=0
    ) as client:
        yield client


def test_azure_provider_and_stream_id(
    instrumented: Any, azure: openai.AzureOpenAI, server: ScriptedOpenAIServer
) -> None:
    server.script(Reply(content="4"), Reply(content="four", azure_first_chunk=True, model="gpt-4o-2024"))
    azure.chat.completions.create(model="my-deployment", messages=MESSAGES)
    chunks = list(azure.chat.completions.create(model="my-deployment", messages=MESSAGES, stream=True))
    assert chunks[0].id == ""  # Azure's prompt-filter chunk came first
    plain, streamed = llm(instrumented)
    for span in (plain, streamed):
        assert span.attributes[sc.GEN_AI_PROVIDER_NAME] == "azure.ai.openai"
        assert span.attributes[sc.SERVER_ADDRESS] == "127.0.0.1"
        assert span.attributes[sc.SERVER_PORT] == server.port
    assert streamed.attributes[sc.GEN_AI_RESPONSE_ID] == chunks[-1].id != ""
    assert streamed.attributes[sc.GEN_AI_RESPONSE_MODEL] == "gpt-4o-2024"


def test_server_address_and_port_on_every_span(
    instrumented: Any, client: openai.OpenAI, server: ScriptedOpenAIServer
) -> None:
    client.chat.completions.create(model="m", messages=MESSAGES)
    client.embeddings.create(model="e", input="x")
    client.responses.create(model="m", input="x")
    client.completions.create(model="m", prompt="x")
    found = llm(instrumented)
    assert len(found) == 4
    for span in found:
        assert span.attributes[sc.SERVER_ADDRESS] == "127.0.0.1", span.name
        assert span.attributes[sc.SERVER_PORT] == server.port, span.name
        assert span.attributes[sc.GEN_AI_PROVIDER_NAME] == "openai"


def test_each_client_gets_its_own_server_address_and_a_dropped_client_frees_its_entry(
    instrumented: Any, server: ScriptedOpenAIServer
) -> None:
    """The per-client cache of server attributes: clients made and dropped one after another (ids reused)
    each report their own base URL, and the cache does not keep dropped clients."""
    import gc

    from agentlightning_openai import _util

    for host in ("127.0.0.1", "localhost", "127.0.0.1", "localhost"):
        with openai.OpenAI(base_url=f"http://{host}:{server.port}/v1", api_key="k", max_retries=0) as one:
            one.chat.completions.create(model="m", messages=MESSAGES)
        del one
        gc.collect()
        assert len(_util._CLIENTS) == 0
    assert [span.attributes[sc.SERVER_ADDRESS] for span in llm(instrumented)] == [
        "127.0.0.1",
        "localhost",
        "127.0.0.1",
        "localhost",
    ]


# ---- content capture never warns -----------------------------------------------------------------


class Answer(BaseModel):
    value: int


def test_capture_of_a_parse_result_prints_no_serializer_warning(
    client: openai.OpenAI, server: ScriptedOpenAIServer, spans: Any, recwarn: pytest.WarningsRecorder
) -> None:
    instrument("openai", capture_content=True)
    try:
        server.script(Reply(content='{"value": 4}'))
        result = client.chat.completions.parse(model="m", messages=MESSAGES, response_format=Answer)
    finally:
        uninstrument_all()
    assert result.choices[0].message.parsed == Answer(value=4)
    assert [str(w.message) for w in recwarn] == []
    [span] = llm(spans)
    assert json.loads(span.attributes[sc.GEN_AI_OUTPUT_MESSAGES])[0]["parts"][0]["content"] == '{"value": 4}'


# ---- the plugin contract -------------------------------------------------------------------------


class TestOpenAIContract(PluginContract):
    plugin = "openai"
    scope = "agentlightning.openai"
    module = "openai"
    subprocess_call = """
        import os, openai
        with openai.OpenAI(base_url=os.environ["AGL_TEST_BASE_URL"], api_key="k", max_retries=0) as client:
            client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    """

    @pytest.fixture
    def contract_call(self, client: openai.OpenAI) -> Callable[[], Any]:
        return lambda: client.chat.completions.create(model="m", messages=MESSAGES)

    @pytest.fixture
    def contract_targets(self) -> list[tuple[Any, str]]:
        from openai.resources.chat.completions import AsyncCompletions, Completions

        return [(Completions, "create"), (AsyncCompletions, "create")]

    @pytest.fixture
    def contract_subprocess_env(self, server: ScriptedOpenAIServer) -> dict[str, str]:
        return {"AGL_TEST_BASE_URL": server.base_url}
