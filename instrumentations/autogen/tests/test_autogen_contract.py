"""The plugin contract kit on the AutoGen plugin: one traced call is one tool run (``BaseTool.run_json``)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from autogen_core import CancellationToken
from autogen_core.tools import FunctionTool

from agentlightning.testing.plugin_contract import PluginContract


def add(a: int, b: int) -> int:
    """Adds two numbers."""
    return a + b


class TestAutoGenContract(PluginContract):
    plugin = "autogen"
    scope = "agentlightning.autogen"
    module = "autogen_core.tools"
    subprocess_call = """
        import asyncio
        from autogen_core import CancellationToken
        from autogen_core.tools import FunctionTool
        def add(a: int, b: int) -> int:
            return a + b
        asyncio.run(FunctionTool(add, description="adds").run_json({"a": 1, "b": 2}, CancellationToken()))
    """

    @pytest.fixture
    def contract_call(self) -> Callable[[], Any]:
        tool = FunctionTool(add, description="adds")
        return lambda: asyncio.run(tool.run_json({"a": 1, "b": 2}, CancellationToken()))

    @pytest.fixture
    def contract_targets(self) -> list[tuple[Any, str]]:
        from autogen_agentchat.agents import AssistantAgent, BaseChatAgent, UserProxyAgent
        from autogen_agentchat.teams import BaseGroupChat
        from autogen_core.tools import BaseStreamTool, BaseTool
        from autogen_ext.models.cache import ChatCompletionCache
        from autogen_ext.models.openai._openai_client import BaseOpenAIChatCompletionClient
        from autogen_ext.models.replay import ReplayChatCompletionClient
        from autogen_ext.tools.mcp import McpWorkbench

        return [
            (BaseTool, "run_json"),
            (BaseStreamTool, "run_json_stream"),
            (BaseChatAgent, "run"),
            (BaseChatAgent, "run_stream"),
            (BaseChatAgent, "on_messages_stream"),
            (AssistantAgent, "on_messages_stream"),
            (UserProxyAgent, "on_messages_stream"),
            (BaseGroupChat, "run_stream"),
            (BaseOpenAIChatCompletionClient, "create"),
            (BaseOpenAIChatCompletionClient, "create_stream"),
            (ReplayChatCompletionClient, "create"),
            (ChatCompletionCache, "create_stream"),
            (McpWorkbench, "call_tool"),
        ]
