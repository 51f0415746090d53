"""An older langchain-core is refused politely: ``instrument()`` says which version is installed and which is
needed, attaches nothing, and ``instrument_all()`` skips the plugin without breaking the program.

The old core is presented the way an installed one is found: a ``langchain_core-1.0.0.dist-info`` ahead of
the environment's on ``sys.path`` (``PYTHONPATH``), in a fresh interpreter. ``.ci/run`` also runs this
plugin's tests on the oldest supported set (see the README)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from agentlightning_langchain import LangChainInstrumentor
from packaging.requirements import Requirement

_CHILD = """
import json
import agentlightning as agl
from agentlightning.instrumentation import InstrumentationUnavailableError, instrument
from agentlightning_langchain import _hook

try:
    instrument("langchain")
    message = None
except InstrumentationUnavailableError as exc:
    message = str(exc)
agl.instrument_all()  # skips it, does not raise

from langchain_core.callbacks.manager import CallbackManager
from langchain_core.runnables import RunnableLambda

handlers = [type(h).__module__ for h in CallbackManager.configure().handlers]
print(json.dumps({
    "message": message,
    "hook_registered": _hook._registered,
    "handlers": handlers,
    "works": RunnableLambda(lambda x: x + 1).invoke(1),
}))
"""


def _old_core(folder: Path, version: str) -> None:
    info = folder / f"langchain_core-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: langchain-core\nVersion: {version}\n")


@pytest.mark.slow
def test_older_core_is_refused_with_a_sentence(tmp_path: Path) -> None:
    (requirement,) = LangChainInstrumentor.instruments
    oldest = str(next(s for s in Requirement(requirement).specifier if s.operator == ">=").version)
    assert oldest == "1.4"  # the declared oldest tested core (pyproject [tool.agentlightning.tested])
    _old_core(tmp_path, "1.0.0")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-c", _CHILD], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["message"] == (
        "Cannot instrument langchain: langchain-core 1.0.0 is installed (too old), "
        "but langchain-core>=1.4,<2 is required."
    )
    assert result["hook_registered"] is False
    assert not any(module.startswith("agentlightning") for module in result["handlers"])
    assert result["works"] == 2  # the user's program runs on, untraced
