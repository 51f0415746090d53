"""An SDK refactor removes a patch target (issue 15, failure mode 10): skipped with a debug line, never raised.

Runs on whatever framework versions are installed, so the version-matrix cells of ``.ci/run`` (each plugin on
the oldest version it declares and the newest) check it where targets really are missing (openai 1.40 has
no Responses API), and the synthetic target below checks it on every version.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentlightning.instrumentation import Patch, get_instrumentor, uninstrument_all
from agentlightning.instrumentation._base import resolve_target
from agentlightning.instrumentation._config import InstrumentationConfig
from agentlightning.testing import ScriptedOpenAIServer

FRAMEWORKS = {"openai": "openai", "langchain": "langchain_core", "autogen": "autogen_agentchat"}


def _installed(plugin: str) -> bool:
    return importlib.util.find_spec(FRAMEWORKS[plugin]) is not None


@pytest.fixture(autouse=True)
def _clean() -> Iterator[None]:
    yield
    uninstrument_all()


def _unresolved(patches: list[Patch]) -> tuple[list[Patch], list[Patch]]:
    """(targets missing from a module this version has, patches of modules this version does not have)."""
    missing, absent = [], []
    for patch in patches:
        try:
            module = importlib.import_module(patch.module)
        except ImportError:
            absent.append(patch)  # its import hook waits; nothing to say until such a module is imported
            continue
        if resolve_target(module, patch.path) is None:
            missing.append(patch)
    return missing, absent


@pytest.mark.parametrize("plugin", sorted(FRAMEWORKS))
def test_every_target_of_this_version_is_patched_or_named_in_a_debug_line(
    plugin: str, caplog: pytest.LogCaptureFixture
) -> None:
    if not _installed(plugin):
        pytest.skip(f"{FRAMEWORKS[plugin]} is not installed in this environment")
    instrumentor = get_instrumentor(plugin)
    patches = list(instrumentor._patches(InstrumentationConfig.resolve({})))
    missing, absent = _unresolved(patches)
    caplog.set_level(logging.DEBUG, logger="agentlightning")
    instrumentor.instrument()  # never raises, whatever this version lacks
    assert instrumentor.is_instrumented
    lines = [r for r in caplog.records if "not found; this version of the framework is not patched" in r.getMessage()]
    for patch in missing:
        named = [r for r in lines if f"{patch.module}.{patch.path} not found" in r.getMessage()]
        assert len(named) == 1, f"{patch.module}.{patch.path} is missing here but no line says so"
        assert named[0].levelno == (logging.WARNING if patch.required else logging.DEBUG)
    assert len(lines) == len(missing)
    # what this version has is wrapped (LangChain's plugin wraps nothing: its handler comes through a hook)
    # AutoGen's plugin also patches create/create_stream on every ChatCompletionClient subclass it finds or sees
    # defined (its README says why): those are not in the declared list, so they are not counted against it.
    declared = [
        a
        for a in instrumentor._applied.values()
        if not (
            plugin == "autogen"
            and a.attribute in ("create", "create_stream")
            and a.owner.__name__ != "ChatCompletionClient"
        )
    ]
    assert len(declared) <= len(patches) - len(missing) - len(absent)
    assert instrumentor._applied or not patches


def test_a_removed_target_is_skipped_and_the_rest_still_traced(
    caplog: pytest.LogCaptureFixture, spans: InMemorySpanExporter
) -> None:
    if not _installed("openai"):
        pytest.skip("openai is not installed in this environment")
    import openai

    instrumentor = get_instrumentor("openai")
    real = type(instrumentor)._patches

    def with_gone_target(self: object, config: InstrumentationConfig) -> list[Patch]:
        patches = list(real(self, config))  # type: ignore[arg-type]
        factory = patches[0].factory
        return [
            Patch("openai.resources.chat.completions", "Completions.removed_by_a_refactor", factory),
            Patch("openai.resources.chat.completions", "GoneClass.create", factory),
            *patches,
        ]

    caplog.set_level(logging.DEBUG, logger="agentlightning")
    monkey = pytest.MonkeyPatch()
    monkey.setattr(type(instrumentor), "_patches", with_gone_target)
    try:
        instrumentor.instrument()
        lines = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
        assert any("Completions.removed_by_a_refactor not found" in line for line in lines), lines
        assert any("GoneClass.create not found" in line for line in lines), lines
        assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
        with ScriptedOpenAIServer() as server:
            client = openai.OpenAI(base_url=server.base_url, api_key="test-key", max_retries=0)
            answer = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
            client.close()
        assert answer.choices[0].message.content
        names = [s.name for s in spans.get_finished_spans()]
        assert "chat m" in names
    finally:
        monkey.undo()
        uninstrument_all()
