"""Attribute readers of the AutoGen plugin: agent runs and turns, team runs, model calls, tool runs.

Every reader takes AutoGen objects through ``messages.field`` / ``getattr`` with defaults, so a field that
moves in another 0.7.x release costs an attribute, never the user's call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from opentelemetry.trace import Status, StatusCode

from agentlightning import semconv as sc
from agentlightning.instrumentation import Invocation, Operation
from agentlightning.instrumentation import messages as m

PROVIDER_AUTOGEN = "autogen"
MESSAGE_COUNT = "agentlightning.autogen.message_count"
STOP_REASON = "agentlightning.autogen.stop_reason"
CANCELLED = "agentlightning.autogen.cancelled"
CACHED = "agentlightning.autogen.cached"
AGENT_DESCRIPTION = "gen_ai.agent.description"

Attributes = dict[str, Any]


def _text(value: Any) -> str:
    return value if isinstance(value, str) else m.dumps(value)


# ---- agents (a run, and each turn) --------------------------------------------------------------------------
def _agent_attributes(instance: Any) -> Attributes:
    name = str(getattr(instance, "name", None) or type(instance).__name__)
    attributes: Attributes = {
        sc.GEN_AI_OPERATION_NAME: sc.OP_INVOKE_AGENT,
        sc.GEN_AI_PROVIDER_NAME: PROVIDER_AUTOGEN,
        sc.GEN_AI_AGENT_NAME: name,
    }
    description = getattr(instance, "description", None)
    if isinstance(description, str) and description:
        attributes[AGENT_DESCRIPTION] = description
    return attributes


def agent_request(
    instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any], capture: bool
) -> tuple[str, Attributes]:
    attributes = _agent_attributes(instance)
    return f"invoke_agent {attributes[sc.GEN_AI_AGENT_NAME]}", attributes


def turn_request(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any], capture: bool) -> tuple[str, Attributes]:
    attributes = _agent_attributes(instance)
    incoming = args[0] if args else kwargs.get("messages")
    if isinstance(incoming, (list, tuple)):
        attributes[MESSAGE_COUNT] = len(incoming)
    return f"invoke_agent {attributes[sc.GEN_AI_AGENT_NAME]}", attributes


def team_request(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any], capture: bool) -> tuple[str, Attributes]:
    name = str(getattr(instance, "name", None) or type(instance).__name__)
    attributes: Attributes = {
        sc.GEN_AI_OPERATION_NAME: sc.OP_INVOKE_WORKFLOW,
        sc.GEN_AI_PROVIDER_NAME: PROVIDER_AUTOGEN,
        sc.GEN_AI_AGENT_NAME: name,
    }
    return f"invoke_workflow {name}", attributes


def task_result_attributes(result: Any, capture: bool) -> Attributes:
    """A ``TaskResult`` (team or agent run): message count and the stop (termination) reason."""
    attributes: Attributes = {}
    messages = getattr(result, "messages", None)
    if isinstance(messages, (list, tuple)):
        attributes[MESSAGE_COUNT] = len(messages)
    reason = getattr(result, "stop_reason", None)
    if isinstance(reason, str) and reason:
        attributes[STOP_REASON] = reason
    return attributes


def response_attributes(response: Any, capture: bool) -> Attributes:
    """A ``Response`` ending a turn: how many inner messages it carried, tokens of its chat message."""
    attributes: Attributes = {}
    inner = getattr(response, "inner_messages", None)
    if isinstance(inner, (list, tuple)):
        attributes[MESSAGE_COUNT] = len(inner) + 1
    chat_message = getattr(response, "chat_message", None)
    attributes.update(usage_attributes(getattr(chat_message, "models_usage", None)))
    if capture and chat_message is not None:
        content = getattr(chat_message, "content", None)
        if content is not None:
            attributes[sc.GEN_AI_OUTPUT_MESSAGES] = m.dumps([m.output_message([m.text_part(_text(content))], None)])
    return attributes


class _LastItem:
    """Ends an agent or team generator with what its last item (``Response`` / ``TaskResult``) says.

    A cancellation (``CancellationToken`` or task cancel) is not a crash: the span ends with ``cancelled``
    set and status unset; any other exception is recorded and re-raised unchanged by the core."""

    __slots__ = ("invocation", "last", "reader")

    def __init__(self, invocation: Invocation, reader: Any) -> None:
        self.invocation = invocation
        self.reader = reader
        self.last: Any = None

    def on_item(self, item: Any) -> None:
        self.last = item

    def on_finish(self, error: BaseException | None) -> None:
        if isinstance(error, asyncio.CancelledError):
            self.invocation.stop({CANCELLED: True})
        elif error is not None:
            self.invocation.fail(error)
        else:
            self.invocation.stop(self.reader(self.last, self.invocation.capture) if self.last is not None else None)


def _turn_handler(invocation: Invocation) -> _LastItem:
    return _LastItem(invocation, response_attributes)


def _run_handler(invocation: Invocation) -> _LastItem:
    return _LastItem(invocation, task_result_attributes)


def cancellable(tracer: Any, config: Any, operation: Operation) -> Any:
    """The Patch factory of a coroutine method: like ``wrap(..., "async")``, except that a cancellation
    (``CancellationToken``, a task cancelled) ends the span as cancelled, with no error status, instead of
    failing it. Used for agent runs, model calls and tool runs; generators get the same from their handlers."""
    from agentlightning.instrumentation import guard, is_suppressed

    # Literal site names, one per kind, so the fault tests (agentlightning.testing.faults) find and cover each.
    sites = {"agent": guard("autogen.agent"), "llm": guard("autogen.llm"), "tool": guard("autogen.tool")}
    site = sites[operation.kind]
    begin, done = operation.begin, operation.done

    def factory(switch: Any) -> Any:
        async def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            if not switch.on or is_suppressed():
                return await wrapped(*args, **kwargs)
            invocation = None
            with site:
                invocation = begin(tracer, config, instance, args, kwargs)
                invocation.enter()
            if invocation is None:
                return await wrapped(*args, **kwargs)
            try:
                result = await wrapped(*args, **kwargs)
            except asyncio.CancelledError:
                invocation.leave()
                invocation.stop({CANCELLED: True})
                raise
            except BaseException as error:
                invocation.leave()
                invocation.fail(error)
                raise
            invocation.leave()
            return done(invocation, result, False, True)

        return wrapper

    return factory


AGENT_RUN = Operation("agent", agent_request, task_result_attributes)
AGENT_RUN_STREAM = Operation("agent", agent_request, stream=_run_handler)
AGENT_TURN = Operation("agent", turn_request, stream=_turn_handler)
TEAM_RUN_STREAM = Operation("workflow", team_request, stream=_run_handler)


# ---- model client -------------------------------------------------------------------------------------------
def usage_attributes(usage: Any) -> Attributes:
    """``autogen_core.models.RequestUsage``: prompt and completion tokens."""
    attributes: Attributes = {}
    prompt, completion = getattr(usage, "prompt_tokens", None), getattr(usage, "completion_tokens", None)
    if isinstance(prompt, int) and not isinstance(prompt, bool):
        attributes[sc.GEN_AI_USAGE_INPUT_TOKENS] = prompt
    if isinstance(completion, int) and not isinstance(completion, bool):
        attributes[sc.GEN_AI_USAGE_OUTPUT_TOKENS] = completion
    return attributes


# The provider of a client, by the autogen_ext package that defines it (a class name decides within one).
_PROVIDERS = {
    "autogen_ext.models.openai": ("openai", ("Azure", "azure.ai.openai")),
    "autogen_ext.models.anthropic": ("anthropic", ("Bedrock", "aws.bedrock")),
    "autogen_ext.models.azure": ("azure.ai.inference", None),
    "autogen_ext.models.ollama": ("ollama", None),
    "autogen_ext.models.llama_cpp": ("llama_cpp", None),
    "autogen_ext.models.semantic_kernel": ("semantic_kernel", None),
}


def _inner_client(instance: Any) -> Any:
    """The client a wrapping client (``ChatCompletionCache``) calls, if any."""
    inner = getattr(instance, "client", None)
    return inner if inner is not None and inner is not instance and hasattr(inner, "create_stream") else None


def _model_name(instance: Any) -> str:
    """``_create_args["model"]`` (OpenAI, Azure, Anthropic, Ollama, Azure AI clients), ``_model_name``, the
    wrapped client's model (the cache), else the client's class name (the replay client, a user's own)."""
    for _ in range(4):
        args = getattr(instance, "_create_args", None)
        model = args.get("model") if isinstance(args, dict) else getattr(instance, "_model_name", None)
        if isinstance(model, str) and model:
            return model
        inner = _inner_client(instance)
        if inner is None:
            break
        instance = inner
    return type(instance).__name__


def _provider(instance: Any) -> str:
    for _ in range(4):
        inner = _inner_client(instance)
        if inner is None:
            break
        instance = inner
    cls = type(instance)
    for prefix, (provider, variant) in _PROVIDERS.items():
        if cls.__module__.startswith(prefix):
            return variant[1] if variant is not None and variant[0] in cls.__name__ else provider
    return PROVIDER_AUTOGEN


def _input_messages(messages: Any) -> list[Any]:
    out: list[Any] = []
    for message in messages if isinstance(messages, (list, tuple)) else ():
        kind = str(getattr(message, "type", "") or "")
        role = {"SystemMessage": "system", "UserMessage": "user", "AssistantMessage": "assistant"}.get(kind, "tool")
        out.append(m.input_message(role, [m.text_part(_text(getattr(message, "content", "")))]))
    return out


def create_request(
    instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any], capture: bool
) -> tuple[str, Attributes]:
    model = _model_name(instance)
    attributes: Attributes = {
        sc.GEN_AI_OPERATION_NAME: sc.OP_CHAT,
        sc.GEN_AI_PROVIDER_NAME: _provider(instance),
        sc.GEN_AI_REQUEST_MODEL: model,
    }
    if capture:
        attributes[sc.GEN_AI_INPUT_MESSAGES] = m.dumps(_input_messages(args[0] if args else kwargs.get("messages")))
    return f"chat {model}", attributes


def create_result_attributes(result: Any, capture: bool) -> Attributes:
    """``autogen_core.models.CreateResult``: usage, finish reason, tool calls (names), content with capture."""
    attributes = usage_attributes(getattr(result, "usage", None))
    reason = getattr(result, "finish_reason", None)
    if isinstance(reason, str):
        attributes[sc.GEN_AI_RESPONSE_FINISH_REASONS] = (reason,)
    if getattr(result, "cached", None) is True:  # the cache (or the replay client) answered, no model ran
        attributes[CACHED] = True
    content = getattr(result, "content", None)
    if capture and content is not None:
        finish = reason if isinstance(reason, str) else None
        attributes[sc.GEN_AI_OUTPUT_MESSAGES] = m.dumps([m.output_message([m.text_part(_text(content))], finish)])
    return attributes


class _CreateStream:
    """``create_stream`` yields text chunks, then one ``CreateResult``: that last item carries the usage."""

    __slots__ = ("invocation", "result")

    def __init__(self, invocation: Invocation) -> None:
        self.invocation = invocation
        self.result: Any = None

    def on_item(self, item: Any) -> None:
        if not isinstance(item, str):
            self.result = item

    def on_finish(self, error: BaseException | None) -> None:
        if isinstance(error, asyncio.CancelledError):
            self.invocation.stop({CANCELLED: True})
        elif error is not None:
            self.invocation.fail(error)
        else:
            attributes = create_result_attributes(self.result, self.invocation.capture) if self.result else {}
            # Without a usage chunk (the caller did not ask for include_usage) AutoGen reports 0 and 0:
            # not a count, so nothing is written (a layer underneath that saw real usage keeps its own).
            if attributes.get(sc.GEN_AI_USAGE_INPUT_TOKENS) == 0 and attributes.get(sc.GEN_AI_USAGE_OUTPUT_TOKENS) == 0:
                del attributes[sc.GEN_AI_USAGE_INPUT_TOKENS], attributes[sc.GEN_AI_USAGE_OUTPUT_TOKENS]
            self.invocation.stop(attributes)


CREATE = Operation("llm", create_request, create_result_attributes)
CREATE_STREAM = Operation("llm", create_request, stream=_CreateStream)


# ---- tools ----------------------------------------------------------------------------------------------------
TOOL_DESCRIPTION = "gen_ai.tool.description"


def tool_request(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any], capture: bool) -> tuple[str, Attributes]:
    """``run_json(args, cancellation_token, call_id=None)`` / ``run_json_stream(...)`` of a ``BaseTool``."""
    name = str(getattr(instance, "name", None) or type(instance).__name__)
    attributes: Attributes = {sc.GEN_AI_OPERATION_NAME: sc.OP_EXECUTE_TOOL, sc.GEN_AI_TOOL_NAME: name}
    description = getattr(instance, "description", None)
    if isinstance(description, str) and description:
        attributes[TOOL_DESCRIPTION] = description
    call_id = kwargs.get("call_id", args[2] if len(args) > 2 else None)
    if isinstance(call_id, str) and call_id:
        attributes[sc.GEN_AI_TOOL_CALL_ID] = call_id
    if capture:
        arguments = kwargs.get("args", args[0] if args else None)
        if arguments is not None:
            attributes[sc.GEN_AI_TOOL_CALL_ARGUMENTS] = m.dumps(
                dict(arguments) if isinstance(arguments, Mapping) else arguments
            )
    return f"execute_tool {name}", attributes


def tool_result_attributes(result: Any, capture: bool) -> Attributes:
    """What the tool returned (only with capture): a string as it is, anything else as JSON."""
    return {sc.GEN_AI_TOOL_CALL_RESULT: _text(result)} if capture and result is not None else {}


class _ToolStream:
    """``run_json_stream`` yields the tool's stream items, the last one its return value (the result)."""

    __slots__ = ("invocation", "last")

    def __init__(self, invocation: Invocation) -> None:
        self.invocation = invocation
        self.last: Any = None

    def on_item(self, item: Any) -> None:
        self.last = item

    def on_finish(self, error: BaseException | None) -> None:
        if isinstance(error, asyncio.CancelledError):
            self.invocation.stop({CANCELLED: True})
        elif error is not None:
            self.invocation.fail(error)
        else:
            self.invocation.stop(tool_result_attributes(self.last, self.invocation.capture))


# ---- workbenches that run tools themselves (McpWorkbench) -------------------------------------------------------
TOOL_ERROR = "tool_error"


def workbench_request(
    instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any], capture: bool
) -> tuple[str, Attributes]:
    """``call_tool(name, arguments=None, cancellation_token=None, call_id=None)`` of a workbench."""
    name = str(kwargs.get("name", args[0] if args else None) or "tool")
    attributes: Attributes = {sc.GEN_AI_OPERATION_NAME: sc.OP_EXECUTE_TOOL, sc.GEN_AI_TOOL_NAME: name}
    call_id = kwargs.get("call_id", args[3] if len(args) > 3 else None)
    if isinstance(call_id, str) and call_id:
        attributes[sc.GEN_AI_TOOL_CALL_ID] = call_id
    if capture:
        arguments = kwargs.get("arguments", args[1] if len(args) > 1 else None)
        attributes[sc.GEN_AI_TOOL_CALL_ARGUMENTS] = m.dumps(
            dict(arguments) if isinstance(arguments, Mapping) else (arguments or {})
        )
    return f"execute_tool {name}", attributes


def _workbench_done(invocation: Invocation, result: Any, is_stream: bool, is_async: bool) -> Any:
    """A ``ToolResult``: the workbench caught the tool's failure itself (``is_error``); the span says so."""
    text = result.to_text(replace_image="[image]") if callable(getattr(result, "to_text", None)) else None
    attributes: Attributes = {}
    if invocation.capture and isinstance(text, str):
        attributes[sc.GEN_AI_TOOL_CALL_RESULT] = text
    if getattr(result, "is_error", False) is True:
        attributes[sc.ERROR_TYPE] = TOOL_ERROR
        message = text if invocation.capture and isinstance(text, str) else "(message withheld: content capture is off)"
        if invocation.span.is_recording():
            invocation.span.set_status(Status(StatusCode.ERROR, f"{TOOL_ERROR}: {message}"))
    invocation.stop(attributes)
    return result


WORKBENCH_CALL = Operation("tool", workbench_request, result=_workbench_done)
TOOL = Operation("tool", tool_request, tool_result_attributes)
TOOL_STREAM = Operation("tool", tool_request, stream=_ToolStream)
