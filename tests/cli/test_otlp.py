"""OTLP/HTTP export: `--otlp-endpoint` and `OTEL_EXPORTER_OTLP_ENDPOINT` deliver the spans to a collector.

The collector is a stdlib HTTP server decoding the requests with opentelemetry-proto. Each run is a
subprocess, so the exporter never outlives its test.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from agentlightning.testing import ScriptedOpenAIServer

from ._helpers import env, llm_spans, run_cli, run_rollout_id, stored, write_agent

pytestmark = pytest.mark.slow


class Collector:
    def __init__(self) -> None:
        self.paths: list[str] = []
        self.spans: list[tuple[str, dict[str, object]]] = []
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                request = ExportTraceServiceRequest.FromString(body)
                collector.paths.append(self.path)
                for resource_spans in request.resource_spans:
                    for scope_spans in resource_spans.scope_spans:
                        for span in scope_spans.spans:
                            attributes = {a.key: a.value.string_value or a.value.int_value for a in span.attributes}
                            collector.spans.append((span.name, attributes))
                reply = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def collector() -> Iterator[Collector]:
    c = Collector()
    yield c
    c.close()


def test_otlp_endpoint_delivers_the_runs_spans(
    tmp_path: Path, server: ScriptedOpenAIServer, collector: Collector
) -> None:
    out = run_cli(["--otlp-endpoint", collector.url, str(write_agent(tmp_path))], tmp_path, base_url=server.base_url)
    assert out.returncode == 0, out.stderr
    assert set(collector.paths) == {"/v1/traces"}
    chats = [attrs for name, attrs in collector.spans if name == "chat tiny"]
    assert len(chats) == 2
    assert all(a["gen_ai.request.model"] == "tiny" and a["gen_ai.usage.input_tokens"] for a in chats)
    assert "agentlightning.annotation" in {name for name, _ in collector.spans}
    _, spans = stored(tmp_path / ".agentlightning" / "store.db", run_rollout_id(out.stderr))
    assert len(llm_spans(spans)) == 2  # and the store has them too


def test_the_standard_environment_variable_exports_a_plain_tracer(tmp_path: Path, collector: Collector) -> None:
    script = tmp_path / "traced.py"
    script.write_text(
        "import agentlightning as agl\n"
        "tracer = agl.OtelTracer()\n"
        "with tracer.trace_context('t'):\n"
        "    agl.emit_reward(1.0)\n"
    )
    out = subprocess.run(
        [sys.executable, str(script)],
        env=env(OTEL_EXPORTER_OTLP_ENDPOINT=collector.url),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert collector.paths == ["/v1/traces"]  # exported at exit
    # the reward, under the trace context's root span
    assert sorted(name for name, _ in collector.spans) == ["agentlightning.annotation", "agentlightning.rollout"]


def test_a_collector_that_never_answers_does_not_hold_up_the_run(tmp_path: Path, server: ScriptedOpenAIServer) -> None:
    # A socket that listens but never accepts: connections succeed, requests are never answered.
    with socket.socket() as hung:
        hung.bind(("127.0.0.1", 0))
        hung.listen(64)
        url = f"http://127.0.0.1:{hung.getsockname()[1]}"
        out = run_cli(
            ["--otlp-endpoint", url, str(write_agent(tmp_path))], tmp_path, base_url=server.base_url, timeout=60
        )
    assert out.returncode == 0, out.stderr
    assert f"could not export spans to the OpenTelemetry collector at {url}/v1/traces (no answer within 2.0 s)" in (
        out.stderr
    )
    _, spans = stored(tmp_path / ".agentlightning" / "store.db", run_rollout_id(out.stderr))
    assert len(llm_spans(spans)) == 2
