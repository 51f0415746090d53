"""The trace-context suite of this folder runs against every tracer with the ``Tracer`` contract: ``OtelTracer``
and ``AgentOpsTracer`` (the AgentOps plugin's, on AgentOps' instrumentation; it is installed in the workspace)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from agentlightning.tracer.otel import OtelTracer


def _make(name: str) -> OtelTracer:
    if name == "agentops":
        from agentlightning.tracer.agentops import AgentOpsTracer

        return AgentOpsTracer()
    return OtelTracer()


@pytest.fixture(params=["otel", "agentops"])
def tracer(request: pytest.FixtureRequest) -> Iterator[OtelTracer]:
    """An initialized tracer of each kind, bound to the test's ``store`` when the test uses one."""
    tracer = _make(request.param)
    tracer.init()
    if "store" in request.fixturenames:
        tracer.init_worker(0, request.getfixturevalue("store"))
    try:
        yield tracer
    finally:
        tracer.teardown()
