"""pytest plugin: LLM cassettes (registered through ``pytest11``, active wherever agentlightning is installed).

Usage::

    @pytest.mark.cassette                       # cassettes/tests/test_chat/test_answer.yaml (see below)
    def test_answer():
        client = openai.OpenAI(base_url=..., api_key="test")
        assert client.chat.completions.create(...).choices[0].message.content == "4"

    @pytest.mark.cassette("cassettes/shared/greeting.yaml")     # an explicit path (relative to rootdir)
    def test_greeting(): ...

    def test_with_fixture(cassette):            # the fixture activates the cassette too, and is the
        ...                                     # vcrpy Cassette: cassette.play_count, cassette.all_played

The default path is ``cassettes/<test module's path from the rootdir, without .py>/<test id>.yaml``, where the
test id is the part of the node id after the module, with ``::`` written as ``.``: ``tests/test_chat.py::
test_answer`` records to ``cassettes/tests/test_chat/test_answer.yaml``, ``tests/test_chat.py::TestMini::
test_answer[gpt-4o]`` to ``cassettes/tests/test_chat/TestMini.test_answer[gpt-4o].yaml``. A test inside a
folder of its own below the rootdir that has a ``pyproject.toml`` (a plugin: ``instrumentations/openai/tests/
test_x.py``) uses that folder's ``cassettes/`` and its path from there (``instrumentations/openai/cassettes/
tests/test_x/...``), so a plugin folder is complete. Every test has its
own file, also tests of the same name in other classes or in same-named modules of other folders.

``--record-mode`` is ``none`` by default: requests are answered from the recording only, a missing cassette
fails the test with the command that records it, and nothing reaches the network. Record with
``pytest --record-mode=once`` (new files) or ``all`` (re-record). The cassette directory is ``cassettes`` at
the rootdir; the ini option ``agentlightning_cassette_dir`` changes it. Headers that carry secrets are
filtered and JSON bodies are pretty-printed (see ``agentlightning.testing.cassettes``).

Requests match on method, scheme, path, query and body (JSON compared as JSON: key order and whitespace do
not matter), so a test whose prompt changed fails instead of replaying the old answer. To ignore bodies: for
one test or module, ``@pytest.mark.cassette(match_body=False)`` (any other keyword goes to ``vcr.VCR`` too,
such as ``match_on=...``); for a folder, override the ``cassette_options`` fixture in its conftest.py to
return ``{"match_body": False}``; for a run, ``pytest --cassette-ignore-body``; for a project,
``agentlightning_cassette_match_body = false`` in the pytest ini options.

No network: ``agentlightning_block_network = true`` in the pytest ini options makes the session refuse every
DNS lookup and connection beyond this machine (``agentlightning.testing.network``'s audit hook; loopback and
Unix sockets pass) and fails the test that tried, naming it and the host -- also when the code under test
swallowed the ``NetworkBlocked`` error, or a child Python process it started made the attempt. Attempts a
test makes inside its own ``block_network()`` block are that test's business (it gets them to assert on).

This module imports nothing beyond pytest and the standard library until a test asks for a cassette, and
without vcrpy installed only those tests fail (with an install hint); other projects' test runs are
unaffected, and unmarked tests get no extra fixture. If ``pytest-recording`` (enabled) defines
``--record-mode``, its option is shared.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import sys
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

_MODES = ("none", "once", "new_episodes", "all")


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    parser.addini("agentlightning_cassette_dir", "directory of cassettes, relative to rootdir", default="cassettes")
    parser.addini(
        "agentlightning_block_network",
        "fail every test that tries a DNS lookup or a connection beyond this machine (loopback passes)",
        type="bool",
        default=False,
    )
    parser.addini(
        "agentlightning_cassette_match_body",
        "match replayed requests on their body too (JSON-normalised); false to ignore bodies",
        type="bool",
        default=True,
    )
    group = parser.getgroup("agentlightning", "agentlightning cassettes")
    group.addoption(
        "--cassette-ignore-body",
        action="store_true",
        default=False,
        help="replay cassettes without matching request bodies (default: bodies must match, as JSON)",
    )
    # pytest-recording defines the same option (same meaning, same default): when it is installed and not
    # disabled (-p no:recording), it owns the option and we read it, whichever plugin loads first.
    blocked = pluginmanager.is_blocked("recording") or pluginmanager.is_blocked("pytest_recording.plugin")
    if not blocked and importlib.util.find_spec("pytest_recording") is not None:
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
        "(default cassettes/<module path>/<test id>.yaml); see agentlightning.testing.pytest_plugin",
    )
    if config.getini("agentlightning_block_network") and not config.pluginmanager.has_plugin(_GUARD_NAME):
        config.pluginmanager.register(NetworkGuard(), _GUARD_NAME)


_GUARD_NAME = "agentlightning-network-guard"
_CHILD_ENV = ("AGENTLIGHTNING_TEST_BLOCK_NETWORK", "AGENTLIGHTNING_TEST_CHILD_NETWORK_RECORD")


class NetworkGuard:
    """``agentlightning_block_network = true``: no test reaches beyond this machine (see the module docstring).

    The audit hook of :mod:`agentlightning.testing.network` is on for the whole session (collection, fixtures,
    tests, background threads): a non-loopback DNS lookup or connect raises ``NetworkBlocked`` where it is made,
    and the test phase (setup, call, teardown) during which it happened fails, naming the test and the hosts,
    even if the code swallowed the error. Attempts outside any test fail the session at its end.

    Child Python processes the tests start (with the inherited environment) are guarded too: a
    ``sitecustomize`` put on ``PYTHONPATH`` switches the hook on in them and they record their attempts in a
    file this guard reads after each test phase. A test that starts a child to make attempts on purpose gives it
    an ``AGENTLIGHTNING_TEST_NETWORK_RECORD`` of its own (or removes ``AGENTLIGHTNING_TEST_BLOCK_NETWORK``).
    """

    def __init__(self) -> None:
        import tempfile

        from . import network

        self._network = network
        self._reported = 0
        inherited = sys.modules.get("_agentlightning_child_network_guard")
        if inherited is not None:
            # This process is a child of a guarded session that runs pytest itself (a pytest-xdist worker): its
            # own guard takes over from the child's copy, so that it raises and records as one session does.
            inherited._state.active = False
        network.activate()
        directory = Path(tempfile.mkdtemp(prefix="agentlightning-network-"))
        self._children = directory / "children.txt"
        self._children.touch()
        self._children_read = 0
        child = str(Path(__file__).with_name("_child"))
        self._saved = {name: os.environ.get(name) for name in (*_CHILD_ENV, "PYTHONPATH")}
        os.environ[_CHILD_ENV[0]] = str(Path(network.__file__))
        os.environ[_CHILD_ENV[1]] = str(self._children)
        os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (child, os.environ.get("PYTHONPATH")) if p)

    def pytest_unconfigure(self) -> None:
        import shutil

        shutil.rmtree(self._children.parent, ignore_errors=True)
        for name, value in self._saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value

    def _from_children(self) -> list[tuple[str, str]]:
        try:
            with self._children.open(encoding="utf-8") as fh:
                fh.seek(self._children_read)
                text = fh.read()
                self._children_read = fh.tell()
        except OSError:
            return []
        found = []
        for line in text.splitlines():
            event, _, host = line.partition(" ")
            found.append((f"{event}, in a child process", host))
        return found

    def _check(self, where: str) -> None:
        network = self._network
        total = len(network.attempts())
        new = network.unclaimed_attempts(self._reported) + self._from_children()
        self._reported = total
        if new:
            shown = ", ".join(f"{host} ({event})" for event, host in dict.fromkeys(new))
            pytest.fail(
                f"{where} tried to reach the network: {shown}. Tests run offline: use a cassette "
                "(@pytest.mark.cassette) or the local ScriptedOpenAIServer on 127.0.0.1.",
                pytrace=False,
            )

    def _phase(self, item: pytest.Item, phase: str) -> Generator[None, object, object]:
        self._check("before " + item.nodeid)  # attempts between tests (collection, session fixtures' set-up)
        try:
            result = yield
        finally:
            self._check(f"{item.nodeid} ({phase})")
        return result

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> Generator[None, object, object]:
        return (yield from self._phase(item, "setup"))

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, object, object]:
        return (yield from self._phase(item, "call"))

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_teardown(self, item: pytest.Item) -> Generator[None, object, object]:
        return (yield from self._phase(item, "teardown"))

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        new = self._network.unclaimed_attempts(self._reported) + self._from_children()
        if new:
            hosts = ", ".join(sorted({host for _, host in new}))
            session.config.get_terminal_writer().line(
                f"agentlightning: network access outside any test was blocked: {hosts}", red=True
            )
            session.exitstatus = pytest.ExitCode.TESTS_FAILED


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.\-\[\]]+", "_", name).strip("_") or "test"


def _default_path(directory: Path, root: Path, node: Any) -> Path:
    """``<dir>/<module path from rootdir, no .py>/<test id in its module, '::' as '.'>.yaml``: unique per test."""
    path = getattr(node, "path", None)
    if path is None:
        folders: tuple[str, ...] = ("tests",)
    else:
        module = Path(path).with_suffix("")
        folders = module.relative_to(root).parts if module.is_relative_to(root) else (module.name,)
    nodeid: str = node.nodeid
    name = nodeid.split("::", 1)[1].replace("::", ".") if "::" in nodeid else node.name
    return directory.joinpath(*(_safe(f) for f in folders), f"{_safe(name)}.yaml")


def _legacy_path(directory: Path, node: Any) -> Path:
    """The default before 0.1: ``<dir>/<module stem>/<test name>.yaml`` (two tests could share it)."""
    module = Path(str(node.path)).stem if getattr(node, "path", None) else "tests"
    return directory / re.sub(r"[^A-Za-z0-9_.\-]+", "_", module).strip("_") / f"{_safe(node.name)}.yaml"


def cassette_path(request: pytest.FixtureRequest) -> Path:
    """Where the current test's cassette lives: the marker's path, else the default layout."""
    config = request.config
    marker = request.node.get_closest_marker("cassette")
    explicit = (marker.args[0] if marker and marker.args else None) or (marker.kwargs.get("path") if marker else None)
    root = Path(config.rootpath)
    if explicit:
        path = Path(explicit)
        return path if path.is_absolute() else root / path
    package = _package_root(root, request.node)
    if package is not None:  # a test of a plugin folder: its own cassettes/ (instrumentations/<name>/cassettes)
        return _default_path(package / "cassettes", package, request.node)
    return _default_path(_cassette_dir(config), root, request.node)


def _package_root(root: Path, node: Any) -> Path | None:
    """The nearest folder below the rootdir above the test module that has a ``pyproject.toml``, if any."""
    path = getattr(node, "path", None)
    if path is None:
        return None
    for folder in Path(path).parents:
        if folder == root or not folder.is_relative_to(root):
            return None
        if (folder / "pyproject.toml").is_file():
            return folder
    return None


def _cassette_dir(config: pytest.Config) -> Path:
    return Path(config.rootpath) / str(config.getini("agentlightning_cassette_dir") or "cassettes")


def _record_mode(config: pytest.Config) -> str:
    mode = str(config.getoption("--record-mode", default="none") or "none").replace("-", "_")
    return "all" if mode == "rewrite" else mode  # pytest-recording's "rewrite": record everything anew


def _match_body(config: pytest.Config) -> bool:
    return bool(config.getini("agentlightning_cassette_match_body")) and not config.getoption(
        "--cassette-ignore-body", default=False
    )


@pytest.fixture
def cassette_options() -> dict[str, Any]:
    """Options for the cassettes of the tests in its scope (override it in a conftest.py or a module): keyword
    arguments of ``make_vcr``, such as ``{"match_body": False}``. The marker's keyword arguments win."""
    return {}


@pytest.fixture
def cassette(request: pytest.FixtureRequest, cassette_options: dict[str, Any]) -> Iterator[Any]:
    """The active vcrpy ``Cassette`` for this test (see the module docstring)."""
    from .cassettes import make_vcr

    mode = _record_mode(request.config)
    marker = request.node.get_closest_marker("cassette")
    options: dict[str, Any] = {"match_body": _match_body(request.config)}
    options.update(cassette_options)
    options.update((k, v) for k, v in (marker.kwargs if marker else {}).items() if k != "path")
    try:
        recorder = make_vcr(mode, **options)
    except ImportError as exc:
        pytest.fail(f"{exc} (needed by the cassette of {request.node.nodeid})", pytrace=False)
    path = cassette_path(request)
    if mode == "none" and not path.exists():
        root = request.config.rootpath

        def shown(p: Path) -> Path:
            return p.relative_to(root) if p.is_relative_to(root) else p

        legacy = _legacy_path(_cassette_dir(request.config), request.node)
        if legacy.exists() and legacy != path:
            pytest.fail(
                f"Cassette {shown(path)} not found. {shown(legacy)} is at the old default path (shared by tests "
                f"of the same name in other classes or folders); if it is this test's, move it: "
                f"git mv {shown(legacy)} {shown(path)}",
                pytrace=False,
            )
        pytest.fail(
            f"Cassette {shown(path)} not found and --record-mode is 'none' (replay only). Record it once against a "
            f"live server: pytest '{request.node.nodeid}' --record-mode=once",
            pytrace=False,
        )
    if mode != "none":
        path.parent.mkdir(parents=True, exist_ok=True)
    with recorder.use_cassette(str(path)) as active:
        yield active


@pytest.hookimpl(trylast=True)  # after other plugins added or removed markers
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Give tests marked ``@pytest.mark.cassette`` the ``cassette`` fixture (unmarked tests pay nothing).

    It goes before the test's first function-scoped fixture, where an autouse fixture would be, so fixtures
    that talk HTTP while setting up are replayed too.
    """
    for item in items:
        names = getattr(item, "fixturenames", None)
        if names is None or "cassette" in names or item.get_closest_marker("cassette") is None:
            continue
        definitions = getattr(getattr(item, "_fixtureinfo", None), "name2fixturedefs", {})
        position = len(names)
        for index, name in enumerate(names):
            defs = definitions.get(name)
            if name == "request" or (defs and defs[-1].scope == "function"):
                position = index
                break
        names.insert(position, "cassette")
