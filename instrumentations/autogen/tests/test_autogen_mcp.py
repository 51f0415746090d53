"""Tools of an MCP server through ``McpWorkbench`` (autogen-ext[mcp]): one ``execute_tool`` span per call.

The workbench runs its tools on the MCP session, not through ``BaseTool.run_json``, so its ``call_tool`` is the
tool run. The server is a real MCP server on stdio (``mcp_tools_server.py``, a subprocess of this test).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from autogen_agentchat.agents import AssistantAgent
from autogen_ext.tools.mcp import McpWorkbench, StdioServerParams
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode
from test_autogen_agents import assert_only_ours, parent_name, tree

from agentlightning import semconv as sc
from agentlightning.instrumentation import instrument, uninstrument_all
from agentlightning.testing import Reply, ScriptedOpenAIServer, ToolCall

SERVER = Path(__file__).with_name("mcp_tools_server.py")

pytestmark = pytest.mark.slow  # starts an MCP server process


def workbench() -> McpWorkbench:
    return McpWorkbench(StdioServerParams(command=sys.executable, args=[str(SERVER)], read_timeout_seconds=30))


async def test_mcp_workbench_tool_call(
    instrumented: InMemorySpanExporter, model_client: Any, server: ScriptedOpenAIServer
) -> None:
    server.script(Reply(None, tool_calls=[ToolCall("add", '{"a": 2, "b": 3}', id="call_m")]))
    async with workbench() as bench:
        result = await AssistantAgent("solver", model_client=model_client, workbench=bench).run(task="2 + 3?")
    assert result.messages[-1].content == "5"

    finished, by_id = tree(instrumented)
    assert_only_ours(finished)  # McpWorkbench's own execute_tool span stays replaced
    (tool,) = [s for s in finished if s.name.startswith("execute_tool")]
    assert tool.name == "execute_tool add" and parent_name(tool, by_id) == "invoke_agent solver"
    assert tool.attributes is not None and tool.attributes[sc.GEN_AI_TOOL_CALL_ID] == "call_m"
    assert sc.GEN_AI_TOOL_CALL_ARGUMENTS not in tool.attributes  # no content without capture
    assert tool.status.status_code is not StatusCode.ERROR


@pytest.mark.parametrize("capture", [False, True], ids=["no-capture", "capture"])
async def test_mcp_tool_error_is_on_its_span(
    capture: bool, spans: InMemorySpanExporter, model_client: Any, server: ScriptedOpenAIServer
) -> None:
    instrument("autogen", capture_content=capture)
    try:
        server.script(Reply(None, tool_calls=[ToolCall("explode", '{"reason": "test"}', id="call_x")]))
        async with workbench() as bench:
            result = await AssistantAgent("solver", model_client=model_client, workbench=bench).run(task="Go")
            ok = await bench.call_tool("add", {"a": 1, "b": 1})  # called directly: a span too
    finally:
        uninstrument_all()
    assert "exploded: test" in str(result.messages[-1].content)  # the workbench handed the error back
    assert ok.to_text() == "2"

    failed, direct = [s for s in spans.get_finished_spans() if s.name.startswith("execute_tool")]
    assert failed.name == "execute_tool explode" and direct.name == "execute_tool add"
    assert failed.status.status_code is StatusCode.ERROR
    assert failed.attributes is not None and failed.attributes["error.type"] == "tool_error"
    assert ("exploded: test" in str(failed.status.description)) is capture
    assert direct.parent is None and direct.status.status_code is not StatusCode.ERROR
    direct_attributes = dict(direct.attributes or {})
    if capture:
        assert json.loads(direct_attributes[sc.GEN_AI_TOOL_CALL_ARGUMENTS]) == {"a": 1, "b": 1}
        assert direct_attributes[sc.GEN_AI_TOOL_CALL_RESULT] == "2"
    else:
        assert sc.GEN_AI_TOOL_CALL_RESULT not in direct_attributes
