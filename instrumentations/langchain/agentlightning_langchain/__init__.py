"""agentlightning instrumentation for LangChain and LangGraph (``agentlightning-langchain``).

Usage
-----
::

    import agentlightning as agl
    agl.instrument_all()                          # finds this plugin through its entry point

    # or just this one:
    from agentlightning_langchain import LangChainInstrumentor
    LangChainInstrumentor().instrument(capture_content=True)

The agent stays unchanged: one callback handler is added to every LangChain run through LangChain's own
configure hook (``register_configure_hook``, inheritable), so chains, chat models, tools, retrievers, LangGraph
graphs and their nodes -- also inside ``astream_events``, in executor threads, and next to the user's own
``callbacks=`` -- become one span tree on the global tracer provider, nested by LangChain's run tree
(``run_id`` / ``parent_run_id``), never by whatever context is current in a callback. A top-level run is
parented on the span current when it starts (the rollout's, or the user's own).

=====================================  ==================================  ====================================
LangChain run                          span                                attributes
=====================================  ==================================  ====================================
chat model (``on_chat_model_start``)   ``chat {model}`` (CLIENT)           model, provider, request parameters,
                                                                           response id/model, finish reasons,
                                                                           ``gen_ai.usage.*``, tool calls
completion model (``on_llm_start``)    ``text_completion {model}``         the same, usage from ``llm_output``
chain, runnable, graph, graph node     ``invoke_workflow {name}``          ``agentlightning.langgraph.node``
``langchain.agents.create_agent``      ``invoke_agent {name}``             ``gen_ai.agent.name``
tool                                   ``execute_tool {name}``             ``gen_ai.tool.name``, call id
retriever                              ``retrieval {name}``                document count
=====================================  ==================================  ====================================

Content (input/output messages, system instructions, tool arguments and results, the query, documents) is
recorded only with content capture on (keyword, ``AGENTLIGHTNING_CAPTURE_CONTENT``, or the rollout's flag).
LangGraph's internal steps (tagged ``langsmith:hidden``) get no span; their children hang on the nearest
visible ancestor. Control flow ends spans OK (status UNSET) with ``agentlightning.langchain.control_flow`` set
to the exception type: LangGraph's interrupts and commands (``GraphBubbleUp``), its step limit
(``GraphRecursionError``), and ``GeneratorExit`` (a stream left early). Real errors end them ERROR
(``error.type``; for langchain-openai's re-raised subclasses the openai error's name, as the OpenAI plugin
writes it) and pass through unchanged.

Provider SDKs that trace themselves (anthropic 2.x emits a ``anthropic.messages.create`` span to the global
provider for every API call): inside a LangChain model call, which has its ``chat`` span already, the SDK's
own span is not started (``ChatAnthropic`` gives one span per call); outside LangChain it is left alone.

One LLM span per model call: with the OpenAI plugin also on, ``ChatOpenAI``'s call into the openai client
(``with_raw_response.create``, ``create(stream=True)``, ``parse``) adds its attributes (response id, usage,
token ids) to this plugin's ``chat`` span instead of opening a second one, in any import or instrument order.

``uninstrument()`` ends any open run, frees the handler's maps and detaches the handler from new runs (the
hook LangChain keeps then returns ``None``). Needs langchain-core >= 1.4 (Python >= 3.11), the oldest tested;
an older one gets a sentence from ``instrument()`` saying so, and nothing is attached.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agentlightning.instrumentation import InstrumentationConfig, Instrumentor, Patch, guard

from . import _hook

if TYPE_CHECKING:
    from ._handler import AgentLightningCallbackHandler

__all__ = ["LangChainInstrumentor", "instrument_langchain", "uninstrument_langchain"]

__version__ = "0.1.0"

_HOOK_MODULE = "langchain_core.tracers.context"


class LangChainInstrumentor(Instrumentor):
    """Adds one callback handler to every LangChain run (no method is patched)."""

    name = "langchain"
    instruments = ("langchain-core>=1.4,<2",)  # the oldest tested (pyproject [tool.agentlightning.tested])
    trigger_modules = ("langchain_core", "anthropic")  # the top-level modules of _HOOK_MODULE and the patch

    def __init__(self) -> None:
        super().__init__()
        self._handler: AgentLightningCallbackHandler | None = None

    def _patches(self, config: InstrumentationConfig) -> list[Patch]:
        # LangChain itself is not wrapped: its configure hook brings the handler to every run. One wrapper
        # for a provider SDK that traces itself (see _sdk_spans): no second span for a model call.
        from . import _sdk_spans

        return [Patch(_sdk_spans.ANTHROPIC_MODULE, _sdk_spans.ANTHROPIC_TARGET, _sdk_spans.one_span_per_call)]

    def _armed(self) -> None:
        # Attach the handler to every LangChain run from now on (when langchain_core.tracers.context is imported).
        import wrapt

        wrapt.register_post_import_hook(self._on_langchain, _HOOK_MODULE)

    def _on_langchain(self, module: Any) -> None:
        with guard("langchain.instrument"), self._lock:
            if not self.is_instrumented:
                return
            handler = self.callback_handler()
            if handler is None:
                return
            _hook.register()
            _hook.SLOT.handler = handler

    def callback_handler(self) -> AgentLightningCallbackHandler | None:
        """This instrumentor's LangChain callback handler while instrumented (``None`` otherwise).

        For code written against agent-lightning 0.3 that passes ``callbacks=[tracer.get_langchain_handler()]``:
        the handler is the one the configure hook adds already, so it is never counted twice.
        """
        with self._lock:
            config = self.config
            if not self.is_instrumented or config is None:
                return None
            if self._handler is None:
                from opentelemetry import trace

                from ._handler import AgentLightningCallbackHandler

                self._handler = AgentLightningCallbackHandler(trace.get_tracer("agentlightning.langchain"), config)
            return self._handler

    def uninstrument(self) -> None:
        """Detach the handler from new runs, end the open ones, free its maps. Idempotent."""
        with self._lock:
            super().uninstrument()
            handler, self._handler = self._handler, None
            if handler is not None and _hook.SLOT.handler is handler:
                _hook.SLOT.handler = None
        if handler is not None:
            handler.close()


def instrument_langchain(**options: Any) -> None:
    """Instrument LangChain/LangGraph (the process-wide instrumentor ``instrument_all()`` uses too)."""
    from agentlightning.instrumentation import instrument

    instrument("langchain", **options)


def uninstrument_langchain() -> None:
    from agentlightning.instrumentation import uninstrument

    uninstrument("langchain")
