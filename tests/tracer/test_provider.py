"""The tracer joins an OpenTelemetry SDK provider the program already installed, instead of replacing it."""

from __future__ import annotations

import os
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
    # the store got the spans (the context's root, ending last), and so did the user's exporter
    assert spans == "['work', 'agentlightning.rollout'] ['work', 'agentlightning.rollout']"


SAMPLED = textwrap.dedent(
    """
    import agentlightning as agl

    @agl.rollout
    def agent(task, llm):
        return 1.0

    trainer = agl.Trainer(n_runners=2, store=agl.InMemoryLightningStore(),
                          initial_resources={"llm": agl.LLM(endpoint="http://127.0.0.1:1/v1", model="m")})
    rollouts = trainer.dev(agent, list(range(50)))
    print(sum(agl.find_final_reward(trainer.store_query_spans(r.rollout_id)) == 1.0 for r in rollouts))
    """
)


def test_a_sampler_setting_never_drops_rollout_spans() -> None:
    env = {**os.environ, "OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.1"}
    out = subprocess.run([sys.executable, "-c", SAMPLED], capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "50"  # every reward is there
    assert "OTEL_TRACES_SAMPLER=traceidratio is not applied" in out.stderr  # and the user is told why
