"""The tracer joins an OpenTelemetry SDK provider the program already installed, instead of replacing it."""

from __future__ import annotations

import subprocess
import sys
import textwrap

CHILD = textwrap.dedent(
    """
    import asyncio
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    import agentlightning as agl

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)           # the user's own set-up, before agentlightning

    store = agl.InMemoryLightningStore()
    tracer = agl.OtelTracer()
    with tracer.lifespan(store):
        r = asyncio.run(store.start_rollout(input=1))
        with tracer.trace_context(rollout_id=r.rollout_id, attempt_id=r.attempt.attempt_id):
            with trace.get_tracer("user").start_as_current_span("work"):
                pass
        stored = [s.name for s in asyncio.run(store.query_spans(r.rollout_id))]
    print(trace.get_tracer_provider() is provider, tracer.provider is provider)
    print(stored, [s.name for s in exporter.get_finished_spans()])
    """
)


def test_tracer_joins_the_users_global_sdk_provider() -> None:
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    same, spans = out.stdout.splitlines()
    assert same == "True True"  # still the user's provider, and the tracer records through it
    assert spans == "['work'] ['work']"  # the store got the span, and so did the user's exporter
