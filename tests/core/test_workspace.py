"""Every plugin folder under instrumentations/ is complete and picked up by the root (workspace, extras,
pytest, mypy). A new plugin that misses something fails here with the line to add."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[2]
PLUGINS = sorted(p.parent for p in (ROOT / "instrumentations").glob("*/pyproject.toml"))


def _toml(path: Path) -> dict[str, Any]:
    return tomllib.loads(path.read_text())


ROOT_CONFIG = _toml(ROOT / "pyproject.toml")


def test_there_are_plugins_and_the_root_globs_them() -> None:
    assert PLUGINS, "no plugin folders found"
    assert "instrumentations/*" in ROOT_CONFIG["tool"]["uv"]["workspace"]["members"]
    assert "instrumentations" in ROOT_CONFIG["tool"]["pytest"]["ini_options"]["testpaths"]
    assert "instrumentations/*/agentlightning_*" in ROOT_CONFIG["tool"]["mypy"]["files"]


@pytest.mark.parametrize("folder", PLUGINS, ids=[p.name for p in PLUGINS])
def test_plugin_folder_is_complete(folder: Path) -> None:
    name = folder.name
    distribution, package = f"agentlightning-{name}", f"agentlightning_{name}"
    config = _toml(folder / "pyproject.toml")
    project = config["project"]
    assert project["name"] == distribution
    assert (folder / package / "__init__.py").is_file() and (folder / package / "py.typed").is_file()
    assert (folder / "README.md").is_file(), f"{folder}/README.md: what it patches, on which versions, and why"
    assert list((folder / "tests").glob("test_*.py")), f"{folder}/tests/ has no tests"
    entry_points = project["entry-points"]["agentlightning.instrumentors"]
    assert entry_points.get(name, "").startswith(f"{package}:"), f'add: {name} = "{package}:<Instrumentor>"'
    assert project["optional-dependencies"]["instruments"], "declare the framework requirement under `instruments`"
    tested = config["tool"]["agentlightning"]["tested"]
    assert tested["oldest"] and tested["latest"], "[tool.agentlightning.tested] oldest/latest"
    extras = ROOT_CONFIG["project"]["optional-dependencies"]
    assert distribution in extras.get(name, []), (
        f'root pyproject [project.optional-dependencies]: {name} = ["{distribution}"]'
    )
    assert distribution in extras["all"], f"root pyproject: add {distribution!r} to the `all` extra"
    sources = ROOT_CONFIG["tool"]["uv"]["sources"]
    assert sources.get(distribution) == {"workspace": True}, (
        f"root [tool.uv.sources]: {distribution} = {{ workspace = true }}"
    )
