"""The plugin's option: documented in docs/configuration.md (rendered from its table), read like the core's."""

from __future__ import annotations

from pathlib import Path

import pytest
from agentlightning_autogen import AutoGenInstrumentor

from agentlightning.instrumentation import render_options

ROOT = Path(__file__).resolve().parents[3]


def test_the_configuration_page_lists_the_plugin_options() -> None:
    page = (ROOT / "docs" / "configuration.md").read_text()
    rows = render_options(AutoGenInstrumentor.options)
    assert rows in page, "docs/configuration.md is stale: paste render_options(AutoGenInstrumentor.options) into it"


@pytest.mark.parametrize(
    ("value", "expected"), [("TRUE", True), ("on", True), ("0", False), ("No", False), ("maybe", False)]
)
def test_trace_runtime_from_the_environment(value: str, expected: bool) -> None:
    (option,) = AutoGenInstrumentor.options
    assert option.resolve(None, {"AGENTLIGHTNING_AUTOGEN_TRACE_RUNTIME": value}) is expected
    assert option.resolve(True, {"AGENTLIGHTNING_AUTOGEN_TRACE_RUNTIME": value}) is True  # the keyword wins
