"""The Instrumentor base and the registry, on a throw-away framework module written to disk."""

from __future__ import annotations

import functools
import importlib
import logging
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import wrapt

import agentlightning.instrumentation as inst
from agentlightning.instrumentation import (
    InstrumentationConfig,
    InstrumentationUnavailableError,
    Instrumentor,
    Patch,
    Switch,
    capture_enabled,
)
from agentlightning.instrumentation._base import check_requirement
from agentlightning.instrumentation._registry import register_instrumentor

FRAMEWORK = textwrap.dedent(
    """
    class Client:
        def complete(self, prompt):
            return "answer to " + prompt

    def helper(x):
        return x * 2
    """
)


@pytest.fixture
def framework(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh, not-yet-imported module name each test (``fakefw_<n>``)."""
    name = f"fakefw_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text(FRAMEWORK)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    sys.modules.pop(name, None)


class Recorder(Instrumentor):
    name = "recorder"
    instruments = ()

    def __init__(self, module: str) -> None:
        super().__init__()
        self.module = module
        self.calls: list[str] = []
        self.configs: list[InstrumentationConfig] = []

    def _patches(self, config: InstrumentationConfig) -> list[Patch]:
        self.configs.append(config)

        def factory(switch: Switch) -> Any:
            def wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
                if switch.on:
                    self.calls.append(f"{wrapped.__name__}:{capture_enabled(config)}")
                return wrapped(*args, **kwargs)

            return wrapper

        return [
            Patch(self.module, "Client.complete", factory),
            Patch(self.module, "helper", factory),
            Patch(self.module, "Missing.method", factory),  # another version of the framework: skipped
        ]


def test_patches_a_module_imported_later_and_imports_nothing(framework: str) -> None:
    recorder = Recorder(framework)
    recorder.instrument()
    try:
        assert framework not in sys.modules
        module = importlib.import_module(framework)
        assert module.Client().complete("x") == "answer to x"
        assert module.helper(2) == 4
        assert recorder.calls == ["complete:False", "helper:False"]
    finally:
        recorder.uninstrument()


def test_patches_a_module_already_imported(framework: str) -> None:
    module = importlib.import_module(framework)
    client = module.Client()  # made before instrumenting: the class is patched, so it is traced too
    recorder = Recorder(framework)
    recorder.instrument(capture_content=True)
    try:
        client.complete("y")
        assert recorder.calls == ["complete:True"]
    finally:
        recorder.uninstrument()


def test_idempotent_and_options_update_in_place(framework: str) -> None:
    module = importlib.import_module(framework)
    recorder = Recorder(framework)
    recorder.instrument()
    recorder.instrument(capture_content=True)
    try:
        module.Client().complete("z")
        assert recorder.calls == ["complete:True"]  # one layer, the new option
        assert len(recorder.configs) == 1
    finally:
        recorder.uninstrument()


def test_uninstrument_restores_and_reinstrument_works(framework: str) -> None:
    module = importlib.import_module(framework)
    original, original_helper = module.Client.__dict__["complete"], module.helper
    recorder = Recorder(framework)
    recorder.instrument()
    assert isinstance(module.Client.__dict__["complete"], wrapt.FunctionWrapper)
    recorder.uninstrument()
    recorder.uninstrument()  # idempotent
    assert module.Client.__dict__["complete"] is original and module.helper is original_helper
    module.Client().complete("a")
    assert recorder.calls == []
    recorder.instrument()
    module.Client().complete("b")
    recorder.uninstrument()
    assert recorder.calls == ["complete:False"]


def test_uninstrument_before_import_leaves_the_hook_inert(framework: str) -> None:
    recorder = Recorder(framework)
    recorder.instrument()
    recorder.uninstrument()
    module = importlib.import_module(framework)
    assert not isinstance(module.Client.__dict__["complete"], wrapt.FunctionWrapper)


def test_splices_out_of_a_wrapt_chain(framework: str) -> None:
    module = importlib.import_module(framework)
    original = module.Client.__dict__["complete"]
    recorder = Recorder(framework)
    recorder.instrument()
    theirs: list[str] = []

    def outer(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        theirs.append("outer")
        return wrapped(*args, **kwargs)

    wrapt.wrap_function_wrapper(module, "Client.complete", outer)
    recorder.uninstrument()
    assert module.Client.__dict__["complete"].__wrapped__ is original
    assert module.Client().complete("c") == "answer to c"
    assert theirs == ["outer"] and recorder.calls == []


def test_switches_off_behind_a_plain_decorator(framework: str) -> None:
    module = importlib.import_module(framework)
    recorder = Recorder(framework)
    recorder.instrument()
    ours = module.Client.__dict__["complete"]

    @functools.wraps(ours)
    def decorated(*args: Any, **kwargs: Any) -> Any:
        return ours(*args, **kwargs)

    module.Client.complete = decorated
    recorder.uninstrument()
    assert module.Client().complete("d") == "answer to d"
    assert recorder.calls == []  # our layer could not be removed, but it is off


def test_missing_framework(caplog: pytest.LogCaptureFixture) -> None:
    class Absent(Instrumentor):
        name = "absent"
        instruments = ("surely-not-installed-dist>=1.0",)

        def _patches(self, config: InstrumentationConfig) -> list[Patch]:
            raise AssertionError("never reached")

    register_instrumentor("absent", Absent)
    with pytest.raises(InstrumentationUnavailableError, match="surely-not-installed-dist is not installed"):
        inst.instrument("absent")
    with pytest.raises(InstrumentationUnavailableError, match="absent"):
        inst.instrument_absent()
    with caplog.at_level(logging.DEBUG, logger="agentlightning.instrumentation"):
        done = inst.instrument_all(disabled=["openai"])
    assert "absent" not in done
    assert any("skipping instrumentation 'absent'" in r.getMessage() for r in caplog.records)
    with pytest.raises(InstrumentationUnavailableError, match="No agentlightning instrumentor named 'nope'"):
        inst.instrument("nope")
    inst.uninstrument_all()


def test_requirement_check() -> None:
    assert check_requirement("pytest>=1.0") is None
    assert "required" in (check_requirement("pytest>=999") or "")
    assert "not installed" in (check_requirement("no-such-dist-here") or "")


def test_openai_plugin_is_found_through_its_entry_point() -> None:
    assert "openai" in inst.available_instrumentors()
    assert type(inst.get_instrumentor("openai")).__name__ == "OpenAIInstrumentor"


def test_public_names() -> None:
    assert inst.__all__ == sorted(inst.__all__)
    for name in inst.__all__:
        assert getattr(inst, name) is not None, name
    assert set(inst.__all__) >= {"instrument_all", "uninstrument_all", "guard", "llm_span_active", "Instrumentor"}


def test_importing_is_cheap() -> None:
    code = (
        "import sys, agentlightning.instrumentation, agentlightning.testing, agentlightning.testing.pytest_plugin\n"
        "heavy = [m for m in ('wrapt', 'openai', 'vcr', 'yaml', 'opentelemetry.sdk') if m in sys.modules]\n"
        "print(heavy)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
