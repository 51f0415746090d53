"""The public surface: what ``import agentlightning`` offers and what it costs."""

from __future__ import annotations

import subprocess
import sys

import agentlightning

# A literal, so that a change to the public API is a visible diff in review.
EXPECTED_ALL = [
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


def _isort_key(name: str) -> tuple[int, str]:
    # ruff's RUF022 order: SCREAMING_CASE, then CamelCase, then the rest
    kind = 0 if name.isupper() else 1 if name[0].isupper() else 2
    return kind, name


def test_all_is_exactly_the_public_api() -> None:
    assert agentlightning.__all__ == EXPECTED_ALL


def test_all_is_sorted_unique_and_resolves() -> None:
    names = agentlightning.__all__
    assert names == sorted(names, key=_isort_key)
    assert len(set(names)) == len(names)
    for name in names:
        assert getattr(agentlightning, name) is not None, name


def test_unknown_attribute_raises_attribute_error() -> None:
    try:
        agentlightning.does_not_exist  # type: ignore[attr-defined]  # noqa: B018
    except AttributeError as exc:
        assert "does_not_exist" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("expected AttributeError")


def test_import_pulls_in_no_llm_framework() -> None:
    code = (
        "import sys, agentlightning, agentlightning.instrumentation as i;"
        "bad=[m for m in sys.modules if m.split('.')[0] in "
        "('openai','langchain','langchain_core','langgraph','autogen','autogen_agentchat','autogen_core','agentops')];"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
