"""One model call, one LLM span, tokens counted once: the OpenAI, LangChain, AutoGen and AgentOps plugins all on,
in every instrument order and import order (issue 15, failure modes 6 and 12). Each case runs in a fresh
interpreter, since what is imported when is the point.

AgentOps runs as a user's program has it: ``agentops.init(api_key=...)`` right after it is imported (``before``)
or right after its plugin is instrumented (``after``, ``from-import``), with its own LLM instrumentation on (its
default), offline. When its plugin comes before the OpenAI plugin (the first order of ``from-import``), AgentOps
wraps openai itself and the OpenAI plugin goes on top; otherwise AgentOps leaves openai to the plugin.

- ``before``: the plugins are instrumented (in the order given; each plugin first once) before any framework is
  imported, then the frameworks are imported in the reverse order (post-import hooks patch them as they arrive);
- ``after``: the frameworks are imported first, then instrumented; every order, one after the other in one
  process, with ``uninstrument_all()`` between (re-instrumenting must not double anything);
- ``from-import``: as ``after``, but ``from openai.resources.chat.completions import Completions`` comes first and
  that class is called directly too.

In each, the same calls: the bare OpenAI client, LangChain's ``ChatOpenAI`` (invoke and stream) and AutoGen's
``OpenAIChatCompletionClient`` (create and create_stream), each answered with 7 prompt / 3 completion tokens.
Every span that carries a token count is looked at, whichever library made it: each model call has one.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PLUGINS = ("openai", "langchain", "autogen", "agentops")
ORDERS = [",".join(p) for p in itertools.permutations(PLUGINS)]
ROTATIONS = [",".join(PLUGINS[i:] + PLUGINS[:i]) for i in range(len(PLUGINS))]  # each plugin first once

SCRIPT = textwrap.dedent(
    """
    import asyncio, json, os, sys
    os.environ["AGENTLIGHTNING_STRICT"] = "1"
    from agentlightning.testing.network import activate
    activate()  # this interpreter stays offline too
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    from agentlightning.instrumentation import instrument, uninstrument_all
    from agentlightning.testing import Reply, ScriptedOpenAIServer

    MODES = {"before", "after", "from-import"}
    mode, orders = sys.argv[1], [o.split(",") for o in sys.argv[2:]]
    FRAMEWORKS = {
        "openai": "openai",
        "langchain": "langchain_openai",
        "autogen": "autogen_ext.models.openai",
        "agentops": "agentops",
    }
    if mode == "before":
        for name in orders[0]:
            instrument(name)
        early = ("openai", "langchain_core", "autogen_core", "agentops")
        assert not any(m in sys.modules for m in early), "imported early"
        for name in reversed(orders[0]):
            __import__(FRAMEWORKS[name])
            if name == "agentops":
                import agentops
                agentops.init(api_key="k")  # AgentOps' LLM instrumentation on: its import hook sees what follows
    elif mode == "from-import":
        from openai.resources.chat.completions import Completions
    import agentops
    import openai
    from langchain_openai import ChatOpenAI
    from autogen_core.models import ModelFamily, ModelInfo, UserMessage
    from autogen_ext.models.openai import OpenAIChatCompletionClient

    INFO = ModelInfo(vision=False, function_calling=True, json_output=False, family=ModelFamily.UNKNOWN,
                     structured_output=False)
    PROMPT = [{"role": "user", "content": "hi"}]

    async def autogen_calls(url):
        client = OpenAIChatCompletionClient(model="autogen-create", base_url=url, api_key="k", model_info=INFO,
                                            max_retries=0)
        await client.create([UserMessage(content="hi", source="user")])
        await client.close()
        client = OpenAIChatCompletionClient(model="autogen-stream", base_url=url, api_key="k", model_info=INFO,
                                            max_retries=0, stream_options={"include_usage": True})
        [item async for item in client.create_stream([UserMessage(content="hi", source="user")])]
        await client.close()

    def calls(url):
        with openai.OpenAI(base_url=url, api_key="k", max_retries=0) as client:
            client.chat.completions.create(model="openai-create", messages=PROMPT)
            if mode == "from-import":
                Completions(client).create(model="openai-class", messages=PROMPT)
        ChatOpenAI(model="langchain-invoke", base_url=url, api_key="k", max_retries=0).invoke("hi")
        model = ChatOpenAI(model="langchain-stream", base_url=url, api_key="k", max_retries=0, stream_usage=True)
        list(model.stream("hi"))
        asyncio.run(autogen_calls(url))

    results = []
    with ScriptedOpenAIServer(default=Reply(content="ok", prompt_tokens=7, completion_tokens=3)) as server:
        for order in orders:
            if mode != "before":
                uninstrument_all()
                for name in order:
                    instrument(name)
                    if name == "agentops":
                        agentops.init(api_key="k")  # the first time only: AgentOps initializes once a process
            exporter.clear()
            calls(server.base_url)
            # every span that counts tokens, whoever made it (an AgentOps LLM span would be one too)
            llm = [s for s in exporter.get_finished_spans() if any("tokens" in key for key in s.attributes or {})]
            results.append({
                "order": ",".join(order),
                "requests": len(server.requests),
                "spans": sorted(
                    (
                        [s.attributes.get("gen_ai.request.model"), s.attributes.get("gen_ai.usage.input_tokens"),
                         s.attributes.get("gen_ai.usage.output_tokens"), s.instrumentation_scope.name,
                         s.kind == trace.SpanKind.CLIENT and s.attributes.get("gen_ai.operation.name") == "chat"]
                        for s in llm
                    ),
                    key=json.dumps,
                ),
            })
            server.reset()
    print(json.dumps(results))
    """
)

OWNER = {  # the outermost layer owns the span
    "openai-create": "agentlightning.openai",
    "openai-class": "agentlightning.openai",
    "langchain-invoke": "agentlightning.langchain",
    "langchain-stream": "agentlightning.langchain",
    "autogen-create": "agentlightning.autogen",
    "autogen-stream": "agentlightning.autogen",
}


def _run(tmp_path: Path, mode: str, orders: list[str]) -> list[dict[str, object]]:
    record = tmp_path / "network.txt"
    env = {**os.environ, "AGENTLIGHTNING_TEST_NETWORK_RECORD": str(record), "AGENTOPS_LOG_LEVEL": "CRITICAL"}
    env.pop("AGENTOPS_INSTRUMENT_LLM_CALLS", None)  # AgentOps' default: its LLM instrumentation on
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, mode, *orders],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    assert not record.exists(), record.read_text()  # nothing tried to reach the network (AgentOps' cloud)
    assert not (tmp_path / "agentops.log").exists()
    results: list[dict[str, object]] = json.loads(done.stdout.strip().splitlines()[-1])
    return results


def _check(result: dict[str, object], from_import: bool) -> None:
    models = sorted(m for m in OWNER if from_import or m != "openai-class")
    # one span per model call, its tokens once, owned by the outermost plugin
    expected = sorted(([m, 7, 3, OWNER[m], True] for m in models), key=json.dumps)
    assert result["spans"] == expected, result["order"]
    assert result["requests"] == len(models)


@pytest.mark.slow
@pytest.mark.parametrize("order", ROTATIONS)  # one interpreter each: each plugin first once, not all 24 orders
def test_instrument_before_import(tmp_path: Path, order: str) -> None:
    (result,) = _run(tmp_path, "before", [order])
    _check(result, from_import=False)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["after", "from-import"])
def test_instrument_after_import_every_order(tmp_path: Path, mode: str) -> None:
    # from-import starts with AgentOps first (it wraps openai before the OpenAI plugin does), after with OpenAI
    orders = ORDERS if mode == "after" else ORDERS[::-1]
    results = _run(tmp_path, mode, orders)
    assert [r["order"] for r in results] == orders
    for result in results:
        _check(result, from_import=mode == "from-import")
