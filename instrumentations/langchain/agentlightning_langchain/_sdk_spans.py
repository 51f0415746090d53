"""Provider SDKs that trace themselves: no second span inside a LangChain model call.

anthropic 2.x starts one CLIENT span per API call (``anthropic.messages.create``) on the global tracer
provider, through ``anthropic._base_client.start_api_call_span``, which may return ``None`` ("the call goes on
without a span"). Under ``ChatAnthropic`` that would be a second span for one model call, beside this plugin's
``chat {model}`` span (the handler attaches no context, so the SDK's span is not even its child). While a
model call of ours is in progress on this thread/task (its LLM span is registered:
:func:`~agentlightning.instrumentation.current_llm_invocation`), the wrapper answers ``None``; anywhere else
(the SDK used directly, no LangChain run) the SDK's span is left as it is. The SDK then sends no trace
headers of its own for that call. A version without that function is simply not patched.
"""

from __future__ import annotations

from typing import Any

from agentlightning.instrumentation import Switch, current_llm_invocation

__all__ = ["ANTHROPIC_MODULE", "ANTHROPIC_TARGET", "one_span_per_call"]

ANTHROPIC_MODULE = "anthropic._base_client"
ANTHROPIC_TARGET = "start_api_call_span"


def one_span_per_call(switch: Switch) -> Any:
    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if switch.on and current_llm_invocation() is not None:
            return None  # this model call has its span (ours): the SDK goes on without one
        return wrapped(*args, **kwargs)

    return wrapper
