"""Put on ``PYTHONPATH`` by the pytest plugin's network guard: child interpreters of a guarded test session
refuse non-loopback network access too, and record each attempt in the file the parent reads
(``agentlightning.testing.network.ENV_RECORD``), so the test that started the child fails.

Active only when ``AGENTLIGHTNING_TEST_BLOCK_NETWORK`` names the guard's ``network.py``, which is loaded from
that file alone (not through ``import agentlightning``: a child that measures or checks its own imports sees
no difference). Attempts go to ``AGENTLIGHTNING_TEST_CHILD_NETWORK_RECORD``, unless the test gave the child an
``AGENTLIGHTNING_TEST_NETWORK_RECORD`` of its own (it then expects them). Then it hands over to the
``sitecustomize`` it shadows, if there is one further along ``sys.path``.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys


def _guard() -> None:
    source = os.environ.get("AGENTLIGHTNING_TEST_BLOCK_NETWORK")
    if not source or not os.path.isfile(source):
        return
    spec = importlib.util.spec_from_file_location("_agentlightning_child_network_guard", source)
    if spec is None or spec.loader is None:
        return
    network = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = network  # found there by a pytest session in this process (an xdist worker)
    spec.loader.exec_module(network)
    network.activate()
    if not os.environ.get(network.ENV_RECORD):
        network._state.record_path = os.environ.get("AGENTLIGHTNING_TEST_CHILD_NETWORK_RECORD") or None


def _chain() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    path = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", path)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    sys.modules["sitecustomize"] = module
    spec.loader.exec_module(module)


_guard()
_chain()
