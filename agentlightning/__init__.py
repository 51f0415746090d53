"""agentlightning: trace and optimize existing AI agents without changing their code.

::

    import agentlightning as agl

    agl.instrument_all()          # OpenAI, LangChain, AutoGen, AgentOps calls become spans

    @agl.rollout
    def agent(task, llm): ...     # an agent a Trainer runs over a dataset

The public names below are loaded on first use (PEP 562), so ``import agentlightning`` costs almost
nothing and imports no LLM framework; ``instrument_all()`` at start-up does not pull in pydantic or the
OpenTelemetry SDK either.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> module that defines it
_LAZY: dict[str, str] = {
    # types
    **dict.fromkeys(
        [
            "LLM",
            "UNSET",
            "Attempt",
            "AttemptStatus",
            "AttemptedRollout",
            "Dataset",
            "Hook",
            "NamedResources",
            "PromptTemplate",
            "ProxyLLM",
            "ResourcesUpdate",
            "Rollout",
            "RolloutConfig",
            "RolloutMode",
            "RolloutStatus",
            "Span",
            "SpanCoreFields",
            "Triplet",
        ],
        "agentlightning.types",
    ),
    # agents and algorithms
    **dict.fromkeys(
        ["FunctionalLitAgent", "LitAgent", "llm_rollout", "prompt_rollout", "rollout"], "agentlightning.litagent"
    ),
    **dict.fromkeys(["Algorithm", "FunctionalAlgorithm", "algo"], "agentlightning.algorithm"),
    "LitAgentRunner": "agentlightning.runner",
    "Trainer": "agentlightning.trainer",
    # adapters
    **dict.fromkeys(["Adapter", "TraceAdapter", "TraceToMessages", "TracerTraceToTriplet"], "agentlightning.adapter"),
    # instrumentation
    "instrument_all": "agentlightning.instrumentation",
    "uninstrument_all": "agentlightning.instrumentation",
    # tracers
    "Tracer": "agentlightning.tracer.base",
    "OtelTracer": "agentlightning.tracer.otel",
    # Not in __all__: the AgentOps plugin's tracer; importing it needs AgentOps (an ImportError says how).
    "AgentOpsTracer": "agentlightning.tracer.agentops",
    "get_active_tracer": "agentlightning.tracer.base",
    # logging (0.3 names)
    **dict.fromkeys(["configure_logger", "setup_logging", "setup_module_logging"], "agentlightning.logging"),
    # stores
    "LightningStore": "agentlightning.store.base",
    "InMemoryLightningStore": "agentlightning.store.memory",
    "SqliteLightningStore": "agentlightning.store.sqlite",
    # emitters and reward helpers
    **dict.fromkeys(
        [
            "emit_exception",
            "emit_message",
            "emit_object",
            "emit_reward",
            "find_final_reward",
            "find_reward_spans",
            "get_reward_value",
            "is_reward_span",
            "operation",
        ],
        "agentlightning.emitter",
    ),
}

__all__ = [
    "LLM",
    "UNSET",
    "Adapter",
    "Algorithm",
    "Attempt",
    "AttemptStatus",
    "AttemptedRollout",
    "Dataset",
    "FunctionalAlgorithm",
    "FunctionalLitAgent",
    "Hook",
    "InMemoryLightningStore",
    "LightningStore",
    "LitAgent",
    "LitAgentRunner",
    "NamedResources",
    "OtelTracer",
    "PromptTemplate",
    "ProxyLLM",
    "ResourcesUpdate",
    "Rollout",
    "RolloutConfig",
    "RolloutMode",
    "RolloutStatus",
    "Span",
    "SpanCoreFields",
    "SqliteLightningStore",
    "TraceAdapter",
    "TraceToMessages",
    "Tracer",
    "TracerTraceToTriplet",
    "Trainer",
    "Triplet",
    "algo",
    "emit_exception",
    "emit_message",
    "emit_object",
    "emit_reward",
    "find_final_reward",
    "find_reward_spans",
    "get_active_tracer",
    "get_reward_value",
    "instrument_all",
    "is_reward_span",
    "llm_rollout",
    "operation",
    "prompt_rollout",
    "rollout",
    "setup_logging",
    "uninstrument_all",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        if name in ("LightningStoreClient", "LightningStoreServer"):
            from agentlightning.store._http import http_store_import_error

            raise http_store_import_error(name)
        raise AttributeError(f"module 'agentlightning' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


if TYPE_CHECKING:
    from agentlightning.adapter import Adapter, TraceAdapter, TracerTraceToTriplet, TraceToMessages
    from agentlightning.algorithm import Algorithm, FunctionalAlgorithm, algo
    from agentlightning.emitter import (
        emit_exception,
        emit_message,
        emit_object,
        emit_reward,
        find_final_reward,
        find_reward_spans,
        get_reward_value,
        is_reward_span,
        operation,
    )
    from agentlightning.instrumentation import instrument_all, uninstrument_all
    from agentlightning.litagent import FunctionalLitAgent, LitAgent, llm_rollout, prompt_rollout, rollout
    from agentlightning.logging import setup_logging
    from agentlightning.runner import LitAgentRunner
    from agentlightning.store.base import LightningStore
    from agentlightning.store.memory import InMemoryLightningStore
    from agentlightning.store.sqlite import SqliteLightningStore
    from agentlightning.tracer.base import Tracer, get_active_tracer
    from agentlightning.tracer.otel import OtelTracer
    from agentlightning.trainer import Trainer
    from agentlightning.types import (
        LLM,
        UNSET,
        Attempt,
        AttemptedRollout,
        AttemptStatus,
        Dataset,
        Hook,
        NamedResources,
        PromptTemplate,
        ProxyLLM,
        ResourcesUpdate,
        Rollout,
        RolloutConfig,
        RolloutMode,
        RolloutStatus,
        Span,
        SpanCoreFields,
        Triplet,
    )
