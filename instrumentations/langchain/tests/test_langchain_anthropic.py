"""A provider SDK that traces itself: anthropic 2.x emits its own span for every API call to the global
provider. Under ``ChatAnthropic`` with this plugin a model call is still one ``chat`` span; the SDK used on
its own keeps its span. Against a local Messages API server on 127.0.0.1."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import anthropic
import pytest
from langchain_anthropic import ChatAnthropic
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentlightning import semconv as sc
from agentlightning.instrumentation import instrument, uninstrument_all

Spans = Callable[[], list[ReadableSpan]]
SDK_SPAN = "anthropic.messages.create"


class _Messages(BaseHTTPRequestHandler):
    """``POST /v1/messages``: one text answer, numbered message ids, usage from the request's length."""

    count = 0

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        type(self).count += 1
        words = sum(len(str(m.get("content", "")).split()) for m in body.get("messages", []))
        reply = {
            "id": f"msg_{type(self).count}",
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": [{"type": "text", "text": "four"}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": words, "output_tokens": 1},
        }
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def anthropic_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Messages)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _client(url: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=url, api_key="k", max_retries=0)


def _ask_directly(url: str) -> None:
    message = _client(url).messages.create(
        model="claude-test", max_tokens=16, messages=[{"role": "user", "content": "2+2?"}]
    )
    assert message.content[0].type == "text" and message.content[0].text == "four"


def test_the_sdk_traces_itself(spans: InMemorySpanExporter, anthropic_url: str, finished: Spans) -> None:
    _ask_directly(anthropic_url)  # no plugin on: the SDK's own span reaches the global provider
    assert [s.name for s in finished()] == [SDK_SPAN]


async def test_chat_anthropic_one_span_per_call(
    spans: InMemorySpanExporter, anthropic_url: str, finished: Spans
) -> None:
    instrument("langchain")
    try:
        model = ChatAnthropic(
            model_name="claude-test",
            base_url=anthropic_url,
            api_key="k",  # type: ignore[arg-type]
            max_retries=0,
            timeout=30,
            stop=None,
        )
        assert model.invoke("two plus two?").content == "four"
        assert (await model.ainvoke("and three?")).content == "four"
        model_spans = finished()
        _ask_directly(anthropic_url)  # outside any LangChain run the SDK keeps its span
    finally:
        uninstrument_all()
    assert [s.name for s in model_spans] == ["chat claude-test"] * 2
    first = model_spans[0].attributes or {}
    assert first[sc.GEN_AI_PROVIDER_NAME] == "anthropic"
    assert first[sc.GEN_AI_USAGE_INPUT_TOKENS] == 3 and first[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 1
    assert str(first[sc.GEN_AI_RESPONSE_ID]).startswith("msg_")
    assert [s.name for s in finished()][2:] == [SDK_SPAN]


def test_uninstrument_gives_the_sdk_its_span_back(
    spans: InMemorySpanExporter, anthropic_url: str, finished: Spans
) -> None:
    instrument("langchain")
    uninstrument_all()
    model = ChatAnthropic(model_name="claude-test", base_url=anthropic_url, api_key="k", timeout=30, stop=None)  # type: ignore[arg-type]
    model.invoke("hello")
    assert [s.name for s in finished()] == [SDK_SPAN]
