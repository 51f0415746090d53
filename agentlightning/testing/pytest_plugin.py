"""pytest plugin: LLM cassettes (registered through ``pytest11``, active wherever agentlightning is installed).

Usage::

    @pytest.mark.cassette                       # cassettes/<test module>/<test name>.yaml
    def test_answer():
        client = openai.OpenAI(base_url=..., api_key="test")
        assert client.chat.completions.create(...).choices[0].message.content == "4"

    @pytest.mark.cassette("cassettes/shared/greeting.yaml")     # an explicit path (relative to rootdir)
    def test_greeting(): ...

    def test_with_fixture(cassette):            # the fixture activates the cassette too, and is the
        ...                                     # vcrpy Cassette: cassette.play_count, cassette.all_played

``--record-mode`` is ``none`` by default: requests are answered from the recording only, a missing cassette
fails the test with the command that records it, and nothing reaches the network. Record with
``pytest --record-mode=once`` (new files) or ``all`` (re-record). The cassette directory is ``cassettes`` at
the rootdir; the ini option ``agentlightning_cassette_dir`` changes it. Headers that carry secrets are
filtered and JSON bodies are pretty-printed (see ``agentlightning.testing.cassettes``).

This module imports nothing beyond pytest and the standard library until a test asks for a cassette, and
without vcrpy installed only those tests fail (with an install hint); other projects' test runs are
unaffected. If ``pytest-recording`` already defines ``--record-mode``, its option is shared.
"""

from __future__ import annotations

import contextlib
import importlib.util
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

_MODES = ("none", "once", "new_episodes", "all")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini("agentlightning_cassette_dir", "directory of cassettes, relative to rootdir", default="cassettes")
    group = parser.getgroup("agentlightning", "agentlightning cassettes")
    # pytest-recording defines the same option (same meaning, same default): when it is installed, it owns
    # the option and we read it, whichever plugin loads first.
    if importlib.util.find_spec("pytest_recording") is not None:
        return
    with contextlib.suppress(ValueError):
        group.addoption(
            "--record-mode",
            action="store",
            default="none",
            choices=_MODES,
            help="cassette record mode: none (replay only, default), once, new_episodes, all",
        )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "cassette(path=None, **vcr_options): replay the test's HTTP from a cassette "
        "(default cassettes/<test module>/<test name>.yaml); see agentlightning.testing.pytest_plugin",
    )


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.\-]+", "_", name).strip("_") or "test"


def cassette_path(request: pytest.FixtureRequest) -> Path:
    """Where the current test's cassette lives: the marker's path, else the default layout."""
    config = request.config
    marker = request.node.get_closest_marker("cassette")
    explicit = (marker.args[0] if marker and marker.args else None) or (marker.kwargs.get("path") if marker else None)
    root = Path(config.rootpath)
    if explicit:
        path = Path(explicit)
        return path if path.is_absolute() else root / path
    directory = root / str(config.getini("agentlightning_cassette_dir") or "cassettes")
    module = Path(str(request.node.path)).stem if getattr(request.node, "path", None) else "tests"
    return directory / _safe(module) / f"{_safe(request.node.name)}.yaml"


def _record_mode(config: pytest.Config) -> str:
    mode = str(config.getoption("--record-mode", default="none") or "none").replace("-", "_")
    return "all" if mode == "rewrite" else mode  # pytest-recording's "rewrite": record everything anew


@pytest.fixture
def cassette(request: pytest.FixtureRequest) -> Iterator[Any]:
    """The active vcrpy ``Cassette`` for this test (see the module docstring)."""
    from .cassettes import make_vcr

    mode = _record_mode(request.config)
    marker = request.node.get_closest_marker("cassette")
    options = {k: v for k, v in (marker.kwargs if marker else {}).items() if k != "path"}
    try:
        recorder = make_vcr(mode, **options)
    except ImportError as exc:
        pytest.fail(f"{exc} (needed by the cassette of {request.node.nodeid})", pytrace=False)
    path = cassette_path(request)
    if mode == "none" and not path.exists():
        root = request.config.rootpath
        shown = path.relative_to(root) if path.is_relative_to(root) else path
        pytest.fail(
            f"Cassette {shown} not found and --record-mode is 'none' (replay only). Record it once against a live "
            f"server: pytest '{request.node.nodeid}' --record-mode=once",
            pytrace=False,
        )
    if mode != "none":
        path.parent.mkdir(parents=True, exist_ok=True)
    with recorder.use_cassette(str(path)) as active:
        yield active


@pytest.fixture(autouse=True)
def _agentlightning_cassette_marker(request: pytest.FixtureRequest) -> None:
    """Activates the ``cassette`` fixture for tests marked ``@pytest.mark.cassette``."""
    if request.node.get_closest_marker("cassette") is not None:
        request.getfixturevalue("cassette")
