"""A scripted, local OpenAI-compatible server for tests, cassette recording and benchmarks.

Standard library only: a ``ThreadingHTTPServer`` on ``127.0.0.1`` (port 0: the OS picks one) in a daemon
thread. It serves ``/v1/chat/completions`` (JSON, and SSE streams with tool-call deltas and, when the
request asks for ``stream_options.include_usage``, a usage chunk), ``/v1/responses`` (JSON, and streams
with the full event sequence of OpenAI's, which openai's ``responses.stream()`` helper needs: ``created``,
``in_progress``, per item ``output_item.added``, ``content_part.added``, ``output_text.delta``..., ``.done``
events, then ``completed``), ``/v1/completions`` (the legacy endpoint, JSON and stream) and ``/v1/embeddings``.
One thread per connection and a listen backlog of 1024, so hundreds of clients may connect at once. Replies
are scripted: queue :class:`Reply` objects, each request takes the next one (or the server's default reply
when the queue is empty)::

    from agentlightning.testing import Reply, ScriptedOpenAIServer, ToolCall

    with ScriptedOpenAIServer() as server:
        server.script(
            Reply(content="4"),
            Reply(tool_calls=[ToolCall("add", '{"a": 2, "b": 2}')]),
            Reply.error(429, "slow down"),                  # an API error, JSON body
            Reply(content="one two three", break_after=2),  # the connection dies mid-stream
            Reply(content="one two", error_after=1),        # an error event mid-stream
            Reply(content="a b c", chunk_delay=0.05),       # a slow stream
            Reply(prompt_token_ids=[1, 2], response_token_ids=[7, 8]),  # vLLM-style token ids
        )
        client = openai.OpenAI(base_url=server.base_url, api_key="test")
        ...
        server.requests[-1].json                            # what the client sent

Everything is deterministic (ids count up per server, ``created`` is fixed), so recordings are stable.
Token counts default to the number of words in the prompt and the answer.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from ._replies import (
    chat_chunks,
    chat_completion,
    completion_chunks,
    embeddings,
    response_events,
    response_object,
    text_completion,
)

__all__ = ["RecordedRequest", "Reply", "ScriptedOpenAIServer", "ToolCall"]

CREATED = 1_700_000_000


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: str = "{}"
    id: str | None = None


@dataclass
class Reply:
    """One scripted answer. Fields left ``None`` are derived from the request."""

    content: str | None = "Hello from the scripted server!"
    tool_calls: list[ToolCall] = field(default_factory=list)
    finish_reason: str | None = None
    model: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    prompt_token_ids: list[int] | None = None
    response_token_ids: list[int] | None = None
    token_ids_style: str = "vllm"
    """``vllm``: ``choices[0].token_ids``; ``agentlightning``: top-level ``response_token_ids: [[...]]``."""
    status: int = 200
    error_body: dict[str, Any] | None = None
    break_after: int | None = None
    """Stream: close the connection after this many content events, without ending the body."""
    error_after: int | None = None
    """Stream: send an ``{"error": ...}`` event after this many content events."""
    chunk_delay: float = 0.0
    delay: float = 0.0
    azure_first_chunk: bool = False
    """Chat stream: start with Azure's prompt-filter chunk (``"id": ""``, ``"model": ""``, no choices)."""
    headers: dict[str, str] = field(default_factory=dict)
    """Extra response headers (a ``set-cookie``, rate-limit headers, ...)."""
    body: bytes | None = None
    """Served as is, whatever the request (broken JSON, odd SSE streams: the fuzz tests), with ``content_type``."""
    content_type: str = "application/json"
    truncate_to: int | None = None
    """With ``body``: announce the whole length but send only this many bytes, then drop the connection."""

    @classmethod
    def error(cls, status: int, message: str, type: str = "invalid_request_error", code: str | None = None) -> Reply:
        body = {"error": {"message": message, "type": type, "param": None, "code": code}}
        return cls(status=status, error_body=body)


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes; without TCP_NODELAY, Nagle's algorithm holds the
        # body until the client's delayed ACK (~40 ms per response).
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    def do_GET(self) -> None:
        if self.path.rstrip("/").endswith("/models"):
            self._json(
                200,
                {
                    "object": "list",
                    "data": [{"id": "scripted-model", "object": "model", "created": CREATED, "owned_by": "test"}],
                },
            )
        else:
            self._json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        owner = self.server.owner
        owner._record(RecordedRequest("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body))
        try:
            request = json.loads(body) if body else {}
        except ValueError:
            self._json(400, {"error": {"message": "body is not JSON", "type": "invalid_request_error"}})
            return
        reply = owner._next_reply()
        if reply.delay:
            time.sleep(reply.delay)
        if reply.body is not None:
            self._raw(reply, reply.body)
            return
        if reply.status >= 400:
            error = reply.error_body or {"error": {"message": "error", "type": "server_error"}}
            self._json(reply.status, error, reply.headers)
            return
        number = owner._next_id()
        path = self.path.split("?", 1)[0].rstrip("/")
        if path.endswith("/chat/completions"):
            if request.get("stream"):
                include_usage = bool((request.get("stream_options") or {}).get("include_usage"))
                self._sse(chat_chunks(reply, request, number, include_usage), reply, named=False)
            else:
                self._json(200, chat_completion(reply, request, number), reply.headers)
        elif path.endswith("/responses"):
            if request.get("stream"):
                self._sse(response_events(reply, request, number), reply, named=True)
            else:
                self._json(200, response_object(reply, request, number, "completed"), reply.headers)
        elif path.endswith("/completions"):  # the legacy endpoint (/v1/completions)
            if request.get("stream"):
                include_usage = bool((request.get("stream_options") or {}).get("include_usage"))
                self._sse(completion_chunks(reply, request, number, include_usage), reply, named=False)
            else:
                self._json(200, text_completion(reply, request, number))
        elif path.endswith("/embeddings"):
            self._json(200, embeddings(reply, request))
        else:
            self._json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})

    # ---- writing --------------------------------------------------------------------------------
    def _json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.send_header("x-request-id", f"req_{self.server.owner._request_count}")
        self.end_headers()
        self.wfile.write(data)

    def _raw(self, reply: Reply, data: bytes) -> None:
        self.send_response(reply.status)
        self.send_header("content-type", reply.content_type)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        if reply.truncate_to is None:
            self.wfile.write(data)
            return
        self.wfile.write(data[: reply.truncate_to])
        self.wfile.flush()
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _sse(self, events: list[dict[str, Any]], reply: Reply, named: bool) -> None:
        self.send_response(200)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("content-type", "text/event-stream")
        self.send_header("transfer-encoding", "chunked")
        self.send_header("cache-control", "no-cache")
        self.end_headers()
        content_events = 0
        for event in events:
            if event.get("_content"):
                if reply.break_after is not None and content_events >= reply.break_after:
                    # Die mid-body: no terminating chunk, so the client sees an incomplete message.
                    self.wfile.flush()
                    self.close_connection = True
                    with contextlib.suppress(OSError):
                        self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if reply.error_after is not None and content_events >= reply.error_after:
                    error = {"error": {"message": "the model crashed mid-stream", "type": "server_error", "code": None}}
                    self._chunk(b"data: " + json.dumps(error).encode() + b"\n\n")
                    break
                content_events += 1
                if reply.chunk_delay:
                    time.sleep(reply.chunk_delay)
            payload = {k: v for k, v in event.items() if k != "_content"}
            prefix = f"event: {payload['type']}\n".encode() if named else b""
            self._chunk(prefix + b"data: " + json.dumps(payload).encode() + b"\n\n")
        else:
            if not named:
                self._chunk(b"data: [DONE]\n\n")
        self._chunk(b"")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # listen() backlog. socketserver's default of 5 makes the kernel refuse connections when more than a few
    # clients connect at once (50 concurrent openai clients saw "Connection error"); the kernel caps it at
    # net.core.somaxconn.
    request_queue_size = 1024
    owner: ScriptedOpenAIServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that stops reading a stream (break, close, garbage collection) resets the connection:
        # normal for this server, not worth a traceback on stderr.
        import sys

        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


class ScriptedOpenAIServer:
    """Start with ``start()`` or ``with``; ``base_url`` ends in ``/v1``."""

    def __init__(self, default: Reply | None = None, host: str = "127.0.0.1") -> None:
        self.default = default or Reply()
        self.host = host
        self.requests: list[RecordedRequest] = []
        self._replies: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._ids = 0
        self._request_count = 0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle ------------------------------------------------------------------------------
    def start(self) -> ScriptedOpenAIServer:
        if self._server is not None:
            return self
        server = _Server((self.host, 0), _Handler)
        server.owner = self
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="scripted-openai", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> ScriptedOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the scripted server is not running; call start()")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    # ---- scripting ------------------------------------------------------------------------------
    def script(self, *replies: Reply) -> None:
        with self._lock:
            self._replies.extend(replies)

    def reset(self) -> None:
        with self._lock:
            self._replies.clear()
            self.requests.clear()

    def _next_reply(self) -> Reply:
        with self._lock:
            return self._replies.popleft() if self._replies else self.default

    def _next_id(self) -> int:
        with self._lock:
            self._ids += 1
            return self._ids

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._request_count += 1
            self.requests.append(request)
