from __future__ import annotations

from collections.abc import Iterator

import pytest

from agentlightning.testing import ScriptedOpenAIServer


@pytest.fixture
def server() -> Iterator[ScriptedOpenAIServer]:
    with ScriptedOpenAIServer() as srv:
        yield srv
