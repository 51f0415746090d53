"""``instrument_all()`` at start-up stays cheap (issue 14) without losing behaviour.

With no framework imported, ``import agentlightning; agentlightning.instrument_all()`` imports neither wrapt,
``packaging``, ``importlib.metadata``, OpenTelemetry nor any framework; a plugin that names its framework's
top-level modules (``trigger_modules``) is armed when the first of them is imported. The cheap readers
(entry points and versions from the metadata folders, the plain requirement check) give the answers
``importlib.metadata`` and ``packaging`` give. (The time itself is printed by ``bench/import_time.py``.)
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentlightning.instrumentation import InstrumentationConfig, Instrumentor, Patch, Switch, _dists, get_instrumentor
from agentlightning.instrumentation._base import _check_with_packaging, check_requirement
from agentlightning.instrumentation._registry import ENTRY_POINT_GROUP, available_instrumentors

_HEAVY = ("wrapt", "packaging", "importlib.metadata", "opentelemetry", "email", "asyncio", "pydantic")
_FRAMEWORKS = ("openai", "langchain", "langchain_core", "autogen_agentchat", "autogen_core", "agentops", "anthropic")

_CHILD = """
import json, sys
import agentlightning
done = agentlightning.instrument_all()
print(json.dumps({"done": done, "modules": sorted(sys.modules)}))
"""


def _child(code: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def test_instrument_all_at_start_up_imports_nothing_heavy() -> None:
    result = _child(_CHILD)
    tops = {m for m in result["modules"]} | {m.split(".")[0] for m in result["modules"]}
    assert not tops & set(_HEAVY), sorted(tops & set(_HEAVY))
    assert not tops & set(_FRAMEWORKS), sorted(tops & set(_FRAMEWORKS))
    # Still every plugin whose framework is installed in a supported version, as before (the installed plugins
    # only: other tests of this process may have registered throw-away ones).
    installed = sorted({e.name.lower() for e in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)})
    expected = [name for name in installed if get_instrumentor(name).dependency_problem() is None]
    assert result["done"] == expected


@pytest.mark.skipif(importlib.util.find_spec("openai") is None, reason="openai is not installed")
def test_the_framework_import_arms_the_plugin() -> None:
    code = _CHILD.replace(
        "print(",
        "import openai\n"
        "from openai.resources.chat.completions import Completions\n"
        "print(type(vars(Completions)['create']).__name__, file=sys.stderr)\n"
        "print(",
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    assert out.stderr.strip().splitlines()[-1] == "FunctionWrapper"  # patched on import
    assert "openai" in json.loads(out.stdout.strip().splitlines()[-1])["done"]


def test_entry_points_and_versions_match_importlib_metadata() -> None:
    ours = _dists.entry_points(ENTRY_POINT_GROUP)
    assert ours is not None  # this environment is the plain layout
    theirs = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
    assert sorted((e.name, e.value) for e in ours) == sorted((e.name, e.value) for e in theirs)
    for distribution in importlib.metadata.distributions():
        name = distribution.metadata["Name"]
        assert _dists.version(name) == importlib.metadata.version(name), name
    assert _dists.version("no-such-dist-here") == ""


@pytest.mark.parametrize(
    "requirement",
    [
        "pytest>=1.0",
        "pytest>=999",
        "pytest<1",
        "pytest>=1,<999",
        "pytest<=1.0",
        "pytest>1",
        "pytest==1.0",
        "pytest!=1.0",
        "pytest >= 7 , < 99",
        "PyTest>=7",
        "pytest",
        "no-such-dist-here",
        "no-such-dist-here>=1",
        "wrapt<2",
        "wrapt>=1.17",
        "openai>=1.40",
        "langchain-core>=1.4,<2",
        "langchain_core>=1.4,<2",
        "no-such-dist-here>=1; python_version < '3'",
        "pytest >>> 1",
        "pytest~=7.0",
        "pytest==7.*",
    ],
)
def test_plain_requirement_check_says_what_packaging_says(requirement: str) -> None:
    assert check_requirement(requirement) == _check_with_packaging(requirement)


def test_plain_requirement_check_on_exact_versions() -> None:
    installed = importlib.metadata.version("pytest")
    for operator in ("<", "<=", ">", ">=", "==", "!="):
        for bound in (installed, installed + ".0", installed.rsplit(".", 1)[0], "0", "999.0.1"):
            requirement = f"pytest{operator}{bound}"
            assert check_requirement(requirement) == _check_with_packaging(requirement), requirement


def test_each_plugin_names_the_top_level_module_of_every_patch() -> None:
    for name in available_instrumentors():
        instrumentor = get_instrumentor(name)
        if not instrumentor.trigger_modules or instrumentor.dependency_problem() is not None:
            continue
        modules = {patch.module.split(".")[0] for patch in instrumentor._patches(InstrumentationConfig.resolve({}))}
        assert modules <= set(instrumentor.trigger_modules), (name, modules)


# ---- the import trigger, on throw-away framework packages written to disk ------------------------------------


@pytest.fixture
def framework(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh, not-yet-imported package ``trigfw_<n>`` with a submodule ``client``."""
    name = f"trigfw_{tmp_path.name.replace('-', '_')}"
    package = tmp_path / name
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "client.py").write_text(
        textwrap.dedent(
            """
            class Client:
                def complete(self, prompt):
                    return "answer to " + prompt
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    for module in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
        sys.modules.pop(module, None)


class Waiting(Instrumentor):
    name = "waiting"

    def __init__(self, package: str) -> None:
        super().__init__()
        self.package = package
        self.built = 0
        self.calls = 0
        self.trigger_modules = (package,)  # type: ignore[misc]

    def _patches(self, config: InstrumentationConfig) -> list[Patch]:
        self.built += 1

        def factory(switch: Switch) -> Any:
            def wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
                if switch.on:
                    self.calls += 1
                return wrapped(*args, **kwargs)

            return wrapper

        return [Patch(f"{self.package}.client", "Client.complete", factory)]


def test_patches_are_built_when_the_framework_is_imported(framework: str) -> None:
    waiting = Waiting(framework)
    waiting.instrument()
    try:
        assert waiting.is_instrumented and waiting.built == 0  # nothing built before the framework comes
        client = importlib.import_module(f"{framework}.client")  # imports the package first: arms the plugin
        assert waiting.built == 1
        assert client.Client().complete("x") == "answer to x"
        assert waiting.calls == 1
        package = sys.modules[framework]
        assert package.__spec__.loader is package.__loader__  # the module keeps its real loader
        assert type(package.__loader__).__name__ == "SourceFileLoader"
    finally:
        waiting.uninstrument()
    client.Client().complete("y")
    assert waiting.calls == 1


def test_uninstrumented_before_the_import_patches_nothing(framework: str) -> None:
    waiting = Waiting(framework)
    waiting.instrument()
    waiting.uninstrument()
    client = importlib.import_module(f"{framework}.client")
    client.Client().complete("x")
    assert (waiting.built, waiting.calls) == (0, 0)
    waiting.instrument()  # the framework is imported now: armed at once
    try:
        client.Client().complete("x")
        assert (waiting.built, waiting.calls) == (1, 1)
    finally:
        waiting.uninstrument()


def test_instrument_twice_before_the_import_arms_once(framework: str) -> None:
    waiting = Waiting(framework)
    waiting.instrument()
    waiting.uninstrument()
    waiting.instrument(capture_content=True)
    try:
        client = importlib.import_module(f"{framework}.client")
        client.Client().complete("x")
        assert (waiting.built, waiting.calls) == (1, 1)
        assert waiting.config is not None and waiting.config.capture_content is True
    finally:
        waiting.uninstrument()
