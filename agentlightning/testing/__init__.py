"""Testing helpers: a scripted OpenAI-compatible server, an in-memory span exporter, and cassettes.

- :class:`ScriptedOpenAIServer` / :class:`Reply` / :class:`ToolCall`: a local server (stdlib only) that
  answers like OpenAI (chat completions, Responses, embeddings; streams, errors, broken and slow streams,
  vLLM-style token ids). See ``agentlightning.testing.server``.
- :func:`get_test_exporter`: in-memory spans from the global OpenTelemetry provider
  (``agentlightning.testing.otel``).
- The pytest plugin ``agentlightning.testing.pytest_plugin`` (registered through ``pytest11``, so it is
  active wherever agentlightning is installed): the ``cassette`` marker and fixture on vcrpy, and the
  ``--record-mode`` option. See its docstring.

Importing this package imports nothing heavy; names load on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = ["RecordedRequest", "Reply", "ScriptedOpenAIServer", "ToolCall", "get_test_exporter"]

_LAZY = {
    "RecordedRequest": ".server",
    "Reply": ".server",
    "ScriptedOpenAIServer": ".server",
    "ToolCall": ".server",
    "get_test_exporter": ".otel",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


if TYPE_CHECKING:
    from .otel import get_test_exporter
    from .server import RecordedRequest, Reply, ScriptedOpenAIServer, ToolCall
