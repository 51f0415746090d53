"""Secrets never reach a span, the store, a cassette or the HTML report (issue 15, "Secrets").

Traced calls of every plugin (OpenAI sync/stream/Responses/raw, LangChain, AutoGen) with an API key, an
organization, a cookie, a gateway token header, a secret query parameter and a ``set-cookie`` answer, content
capture on, recorded into a cassette and a SQLite store inside a rollout, then drawn into the HTML report:
every byte those wrote is scanned. And every cassette committed to the repository is scanned too.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import openai
import pytest
import yaml
from autogen_core.models import ModelFamily, ModelInfo, UserMessage
from autogen_ext.models.openai import OpenAIChatCompletionClient
from langchain_openai import ChatOpenAI
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentlightning.cli._report import write_report
from agentlightning.store.sqlite import SqliteLightningStore
from agentlightning.testing import Reply, ScriptedOpenAIServer
from agentlightning.testing.cassettes import SECRET_HEADER, use_cassette
from agentlightning.tracer.otel import OtelTracer

REPO = Path(__file__).resolve().parents[2]

# Made up, never a real key: key-shaped (the "sk-" prefix) so the scans below look for what a real one looks
# like, and built at run time so no key-shaped literal sits in the repository for secret scanners to flag.
API_KEY = "-".join(("sk", "agl", "FAKE", "test", "key", "0001"))
ORGANIZATION = "org-SECRET-organization-0002"
COOKIE = "session=SECRET-cookie-0003"
GATEWAY = "SECRET-gateway-token-0004"
QUERY = "SECRET-query-key-0005"
SET_COOKIE = "sid=SECRET-set-cookie-0006; Path=/; HttpOnly"
SECRETS = (API_KEY, ORGANIZATION, "SECRET-cookie-0003", GATEWAY, QUERY, "SECRET-set-cookie-0006")
HEADERS = {"Cookie": COOKIE, "X-Gateway-Token": GATEWAY}
MESSAGES = [{"role": "user", "content": "hi"}]
INFO = ModelInfo(
    vision=False, function_calling=True, json_output=False, family=ModelFamily.UNKNOWN, structured_output=False
)


def _openai_calls(base_url: str) -> None:
    options: dict[str, Any] = {
        "base_url": base_url,
        "api_key": API_KEY,
        "organization": ORGANIZATION,
        "default_headers": HEADERS,
        "default_query": {"api-key": QUERY},
        "max_retries": 0,
    }
    with openai.OpenAI(**options) as client:
        client.chat.completions.create(model="m", messages=MESSAGES)
        list(client.chat.completions.create(model="m", messages=MESSAGES, stream=True))
        client.responses.create(model="m", input="hi")
        raw = client.chat.completions.with_raw_response.create(model="m", messages=MESSAGES)
        raw.parse()
        with pytest.raises(openai.AuthenticationError):
            client.chat.completions.create(model="m", messages=MESSAGES)  # the scripted 401
    ChatOpenAI(
        model="lc",
        base_url=base_url,
        api_key=API_KEY,  # type: ignore[arg-type]
        organization=ORGANIZATION,
        default_headers=HEADERS,
        max_retries=0,
    ).invoke("hi")


async def _autogen_call(base_url: str) -> None:
    client = OpenAIChatCompletionClient(
        model="ag", base_url=base_url, api_key=API_KEY, model_info=INFO, max_retries=0, default_headers=HEADERS
    )
    try:
        await client.create([UserMessage(content="hi", source="user")])
    finally:
        await client.close()


def _scan(path: Path) -> list[str]:
    data = path.read_bytes()
    return [secret for secret in SECRETS if secret.encode() in data]


async def test_traced_calls_leave_no_secret_in_spans_store_cassette_or_report(
    tmp_path: Path, server: ScriptedOpenAIServer, plugins: Any, spans: InMemorySpanExporter
) -> None:
    plugins("openai", "langchain", "autogen", capture_content=True)
    cookie = {"set-cookie": SET_COOKIE}
    server.script(
        Reply(content="one", headers=cookie),
        Reply(content="two words", headers=cookie),
        Reply(content="three", headers=cookie),
        Reply(content="four", headers=cookie),
        Reply.error(401, "Incorrect API key provided", type="invalid_request_error", code="invalid_api_key"),
        Reply(content="from langchain", headers=cookie),
        Reply(content="from autogen", headers=cookie),
    )
    store = SqliteLightningStore(tmp_path / "store.db")
    tracer = OtelTracer()
    tracer.init()
    tracer.init_worker(0, store)
    cassette = tmp_path / "cassette.yaml"
    try:
        rollout = await store.start_rollout(input="secrets")
        with use_cassette(cassette, record_mode="all"):
            async with tracer.trace_context(
                "secrets", rollout_id=rollout.rollout_id, attempt_id=rollout.attempt.attempt_id
            ):
                await asyncio.to_thread(_openai_calls, server.base_url)
                await _autogen_call(server.base_url)
        stored = await store.query_spans(rollout.rollout_id)
        write_report(store, await store.query_rollouts(), str(tmp_path / "report.html"))
    finally:
        tracer.teardown()
        store.close()

    # the secrets were sent: the scan below is not of an empty run
    sent = server.requests
    assert len(sent) == 7
    assert sent[0].headers["authorization"] == f"Bearer {API_KEY}" and sent[0].headers["cookie"] == COOKIE
    assert QUERY in sent[0].path
    assert len([s for s in stored if s.name.startswith("chat ")]) == 7
    recorded = yaml.safe_load(cassette.read_text())
    assert len(recorded["interactions"]) == 7

    for span in spans.get_finished_spans():
        text = repr(dict(span.attributes or {})) + repr(span.events) + repr(span.status.description)
        assert not [s for s in SECRETS if s in text], span.name
    written = sorted(p for p in tmp_path.rglob("*") if p.is_file())
    assert {p.name for p in written} >= {"store.db", "cassette.yaml", "report.html"}
    leaks = {str(p.relative_to(tmp_path)): found for p in written if (found := _scan(p))}
    assert leaks == {}


# ---- every cassette in the repository ---------------------------------------------------------------------------

_KEY_LIKE = re.compile(r"\b(sk-[A-Za-z0-9_\-]{16,}|Bearer\s+[A-Za-z0-9_\-\.]{8,})")


def _cassettes() -> list[Path]:
    found = [*REPO.glob("cassettes/**/*.yaml"), *REPO.glob("instrumentations/*/cassettes/**/*.yaml")]
    return sorted(p for p in found if ".venv" not in p.parts)


def test_repository_cassettes_hold_no_credentials() -> None:
    cassettes = _cassettes()
    assert len(cassettes) >= 8  # the examples' and the OpenAI plugin's
    for path in cassettes:
        text = path.read_text(encoding="utf-8")
        assert not _KEY_LIKE.search(text), f"{path.relative_to(REPO)}: a key or bearer token"
        for interaction in yaml.safe_load(text)["interactions"]:
            request_headers = interaction["request"].get("headers") or {}
            secret = [name for name in request_headers if SECRET_HEADER.search(name)]
            assert not secret, f"{path.relative_to(REPO)}: request headers {secret}"
            response_headers = {k.lower() for k in (interaction["response"].get("headers") or {})}
            assert "set-cookie" not in response_headers, path.relative_to(REPO)
