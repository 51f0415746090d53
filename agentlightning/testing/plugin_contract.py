"""The plugin contract kit: the checks every instrumentation plugin passes, filled in with three things.

A plugin's test module subclasses :class:`PluginContract`, names the plugin, and gives one traced call and
the patched originals as fixtures; pytest then runs every check below against the real framework::

    import pytest
    from agentlightning.testing.plugin_contract import PluginContract

    class TestAcmeContract(PluginContract):
        plugin = "acme"                     # the entry-point name
        scope = "agentlightning.acme"       # the plugin's tracer name: its spans are counted by it
        module = "acme.client"              # imported before/after instrumenting, in a subprocess
        subprocess_call = "import acme; acme.Client().complete('x')"   # one traced call, in a fresh interpreter
        # optional: a `contract_subprocess_env` fixture giving that interpreter extra environment variables

        @pytest.fixture
        def contract_call(self):            # one traced call: makes exactly one span of `scope`
            import acme
            return lambda: acme.Client().complete("x")

        @pytest.fixture
        def contract_targets(self):         # (owner, attribute) of every method the plugin patches
            import acme
            return [(acme.Client, "complete")]

========================================  =====================================================================
check                                     what it asserts
========================================  =====================================================================
``test_one_span_per_call``                a traced call makes one span of the plugin
``test_instrument_twice``                 instrumenting twice still makes one span per call
``test_instrument_uninstrument_again``    uninstrument restores every original (same object), no spans; a
                                          second instrument traces again
``test_spliced_out_under_foreign_wrapper`` a wrapt wrapper added on top of ours stays after uninstrument; ours
                                          is gone (no spans), the call still works
``test_strict_mode_reraises``             with ``AGENTLIGHTNING_STRICT=1`` a failure inside our after-step
                                          reaches the test; with ``0`` the user's call succeeds untouched
``test_suppression_honoured``             nothing is traced under ``suppress_instrumentation()``
``test_disabled_by_environment``          ``AGENTLIGHTNING_DISABLED_INSTRUMENTATIONS=<plugin>``: ``instrument_all``
                                          skips it
``test_import_order``                     instrumenting before or after the framework is imported (in a
                                          subprocess) traces the call either way
``test_nothing_left_open_no_context_leak`` no span left open, the OpenTelemetry context and the LLM marker
                                          are the same before and after the call
========================================  =====================================================================

The failure injected by the strict-mode check is in the core's :class:`~agentlightning.instrumentation.Invocation`
(``set``), so it reaches every plugin built on the core helpers, whichever of them it uses.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import pytest

__all__ = ["PluginContract"]

_SUBPROCESS = """
import os, sys
os.environ["AGENTLIGHTNING_STRICT"] = "1"
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)
import agentlightning.instrumentation as inst
{setup}
order = sys.argv[1]
if order == "after":
    import {module}
inst.instrument({plugin!r})
{call}
print(sum(1 for s in exporter.get_finished_spans() if s.instrumentation_scope.name == {scope!r}))
"""


class PluginContract:
    """Subclass in a plugin's tests; see the module docstring for what to fill in."""

    plugin: ClassVar[str] = ""
    scope: ClassVar[str] = ""
    module: ClassVar[str] = ""
    subprocess_call: ClassVar[str] = ""
    subprocess_setup: ClassVar[str] = ""
    """Code run in the subprocess before instrumenting (``inst`` is ``agentlightning.instrumentation``): a
    plugin registered without an entry point registers itself here."""

    # ---- fixtures a plugin provides -----------------------------------------------------------
    @pytest.fixture
    def contract_call(self) -> Callable[[], Any]:
        raise NotImplementedError("give the contract a `contract_call` fixture: one traced call")

    @pytest.fixture
    def contract_targets(self) -> list[tuple[Any, str]]:
        raise NotImplementedError("give the contract a `contract_targets` fixture: (owner, attribute) pairs")

    @pytest.fixture
    def contract_subprocess_env(self) -> dict[str, str]:
        """Extra environment for the import-order subprocess (a server URL, say); none by default."""
        return {}

    # ---- the kit's own fixtures -----------------------------------------------------------------
    @pytest.fixture
    def contract_spans(self) -> Iterator[Callable[[], int]]:
        """A function counting the plugin's finished spans since the test started; uninstruments after."""
        from agentlightning.instrumentation import reset_guard_reports, uninstrument
        from agentlightning.testing.otel import get_open_span_tracker, get_test_exporter

        exporter = get_test_exporter()
        exporter.clear()
        reset_guard_reports()
        tracker = get_open_span_tracker()
        before = tracker.open_spans()
        scope = self.scope

        def count() -> int:
            return sum(
                1
                for s in exporter.get_finished_spans()
                if s.instrumentation_scope is not None and s.instrumentation_scope.name == scope
            )

        try:
            yield count
        finally:
            uninstrument(self.plugin)
            exporter.clear()
        leaked = {k: v for k, v in tracker.open_spans().items() if k not in before}
        assert not leaked, f"spans left open: {sorted(leaked.values())}"

    @staticmethod
    def _currents(targets: list[tuple[Any, str]]) -> list[Any]:
        return [vars(owner).get(attribute) for owner, attribute in targets]

    # ---- the checks -----------------------------------------------------------------------------
    def test_one_span_per_call(self, contract_call: Callable[[], Any], contract_spans: Callable[[], int]) -> None:
        from agentlightning.instrumentation import instrument

        instrument(self.plugin)
        contract_call()
        assert contract_spans() == 1

    def test_instrument_twice(self, contract_call: Callable[[], Any], contract_spans: Callable[[], int]) -> None:
        from agentlightning.instrumentation import instrument

        instrument(self.plugin)
        instrument(self.plugin)
        contract_call()
        assert contract_spans() == 1

    def test_instrument_uninstrument_again(
        self,
        contract_call: Callable[[], Any],
        contract_spans: Callable[[], int],
        contract_targets: list[tuple[Any, str]],
    ) -> None:
        from agentlightning.instrumentation import instrument, uninstrument

        originals = self._currents(contract_targets)
        instrument(self.plugin)
        patched = self._currents(contract_targets)
        assert all(a is not b for a, b in zip(patched, originals, strict=True)), "instrument() missed a target"
        uninstrument(self.plugin)
        assert all(a is b for a, b in zip(self._currents(contract_targets), originals, strict=True)), (
            "an original is not back"
        )
        contract_call()
        assert contract_spans() == 0
        instrument(self.plugin)
        contract_call()
        assert contract_spans() == 1

    def test_spliced_out_under_foreign_wrapper(
        self,
        contract_call: Callable[[], Any],
        contract_spans: Callable[[], int],
        contract_targets: list[tuple[Any, str]],
    ) -> None:
        import wrapt

        from agentlightning.instrumentation import instrument, uninstrument

        originals = self._currents(contract_targets)
        instrument(self.plugin)
        seen: list[str] = []

        def foreign(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
            seen.append("foreign")
            return wrapped(*args, **kwargs)

        for owner, attribute in contract_targets:
            wrapt.wrap_function_wrapper(owner, attribute, foreign)
        try:
            uninstrument(self.plugin)
            contract_call()
            assert seen, "the foreign wrapper was removed with ours"
            assert contract_spans() == 0, "our layer still traces after uninstrument"
        finally:
            for (owner, attribute), original in zip(contract_targets, originals, strict=True):
                if original is None:
                    if attribute in vars(owner):
                        delattr(owner, attribute)
                else:
                    setattr(owner, attribute, original)

    def test_strict_mode_reraises(
        self, contract_call: Callable[[], Any], contract_spans: Callable[[], int], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from agentlightning.instrumentation import Invocation, instrument, reset_guard_reports

        def broken(self: Any, attributes: Any) -> None:
            raise RuntimeError("injected instrumentation bug")

        instrument(self.plugin)
        monkeypatch.setattr(Invocation, "set", broken)
        monkeypatch.setenv("AGENTLIGHTNING_STRICT", "1")
        with pytest.raises(RuntimeError, match="injected instrumentation bug"):
            contract_call()
        monkeypatch.setenv("AGENTLIGHTNING_STRICT", "0")
        reset_guard_reports()
        contract_call()  # the user's call is unaffected
        assert contract_spans() >= 1  # spans still end (without the failed attributes)

    def test_suppression_honoured(self, contract_call: Callable[[], Any], contract_spans: Callable[[], int]) -> None:
        from opentelemetry.instrumentation.utils import suppress_instrumentation

        from agentlightning.instrumentation import instrument

        instrument(self.plugin)
        with suppress_instrumentation():
            contract_call()
        assert contract_spans() == 0

    def test_disabled_by_environment(
        self, contract_call: Callable[[], Any], contract_spans: Callable[[], int], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from agentlightning.instrumentation import instrument_all

        monkeypatch.setenv("AGENTLIGHTNING_DISABLED_INSTRUMENTATIONS", f"other,{self.plugin.upper()}")
        assert self.plugin not in instrument_all()
        contract_call()
        assert contract_spans() == 0

    @pytest.mark.slow
    @pytest.mark.parametrize("order", ["before", "after"])
    def test_import_order(self, order: str, contract_subprocess_env: dict[str, str]) -> None:
        code = _SUBPROCESS.format(
            module=self.module,
            plugin=self.plugin,
            scope=self.scope,
            call=textwrap.dedent(self.subprocess_call),
            setup=textwrap.dedent(self.subprocess_setup),
        )
        env = {**os.environ, **contract_subprocess_env}
        done = subprocess.run([sys.executable, "-c", code, order], capture_output=True, text=True, timeout=120, env=env)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip().splitlines()[-1] == "1", done.stdout + done.stderr

    def test_nothing_left_open_no_context_leak(
        self, contract_call: Callable[[], Any], contract_spans: Callable[[], int]
    ) -> None:
        from opentelemetry import context

        from agentlightning.instrumentation import current_llm_invocation, instrument

        instrument(self.plugin)
        before = context.get_current()
        contract_call()
        assert context.get_current() == before, "the call left an OpenTelemetry context attached"
        assert current_llm_invocation() is None, "the call left an LLM span marked"
        assert contract_spans() == 1


# ---- fixtures a plugin's conftest imports (``from agentlightning.testing.plugin_contract import spans, ...``) ----


@pytest.fixture(scope="session")
def span_exporter() -> Any:
    """In-memory spans from the global OpenTelemetry provider (installed once per test session)."""
    from agentlightning.testing.otel import get_test_exporter

    return get_test_exporter()


@pytest.fixture
def spans(span_exporter: Any) -> Iterator[Any]:
    """The exporter, cleared for the test; fails the test if it leaves a span open."""
    from agentlightning.instrumentation import reset_guard_reports
    from agentlightning.testing.otel import get_open_span_tracker

    span_exporter.clear()
    reset_guard_reports()
    tracker = get_open_span_tracker()
    before = tracker.open_spans()
    yield span_exporter
    span_exporter.clear()
    leaked = {k: v for k, v in tracker.open_spans().items() if k not in before}
    assert not leaked, f"spans left open: {sorted(leaked.values())}"
