"""agentlightning instrumentation for AgentOps (``agentlightning-agentops``): its spans in our store, offline.

Usage
-----
::

    import agentlightning as agl
    agl.instrument_all()                # finds this plugin through its entry point (before agentops.init())

    import agentops
    agentops.init(api_key="...")        # unchanged: nothing is sent anywhere

    @agentops.agent
    class Researcher: ...

    @agentops.operation
    def search(query): ...

Or the tracer agent-lightning 0.3 users know, which does both (instrument, then ``agentops.init()``)::

    trainer = agl.Trainer(tracer=agl.AgentOpsTracer(), ...)

and the 0.3 names ``agentlightning.instrumentation.agentops.instrument_agentops()`` /
``agentlightning.instrumentation.agentops_langchain.instrument_agentops_langchain()``.

What happens
------------
A program written for AgentOps runs unchanged: ``agentops.init(...)`` (any arguments, a key or none),
``@session`` / ``@agent`` / ``@operation`` / ``@task`` / ``@tool`` / ``@workflow``, ``start_trace`` /
``end_trace``, and AgentOps' own LLM instrumentation when ``instrument_llm_calls`` is on (its default). Their
spans are made on the global OpenTelemetry tracer provider, so the agentlightning tracer attributes them to the
running rollout (parented under the span current when they start: the rollout's root, or the user's span) and
writes them to the store. What AgentOps would send to its cloud is never produced: no exporter, no metrics, no
authentication, no upload of printed output, no dashboard URL, no ``agentops.log``; ``print`` and the
program's global providers are never replaced, and ``uninstrument`` stops AgentOps' import hook, so
``builtins.__import__`` is the program's again. Exit does not wait on any upload. The table of what is
patched and why is in ``_offline`` and in this folder's README.

One model call is one LLM span: while the OpenAI (LangChain) plugin is instrumented, AgentOps does not install
its own OpenAI (LangGraph) instrumentation, and an AgentOps layer installed earlier under our OpenAI wrapper is
stepped over; AgentOps' LangChain callback handler, when the program adds it, keeps its session, chain and tool
spans and leaves LLM runs to the LangChain plugin. Its LLM instrumentation of other providers stays as it is.

Instrument before ``agentops.init()`` runs (``agentlightning-run``, ``Trainer`` and ``AgentOpsTracer`` do):
an AgentOps initialized earlier has already set up its exporters, and a warning says so.

Checked on agentops 0.4.21 (which declares ``wrapt<2`` and runs under wrapt 1.17 and 2.5 alike).
"""

from __future__ import annotations

import builtins
import sys
from typing import Any

from agentlightning._lazylog import lazy_logger
from agentlightning.instrumentation import InstrumentationConfig, Instrumentor, Patch, guard

__all__ = ["AgentOpsInstrumentor", "instrument_agentops", "uninstrument_agentops"]

__version__ = "0.1.0"

logger = lazy_logger("agentlightning.instrumentation")

_CORE = "agentops.sdk.core"
_CLIENT = "agentops.client.client"
_LANGCHAIN = "agentops.integration.callbacks.langchain.callback"
_LLM_CALLBACKS = ("on_llm_start", "on_chat_model_start", "on_llm_new_token", "on_llm_end", "on_llm_error")


class AgentOpsInstrumentor(Instrumentor):
    """Keeps AgentOps offline and its spans on the global provider (see the module docstring)."""

    name = "agentops"
    instruments = ("agentops>=0.4.21,<0.5",)
    trigger_modules = ("agentops",)

    def __init__(self) -> None:
        super().__init__()
        self._import: Any = None  # builtins.__import__ when instrumented
        self._print: Any = None

    def _patches(self, config: InstrumentationConfig) -> list[Patch]:
        # Imported when AgentOps is (the plugin is armed then): _offline brings OpenTelemetry.
        from ._offline import (
            auth_wrapper,
            init_wrapper,
            intercept_logging_wrapper,
            llm_callback_wrapper,
            logging_wrapper,
            perform_instrumentation_wrapper,
            telemetry_wrapper,
        )

        return [
            # 0.4.x: TracingCore.initialize builds its providers, exporters and print hook here (module global).
            Patch(_CORE, "setup_telemetry", telemetry_wrapper, required=True),
            # 0.4.x: Client.init imports these two by name from agentops.logging.config.
            Patch(_CLIENT, "configure_logging", logging_wrapper, required=True),
            Patch(_CLIENT, "intercept_opentelemetry_logging", intercept_logging_wrapper),
            # 0.4.x: the only caller of the API's auth endpoint.
            Patch(_CLIENT, "Client._start_auth_task", auth_wrapper, required=True),
            Patch(_CLIENT, "Client.init", init_wrapper, required=True),
            # 0.4.x: every LLM SDK / agent library AgentOps instruments goes through this (module global); the
            # ones an agentlightning plugin traces are left to it (one span per model call).
            Patch("agentops.instrumentation", "_perform_instrumentation", perform_instrumentation_wrapper),
            # 0.4.x: AgentOps' LangChain callback handlers; their LLM runs are the LangChain plugin's.
            *(
                Patch(_LANGCHAIN, f"{cls}.{method}", llm_callback_wrapper)
                for cls in ("LangchainCallbackHandler", "AsyncLangchainCallbackHandler")
                for method in _LLM_CALLBACKS
            ),
        ]

    def instrument(self, **options: Any) -> None:
        """Patch AgentOps now (if imported) or when it is imported. Idempotent."""
        with self._lock:
            first = not self.is_instrumented
            super().instrument(**options)
            if first:
                self._import, self._print = builtins.__import__, builtins.print
        with guard("agentops.instrument"):
            _warn_if_initialized_already()

    def uninstrument(self) -> None:
        """Remove the patches, stop AgentOps' import hook and LLM instrumentors, put ``__import__`` back."""
        with self._lock:
            was_on = self.is_instrumented
            super().uninstrument()
            saved_import, saved_print = self._import, self._print
            self._import = self._print = None
        if not was_on:
            return
        with guard("agentops.uninstrument"):
            instrumentation = sys.modules.get("agentops.instrumentation")
            if instrumentation is not None:
                monitor = getattr(instrumentation, "_import_monitor", None)
                if monitor is not None and builtins.__import__ is monitor:
                    instrumentation.uninstrument_all()  # restores the __import__ it saved, unpatches LLM SDKs
            if saved_import is not None and builtins.__import__ is not saved_import:
                builtins.__import__ = saved_import
            if saved_print is not None and builtins.print is not saved_print:
                builtins.print = saved_print


def _warn_if_initialized_already() -> None:
    core = sys.modules.get(_CORE)
    tracer = getattr(core, "tracer", None) if core is not None else None
    if tracer is None or not getattr(tracer, "initialized", False):
        return
    from ._offline import RoutingTracerProvider  # AgentOps is imported, and OpenTelemetry with it

    if isinstance(getattr(tracer, "provider", None), RoutingTracerProvider):
        return
    logger.warning(
        "agentlightning (agentops): agentops.init() ran before AgentOps was instrumented, so AgentOps already "
        "set up its exporters to its cloud. Call agl.instrument_all() (or use agl.AgentOpsTracer()) before "
        "agentops.init() to keep it offline."
    )


def instrument_agentops(**options: Any) -> None:
    """Instrument AgentOps (the process-wide instrumentor ``instrument_all()`` uses too)."""
    from agentlightning.instrumentation import instrument

    instrument("agentops", **options)


def uninstrument_agentops() -> None:
    from agentlightning.instrumentation import uninstrument

    uninstrument("agentops")
