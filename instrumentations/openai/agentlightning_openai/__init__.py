"""agentlightning instrumentation for the OpenAI Python client (``agentlightning-openai``).

Usage
-----
::

    import agentlightning as agl
    agl.instrument_all()                          # finds this plugin through its entry point

    # or just this one:
    from agentlightning_openai import instrument_openai, uninstrument_openai
    instrument_openai(capture_content=True)

Before or after ``import openai``, it makes no difference: the patch is applied when the OpenAI resource
modules are imported, or at once if they already are. Every call below becomes one OpenTelemetry span
(kind CLIENT) on the global tracer provider, which the agentlightning tracer attributes to the running
rollout and writes to the store:

============================================  =================  =============================================
method (sync and ``Async*``)                  span               notes
============================================  =================  =============================================
``chat.completions.create``                   ``chat {model}``   ``stream=True`` as iterator or ``with``;
                                                                 ``with_raw_response`` (``.headers``,
                                                                 ``.parse()`` keep working)
``chat.completions.parse``                    ``chat {model}``   also ``beta.chat.completions.parse`` (<1.92)
``chat.completions.stream``                   ``chat {model}``   through ``create(stream=True)``
``responses.create`` / ``.stream``            ``chat {model}``   Responses API (openai >= 1.66)
``responses.parse``                           ``chat {model}``   posts by itself, like ``chat.completions.parse``
``embeddings.create``                         ``embeddings {m}``
``completions.create`` (legacy, stream too)   ``text_completion  ``/v1/completions``: LangChain's ``OpenAI``
                                              {model}``          LLM, vLLM users
============================================  =================  =============================================

Attributes (keys in ``agentlightning.semconv``): ``gen_ai.operation.name``, ``gen_ai.provider.name``
(``openai``; ``azure.ai.openai`` for ``AzureOpenAI`` clients), ``server.address`` / ``server.port`` (from the
client's base URL), ``gen_ai.request.{model,max_tokens,temperature,top_p,seed,stop_sequences,frequency_penalty,
presence_penalty,choice.count}``, ``gen_ai.output.type``, ``gen_ai.response.{id,model,finish_reasons}``,
``gen_ai.usage.{input,output}_tokens`` (streams: when the server sends a usage chunk, i.e. when the caller
asked for ``stream_options={"include_usage": True}``; the request is never changed to ask for it),
``gen_ai.tool.definitions`` (type and name; whole definitions with content capture, minus ``headers`` and
``authorization``), ``agentlightning.tool_calls`` (ids and names; arguments with content capture;
assembled from stream deltas too), ``agentlightning.prompt_token_ids`` / ``response_token_ids`` when a
vLLM-style server returns them, and ``error.type`` with status ERROR when the call fails -- the user's
exception is re-raised unchanged (without content capture, the message of an error that is not an openai
``APIError``, e.g. ``parse()``'s ``ValidationError`` quoting the answer, is left out of the span). With
``capture_content`` on (keyword, ``AGENTLIGHTNING_CAPTURE_CONTENT`` or
``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``): ``gen_ai.input.messages``,
``gen_ai.output.messages``, ``gen_ai.system_instructions`` in the GenAI "parts" JSON format. Only lists and
tuples of the request are read: a generator passed as ``messages`` or ``input`` is left for openai to consume.

Nothing is traced under OpenTelemetry's ``suppress_instrumentation``. When a layer above already owns the LLM
span of this model call (a framework plugin such as LangChain's, or OpenTelemetry's openai-v2 instrumentation
wrapped on top of ours), no second span is opened: this plugin adds what it reads (response id, usage, token
ids, tool calls) to that span. When openai-v2 or AgentOps was instrumented first (its wrapper under ours), ours
steps over it for the call, also when an outer plugin owns the span, so there is still one span and token
totals are counted once.

The classes are patched, not the client objects, so a ``Completions`` imported before instrumenting is
traced too. Checked on openai 3.57 (httpx2); the patched names exist unchanged since openai 1.40
(``chat.completions`` became a package in 1.5x; both layouts are hooked).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agentlightning.instrumentation import InstrumentationConfig, Instrumentor, Patch

from ._providers import PROVIDER_AZURE, PROVIDER_OPENAI

if TYPE_CHECKING:
    from agentlightning.instrumentation import Operation

__all__ = ["PROVIDER_AZURE", "PROVIDER_OPENAI", "OpenAIInstrumentor", "instrument_openai", "uninstrument_openai"]

__version__ = "0.1.0"

# (module that defines the class, in the layouts seen across openai versions) x (class, method, operation name)
_CHAT_MODULES = (
    "openai.resources.chat.completions.completions",  # openai >= 1.5x: chat/completions/ is a package
    "openai.resources.chat.completions",  # openai 1.40-1.5x: a module
)
_RESPONSES_MODULES = ("openai.resources.responses.responses", "openai.resources.responses")
_TARGETS: tuple[tuple[tuple[str, ...], str, str, str, bool], ...] = (
    # module names, class, method, operation (a name in _operations()), async
    (_CHAT_MODULES, "Completions", "create", "CHAT", False),
    (_CHAT_MODULES, "AsyncCompletions", "create", "CHAT", True),
    # parse() posts by itself (it does not go through create) in every version checked.
    (_CHAT_MODULES, "Completions", "parse", "CHAT", False),
    (_CHAT_MODULES, "AsyncCompletions", "parse", "CHAT", True),
    (("openai.resources.beta.chat.completions",), "Completions", "parse", "CHAT", False),  # openai < 1.92
    (("openai.resources.beta.chat.completions",), "AsyncCompletions", "parse", "CHAT", True),
    (_RESPONSES_MODULES, "Responses", "create", "RESPONSES", False),
    (_RESPONSES_MODULES, "AsyncResponses", "create", "RESPONSES", True),
    # responses.parse() posts by itself too (openai >= 1.92; 3.x through lib._response_resources.parse).
    (_RESPONSES_MODULES, "Responses", "parse", "RESPONSES", False),
    (_RESPONSES_MODULES, "AsyncResponses", "parse", "RESPONSES", True),
    (("openai.resources.embeddings",), "Embeddings", "create", "EMBEDDINGS", False),
    (("openai.resources.embeddings",), "AsyncEmbeddings", "create", "EMBEDDINGS", True),
    # Legacy completions (/v1/completions): unchanged since openai 1.0.
    (("openai.resources.completions",), "Completions", "create", "COMPLETIONS", False),
    (("openai.resources.completions",), "AsyncCompletions", "create", "COMPLETIONS", True),
)


def _operations() -> dict[str, Operation]:
    # Imported when openai is (the plugin is armed then): they bring OpenTelemetry and the wrappers.
    from ._chat import CHAT, EMBEDDINGS
    from ._completions import COMPLETIONS
    from ._responses import RESPONSES

    return {"CHAT": CHAT, "EMBEDDINGS": EMBEDDINGS, "COMPLETIONS": COMPLETIONS, "RESPONSES": RESPONSES}


class OpenAIInstrumentor(Instrumentor):
    """Traces the OpenAI client's chat completions, ``parse``, Responses and embeddings calls."""

    name = "openai"
    instruments = ("openai>=1.40",)
    trigger_modules = ("openai",)

    def _patches(self, config: InstrumentationConfig) -> list[Patch]:
        from opentelemetry import trace

        from agentlightning.instrumentation import wrap

        tracer = trace.get_tracer("agentlightning.openai", __version__)
        operations = _operations()
        patches = []
        for modules, cls, method, operation, is_async in _TARGETS:
            factory = wrap(tracer, config, operations[operation], "async" if is_async else "sync")
            for module in modules:
                patches.append(Patch(module, f"{cls}.{method}", factory))
        return patches


def instrument_openai(**options: Any) -> None:
    """Instrument the OpenAI client (the process-wide instrumentor ``instrument_all()`` uses too)."""
    from agentlightning.instrumentation import instrument

    instrument("openai", **options)


def uninstrument_openai() -> None:
    from agentlightning.instrumentation import uninstrument

    uninstrument("openai")
