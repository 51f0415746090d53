"""Forced faults: every guarded block of the core and the plugins fails in turn, and the user cannot tell.

The blocks are found by reading the source (``agentlightning.testing.faults.discover_sites``), so a new
``guard(site)`` is covered the day it is written: it needs a user program here (``_scenarios.py``, or the
import-time program) that reaches it, or ``test_every_guarded_block_is_reached`` fails and says which one.

For each block: the programs that reach it run once untraced and then twice traced with the block failing on
its first line. The user gets exactly the untraced result (value, or exception type and message), the OTel
context is unchanged, and the failure is logged once, as one error naming the site with a sentence that says
what to do.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry import context as otel_context
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentlightning.instrumentation import instrument, uninstrument_all
from agentlightning.instrumentation._guard import reset_guard_reports
from agentlightning.testing import ScriptedOpenAIServer
from agentlightning.testing.faults import FaultInjector, GuardSite, discover_sites

from ._scenarios import SCENARIOS, Scenario, outcome

SITES = discover_sites()
PROGRAM = Path(__file__).with_name("_import_program.py")
IMPORT_PROGRAMS = {
    "openai": "openai",
    "langchain": "langchain_openai",
    "autogen": "autogen_ext.models.openai",
    "agentops": "agentops",
}  # plugin -> framework module it needs


def _framework_of(site: GuardSite) -> str | None:
    """The framework module a plugin's block needs (``None``: a core block)."""
    parts = Path(site.path).parts
    if "instrumentations" not in parts:
        return None
    name = parts[parts.index("instrumentations") + 1]
    return {"openai": "openai", "langchain": "langchain_core", "autogen": "autogen_agentchat"}.get(name, name)


def _run(scenario: Scenario, traced: bool, injector: FaultInjector | None = None) -> object:
    """One run of ``scenario`` on a fresh server (so ids match between runs)."""
    with ScriptedOpenAIServer() as server:
        server.script(*scenario.replies)
        if traced:
            for plugin in scenario.plugins:
                instrument(plugin)
        try:
            if injector is None:
                return scenario.run(server)
            with injector:
                return scenario.run(server)
        finally:
            uninstrument_all()


def _run_program(plugin: str, traced: bool, fault: GuardSite | None = None, record: Path | None = None) -> dict:
    with ScriptedOpenAIServer() as server:
        env = {**os.environ, "AGENTLIGHTNING_STRICT": "0", "AL_TRACED": "1" if traced else "0"}
        env.pop("AL_FAULT", None)
        env.pop("AL_RECORD", None)
        if fault is not None:
            env["AL_FAULT"] = json.dumps(dataclasses.astuple(fault))
        if record is not None:
            env["AL_RECORD"] = str(record)
        done = subprocess.run(
            [sys.executable, str(PROGRAM), plugin, server.base_url],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    return {**json.loads(lines[-1]), "stderr": done.stderr}


@pytest.fixture(scope="module")
def reached(span_exporter: InMemorySpanExporter, tmp_path_factory: pytest.TempPathFactory) -> dict[GuardSite, list]:
    """Which programs reach which block, traced, recording (no fault). Each in-process program runs twice and
    counts only for what its second run reaches: a block that runs once per process (an import hook) is
    reached only by the import-time program, in a fresh interpreter."""
    by_site: dict[GuardSite, list] = {}
    os.environ["AGENTLIGHTNING_STRICT"] = "0"  # restored below; a monkeypatch is function-scoped
    try:
        for scenario in SCENARIOS:
            if not scenario.available:
                continue
            _run(scenario, traced=True)
            recorder = FaultInjector(None, record=True, sites=SITES)
            _run(scenario, traced=True, injector=recorder)
            for site in recorder.reached:
                by_site.setdefault(site, []).append(scenario)
        for plugin, module in IMPORT_PROGRAMS.items():
            if importlib_available(module):
                record = tmp_path_factory.mktemp("record") / f"{plugin}.json"
                _run_program(plugin, traced=True, record=record)
                ids = set(json.loads(record.read_text()))
                for site in SITES:
                    if site.id in ids:
                        by_site.setdefault(site, []).append(plugin)
    finally:
        os.environ["AGENTLIGHTNING_STRICT"] = "1"
    span_exporter.clear()
    return by_site


def importlib_available(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


@pytest.fixture
def lenient(monkeypatch: pytest.MonkeyPatch, span_exporter: InMemorySpanExporter) -> Iterator[None]:
    """The guard swallows (as for users) instead of re-raising (the suite's strict mode)."""
    monkeypatch.setenv("AGENTLIGHTNING_STRICT", "0")
    reset_guard_reports()
    yield
    reset_guard_reports()
    span_exporter.clear()


def test_sites_are_found_in_the_core_and_every_plugin() -> None:
    plugins = {Path(s.path).parts[Path(s.path).parts.index("instrumentations") + 1] for s in SITES if _framework_of(s)}
    assert plugins >= {"openai", "langchain", "autogen"}
    assert {s.site for s in SITES} >= {"instrumentation.request", "instrumentation.stop", "openai.response"}
    assert {s.form for s in SITES} >= {"with", "handle"}


def test_every_guarded_block_is_reached(reached: dict[GuardSite, list]) -> None:
    missing = [
        site.id
        for site in SITES
        if site not in reached and (_framework_of(site) is None or importlib_available(_framework_of(site) or ""))
    ]
    assert not missing, (
        f"no user program reaches these guarded blocks: {missing}; add one to tests/reliability_b/_scenarios.py "
        "(or the import-time program) so their faults are tested"
    )


def _errors(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.ERROR and r.name.startswith("agentlightning")]


@pytest.mark.slow
@pytest.mark.parametrize("site", SITES, ids=[s.id for s in SITES])
def test_a_failing_block_leaves_the_users_call_unchanged(
    site: GuardSite, reached: dict[GuardSite, list], lenient: None, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    framework = _framework_of(site)
    if framework is not None and not importlib_available(framework):
        pytest.skip(f"{framework} is not installed in this environment (its plugin's blocks need it)")
    programs = reached.get(site)
    assert programs, f"no program reaches {site.id} (see test_every_guarded_block_is_reached)"
    program = programs[0]

    if isinstance(program, str):  # the import-time program, in a fresh interpreter
        bare = _run_program(program, traced=False)
        faulty = _run_program(program, traced=True, fault=site)
        assert faulty["fired"] == 1, f"the fault at {site.id} did not fire"
        assert faulty["result"] == bare["result"]
        logged = [line for line in faulty["stderr"].splitlines() if "failed internally at" in line]
        assert len(logged) == (0 if site.handled else 1), faulty["stderr"]
        assert all(repr(site.site) in line and "InjectedFault" in line for line in logged)
        assert all("AGENTLIGHTNING_DISABLED_INSTRUMENTATIONS" in line for line in logged)
        return

    expected = _run(program, traced=False)
    caplog.set_level(logging.ERROR, logger="agentlightning")
    before = otel_context.get_current()
    for attempt in (1, 2):  # the second failure at the same site is not logged again
        injector = FaultInjector(site)
        got = outcome(lambda: _run(program, traced=True, injector=injector))  # noqa: B023
        assert injector.fired == 1, f"the fault at {site.id} did not fire in {program.name} (attempt {attempt})"
        assert got == expected, f"{program.name} with a fault at {site.id}"
        assert otel_context.get_current() == before
    errors = _errors(caplog)
    if site.handled:  # the block's own try/except takes the fault: the guard has nothing to report
        assert errors == []
        return
    assert len(errors) == 1, [r.getMessage() for r in errors]
    message = errors[0].getMessage()
    assert repr(site.site) in message and "InjectedFault" in message
    assert "Your call was not affected" in message and "AGENTLIGHTNING_DISABLED_INSTRUMENTATIONS" in message
