"""Testing helpers: a scripted OpenAI-compatible server, an in-memory span exporter, and cassettes.

- :class:`ScriptedOpenAIServer` / :class:`Reply` / :class:`ToolCall`: a local server (stdlib only) that
  answers like OpenAI (chat completions, Responses, embeddings; streams, errors, broken and slow streams,
  vLLM-style token ids). See ``agentlightning.testing.server``.
- :func:`get_test_exporter`: in-memory spans from the global OpenTelemetry provider
  (``agentlightning.testing.otel``).
- :func:`use_cassette`: record or replay the HTTP of a block, a script or a whole process run from a vcrpy
  cassette, with the filters and the matching of the pytest plugin (``agentlightning.testing.cassettes``)::

      with use_cassette("cassettes/run.yaml", record_mode="none"):   # or "once", "new_episodes", "all"
          main()

- The pytest plugin ``agentlightning.testing.pytest_plugin`` (registered through ``pytest11``, so it is
  active wherever agentlightning is installed): the ``cassette`` marker and fixture on vcrpy, and the
  ``--record-mode`` option. See its docstring.

Importing this package imports nothing heavy; names load on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = ["RecordedRequest", "Reply", "ScriptedOpenAIServer", "ToolCall", "get_test_exporter", "use_cassette"]

_LAZY = {
    "RecordedRequest": ".server",
    "Reply": ".server",
    "ScriptedOpenAIServer": ".server",
    "ToolCall": ".server",
    "get_test_exporter": ".otel",
    "use_cassette": ".cassettes",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


if TYPE_CHECKING:
    from .cassettes import use_cassette
    from .otel import get_test_exporter
    from .server import RecordedRequest, Reply, ScriptedOpenAIServer, ToolCall
