"""The example plugin of docs/adding-a-plugin.md: the "acme" framework (``acme_sdk``) on the core helpers.

It reads like every plugin should: the framework's attribute readers, then its patch table. No span
lifecycle here (that is ``agentlightning.instrumentation``'s).
"""

from __future__ import annotations

from typing import Any

from opentelemetry import trace

from agentlightning import semconv as sc
from agentlightning.instrumentation import InstrumentationConfig, Instrumentor, Invocation, Operation, Patch, wrap
from agentlightning.instrumentation import messages as m

PROVIDER = "acme"


# ---- attribute readers ---------------------------------------------------------------------------
def complete_request(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any], capture: bool) -> Any:
    attributes: dict[str, Any] = {
        sc.GEN_AI_OPERATION_NAME: sc.OP_TEXT_COMPLETION,
        sc.GEN_AI_PROVIDER_NAME: PROVIDER,
        sc.GEN_AI_REQUEST_MODEL: instance.model,
    }
    prompt = args[0] if args else kwargs.get("prompt")
    if capture and isinstance(prompt, str):
        attributes[sc.GEN_AI_INPUT_MESSAGES] = m.dumps([m.input_message("user", [m.text_part(prompt)])])
    return f"{sc.OP_TEXT_COMPLETION} {instance.model}", attributes


def complete_response(result: Any, capture: bool) -> dict[str, Any]:
    attributes = {
        sc.GEN_AI_RESPONSE_ID: result.id,
        sc.GEN_AI_RESPONSE_MODEL: result.model,
        sc.GEN_AI_USAGE_INPUT_TOKENS: result.input_tokens,
        sc.GEN_AI_USAGE_OUTPUT_TOKENS: result.output_tokens,
    }
    if capture:
        attributes[sc.GEN_AI_OUTPUT_MESSAGES] = m.dumps([m.output_message([m.text_part(result.text)], "stop")])
    return attributes


class WordStream:
    """A streamed answer arrives word by word; the span ends when the stream does."""

    def __init__(self, invocation: Invocation) -> None:
        self.invocation = invocation
        self.words = 0

    def on_item(self, word: str) -> None:
        self.words += 1

    def on_finish(self, error: BaseException | None) -> None:
        if error is not None:
            self.invocation.fail(error)
        else:
            self.invocation.stop({sc.GEN_AI_USAGE_OUTPUT_TOKENS: self.words})


def turn_request(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any], capture: bool) -> Any:
    return f"{sc.OP_INVOKE_AGENT} {instance.name}", {
        sc.GEN_AI_OPERATION_NAME: sc.OP_INVOKE_AGENT,
        sc.GEN_AI_AGENT_NAME: instance.name,
    }


def tool_request(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any], capture: bool) -> Any:
    name = args[0] if args else kwargs.get("tool", "tool")
    attributes = {sc.GEN_AI_OPERATION_NAME: sc.OP_EXECUTE_TOOL, sc.GEN_AI_TOOL_NAME: name}
    if capture and len(args) > 1:
        attributes[sc.GEN_AI_TOOL_CALL_ARGUMENTS] = m.dumps(args[1])
    return f"{sc.OP_EXECUTE_TOOL} {name}", attributes


COMPLETE = Operation("llm", complete_request, complete_response, stream=WordStream)
TURN = Operation("agent", turn_request)
TOOL = Operation("tool", tool_request)


# ---- the patch table -----------------------------------------------------------------------------
class AcmeInstrumentor(Instrumentor):
    """Traces acme's model calls, agent turns and tool runs (acme_sdk, any version)."""

    name = "acme"
    instruments = ()  # a real plugin: ("acme-sdk>=2.1,<3",)

    def _patches(self, config: InstrumentationConfig) -> list[Patch]:
        tracer = trace.get_tracer("agentlightning.acme")
        return [
            # Every model call goes through Client.complete / acomplete.
            Patch("acme_sdk", "Client.complete", wrap(tracer, config, COMPLETE)),
            Patch("acme_sdk", "Client.acomplete", wrap(tracer, config, COMPLETE, "async")),
            # An agent turn is an async generator: the span covers the whole turn.
            Patch("acme_sdk", "Agent.run_stream", wrap(tracer, config, TURN, "async_gen")),
            Patch("acme_sdk", "Agent.run_tool", wrap(tracer, config, TOOL)),
        ]
