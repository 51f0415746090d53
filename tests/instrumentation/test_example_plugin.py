"""The example plugin (a throw-away framework, only the public core helpers) passes the plugin contract kit."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import acme_sdk
import pytest
from example_plugin import AcmeInstrumentor
from opentelemetry.trace import StatusCode

from agentlightning import semconv as sc
from agentlightning.instrumentation import instrument, register_instrumentor, uninstrument
from agentlightning.testing.plugin_contract import PluginContract

register_instrumentor("acme", AcmeInstrumentor)


@pytest.fixture
def acme(spans: Any) -> Iterator[Any]:
    instrument("acme", capture_content=True)
    try:
        yield spans
    finally:
        uninstrument("acme")


def test_agent_turn_model_call_and_tool_nest(acme: Any) -> None:
    agent = acme_sdk.Agent("solver", acme_sdk.Client())

    async def run() -> list[str]:
        return [item async for item in agent.run_stream("hi")]

    assert asyncio.run(run()) == ["echo hi", "ECHO HI"]
    by_name = {s.name: s for s in acme.get_finished_spans()}
    turn, call, tool = by_name["invoke_agent solver"], by_name["text_completion acme-1"], by_name["execute_tool shout"]
    assert call.parent.span_id == turn.context.span_id
    assert tool.parent.span_id == turn.context.span_id
    assert call.attributes[sc.GEN_AI_USAGE_INPUT_TOKENS] == 1
    assert tool.attributes[sc.GEN_AI_TOOL_CALL_ARGUMENTS] == '"echo hi"'


def test_stream_and_tool_error(acme: Any) -> None:
    client = acme_sdk.Client()
    assert list(client.complete("a b", stream=True)) == ["echo", "a", "b"]
    with pytest.raises(ValueError, match="the tool failed"):
        acme_sdk.Agent("a", client).run_tool("fail", "x")
    stream, tool = acme.get_finished_spans()
    assert stream.attributes[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 3
    assert tool.status.status_code is StatusCode.ERROR and tool.attributes[sc.ERROR_TYPE] == "ValueError"


class TestAcmeContract(PluginContract):
    plugin = "acme"
    scope = "agentlightning.acme"
    module = "acme_sdk"
    subprocess_setup = """
        from example_plugin import AcmeInstrumentor
        inst.register_instrumentor("acme", AcmeInstrumentor)
    """
    subprocess_call = "import acme_sdk; acme_sdk.Client().complete('x')"

    @pytest.fixture
    def contract_call(self) -> Callable[[], Any]:
        return lambda: acme_sdk.Client().complete("x")

    @pytest.fixture
    def contract_targets(self) -> list[tuple[Any, str]]:
        return [(acme_sdk.Client, "complete"), (acme_sdk.Client, "acomplete"), (acme_sdk.Agent, "run_stream")]

    @pytest.fixture
    def contract_subprocess_env(self) -> dict[str, str]:
        return {"PYTHONPATH": str(Path(__file__).parent)}
