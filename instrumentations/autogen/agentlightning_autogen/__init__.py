"""agentlightning instrumentation for AutoGen 0.7 (``agentlightning-autogen``).

Usage
-----
::

    import agentlightning as agl
    agl.instrument_all()                       # finds this plugin through its entry point

    # or just this one:
    from agentlightning_autogen import instrument_autogen
    instrument_autogen(capture_content=True)

An unchanged ``autogen-agentchat`` program becomes one span tree per top-level run:

====================================================  ==========================  ==============================
AutoGen call                                          span                        attributes
====================================================  ==========================  ==============================
``BaseGroupChat.run`` / ``run_stream`` (every team)   ``invoke_workflow {team}``  message count, stop reason
``BaseChatAgent.run`` / ``run_stream``                ``invoke_agent {name}``     name, description, message
                                                                                  count, stop reason
``on_messages_stream`` (each turn, also in teams)     ``invoke_agent {name}``     messages in, usage of the
                                                                                  turn's reply
``create`` / ``create_stream`` of every model client  ``chat {model}``            model, provider, usage
(each ``ChatCompletionClient`` subclass)                                          (``RequestUsage``), finish reason
``BaseTool.run_json`` (``FunctionTool`` etc.)         ``execute_tool {name}``     tool name, description, call
                                                                                  id; arguments and result only
                                                                                  with content capture
``BaseStreamTool.run_json_stream`` (``AgentTool``)    ``execute_tool {name}``     the same, one span per run
``McpWorkbench.call_tool`` (an MCP server's tools)    ``execute_tool {name}``     the same; ``is_error``: ERROR
====================================================  ==========================  ==============================

With the OpenAI plugin on too, the model client's span owns the call and openai's layer adds to it: one LLM
span per model call. A cancelled run ends its spans with ``agentlightning.autogen.cancelled = true`` (no
error status); a tool's exception is recorded on its tool span and AutoGen handles it as it always does
(the error goes back to the model). Content (messages in and out) only with content capture.

AutoGen's own spans are *replaced*: while this plugin is on, autogen-core's ``invoke_agent`` /
``create_agent`` / ``execute_tool`` spans and its runtime's messaging spans are not opened (they would be
second copies of the same steps, parented differently, and the runtime spans are about 30 per two-agent
chat). ``trace_runtime=True`` (``AGENTLIGHTNING_AUTOGEN_TRACE_RUNTIME=true``) keeps the runtime spans.
Uninstrumenting gives AutoGen its own tracing back.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

from agentlightning.instrumentation import InstrumentationConfig, Instrumentor, Option, Patch, Switch

from ._clients import MODEL_CLIENT_MODULE, subclass_hook

__all__ = ["AutoGenInstrumentor", "instrument_autogen", "uninstrument_autogen"]

__version__ = "0.1.0"

_AGENTS = "autogen_agentchat.agents._base_chat_agent"
_ASSISTANT = "autogen_agentchat.agents._assistant_agent"
_SOM = "autogen_agentchat.agents._society_of_mind_agent"
_CODE = "autogen_agentchat.agents._code_executor_agent"
_FILTER = "autogen_agentchat.agents._message_filter_agent"
_USER = "autogen_agentchat.agents._user_proxy_agent"
_TEAMS = "autogen_agentchat.teams._group_chat._base_group_chat"
_CONTAINER = "autogen_agentchat.teams._group_chat._chat_agent_container"
_TOOLS = "autogen_core.tools._base"
_MCP = "autogen_ext.tools.mcp._workbench"
_RUNTIME = "autogen_core._telemetry._tracing"


def _parse_bool(value: str) -> bool | None:
    """As the core reads booleans: true/1/yes/on, false/0/no/off (any case); anything else is skipped."""
    value = value.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    return False if value in {"0", "false", "no", "off"} else None


def _silenced(switch: Switch) -> Any:
    """A factory replacing one of autogen-core's span context managers by a non-recording span."""
    import contextlib

    from opentelemetry import trace

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if not switch.on:
            return wrapped(*args, **kwargs)
        return contextlib.nullcontext(trace.INVALID_SPAN)

    return wrapper


class AutoGenInstrumentor(Instrumentor):
    """Traces AutoGen agent runs and turns, team runs, model client calls and tool runs."""

    name = "autogen"
    instruments = ("autogen-agentchat>=0.7,<0.8", "autogen-core>=0.7,<0.8")
    trigger_modules = ("autogen_agentchat", "autogen_core", "autogen_ext")
    options = (
        Option(
            "trace_runtime",
            "trace_runtime",
            (("AGENTLIGHTNING_AUTOGEN_TRACE_RUNTIME", _parse_bool),),
            False,
            "bool",
            "Keep autogen-core's runtime messaging spans (send/receive/process/publish, about 30 per two-agent "
            "chat); off: they stay out of rollouts. AutoGen's own agent/tool spans stay replaced either way.",
            where="autogen",
        ),
    )

    def _patches(self, config: InstrumentationConfig) -> list[Patch]:
        # Imported when AutoGen is (the plugin is armed then): they bring OpenTelemetry, asyncio, the readers.
        from opentelemetry import trace

        from agentlightning.instrumentation import wrap

        from ._readers import (
            AGENT_RUN,
            AGENT_RUN_STREAM,
            AGENT_TURN,
            CREATE,
            CREATE_STREAM,
            TEAM_RUN_STREAM,
            TOOL,
            TOOL_STREAM,
            WORKBENCH_CALL,
            cancellable,
        )

        tracer = trace.get_tracer("agentlightning.autogen", __version__)
        patches = [
            # Agent runs: BaseChatAgent.run -> on_messages; run_stream -> on_messages_stream (0.7.x).
            # Coroutines go through cancellable(): a cancelled run, model call or tool run is not a crash.
            Patch(_AGENTS, "BaseChatAgent.run", cancellable(tracer, config, AGENT_RUN)),
            Patch(_AGENTS, "BaseChatAgent.run_stream", wrap(tracer, config, AGENT_RUN_STREAM, "async_gen")),
            # Turns: teams call each member's on_messages_stream directly (ChatAgentContainer), and
            # AssistantAgent overrides it, so both the base and the override are patched; on_messages of
            # AssistantAgent iterates on_messages_stream, so patching it too would double every turn.
            Patch(_AGENTS, "BaseChatAgent.on_messages_stream", wrap(tracer, config, AGENT_TURN, "async_gen")),
            Patch(_ASSISTANT, "AssistantAgent.on_messages_stream", wrap(tracer, config, AGENT_TURN, "async_gen")),
            # The other agents of autogen-agentchat 0.7 that override on_messages_stream (team turns of them).
            Patch(_SOM, "SocietyOfMindAgent.on_messages_stream", wrap(tracer, config, AGENT_TURN, "async_gen")),
            Patch(_CODE, "CodeExecutorAgent.on_messages_stream", wrap(tracer, config, AGENT_TURN, "async_gen")),
            Patch(_FILTER, "MessageFilterAgent.on_messages_stream", wrap(tracer, config, AGENT_TURN, "async_gen")),
            Patch(_USER, "UserProxyAgent.on_messages_stream", wrap(tracer, config, AGENT_TURN, "async_gen")),
            # Teams: BaseGroupChat.run iterates run_stream, so run_stream alone covers both (one span).
            Patch(_TEAMS, "BaseGroupChat.run_stream", wrap(tracer, config, TEAM_RUN_STREAM, "async_gen")),
            # Model calls: create / create_stream of every ChatCompletionClient subclass, the ones defined
            # already and each one defined later (at its definition); see _clients.py.
            Patch(
                MODEL_CLIENT_MODULE,
                "ChatCompletionClient.__init_subclass__",
                subclass_hook(
                    {
                        "create": cancellable(tracer, config, CREATE),
                        "create_stream": wrap(tracer, config, CREATE_STREAM, "async_gen"),
                    },
                    self._patch_class,
                ),
            ),
            # Tools: AssistantAgent._execute_tool_call -> workbench -> BaseTool.run_json (FunctionTool.run).
            Patch(_TOOLS, "BaseTool.run_json", cancellable(tracer, config, TOOL)),
            # Streaming tools: StaticStreamWorkbench.call_tool_stream -> BaseStreamTool.run_json_stream (an async
            # generator that does not go through run_json), so it is patched too: one span per tool run.
            Patch(_TOOLS, "BaseStreamTool.run_json_stream", wrap(tracer, config, TOOL_STREAM, "async_gen")),
            # McpWorkbench (autogen-ext[mcp]) runs its tools on the MCP session, not through BaseTool.run_json:
            # its call_tool is the tool run (StaticWorkbench.call_tool is not patched: run_json under it is).
            Patch(_MCP, "McpWorkbench.call_tool", cancellable(tracer, config, WORKBENCH_CALL)),
            # AutoGen's own GenAI spans, replaced by ours (see the module docstring): the modules import the
            # context managers by name, so each importing module's binding is patched.
            Patch(_AGENTS, "trace_invoke_agent_span", _silenced),
            Patch(_AGENTS, "trace_create_agent_span", _silenced),
            Patch(_CONTAINER, "trace_invoke_agent_span", _silenced),
            Patch(_TOOLS, "trace_tool_span", _silenced),
            Patch(_MCP, "trace_tool_span", _silenced),
        ]
        if not config.extra.get("trace_runtime"):
            # The runtime's messaging spans (send/receive/process/publish), ~30 per two-agent chat.
            patches.append(Patch(_RUNTIME, "TraceHelper.trace_block", _silenced))
        return patches

    def _patch_class(self, cls: type, attribute: str, factory: Callable[[Switch], Any]) -> None:
        """Patch ``cls.attribute`` now (a class found or defined at run time), as a Patch of the table is."""
        namespace = types.ModuleType(cls.__module__)  # _apply resolves "owner.attribute" in a module's namespace
        vars(namespace)["owner"] = cls
        with self._lock:
            if self._active:
                self._apply(namespace, Patch(cls.__module__, f"owner.{attribute}", factory))


def instrument_autogen(**options: Any) -> None:
    """Instrument AutoGen (the process-wide instrumentor ``instrument_all()`` uses too)."""
    from agentlightning.instrumentation import instrument

    instrument("autogen", **options)


def uninstrument_autogen() -> None:
    from agentlightning.instrumentation import uninstrument

    uninstrument("autogen")
