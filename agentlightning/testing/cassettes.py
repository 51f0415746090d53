"""Cassettes: record an LLM session's HTTP once, replay it offline forever (on vcrpy >= 9).

vcrpy 9 patches both ``httpx`` and ``httpx2`` (the HTTP client of openai 3.x), so every OpenAI call in a
replayed test or script is answered from the cassette and nothing reaches the network. The set-up here
is shared by the pytest plugin (``agentlightning.testing.pytest_plugin``) and ``agentlightning-run
--record/--replay``::

    from agentlightning.testing.cassettes import use_cassette

    with use_cassette("cassettes/session.yaml", record_mode="once"):
        client.chat.completions.create(...)

==================  ==========================================================================================
setting             value
==================  ==========================================================================================
record modes        ``none`` (default: replay only; a missing cassette or an unrecorded request fails),
                    ``once`` (record if the file does not exist), ``new_episodes``, ``all``
matching            method, scheme, path and query -- not host or port, so a recording made against a local
                    server on a random port (or a proxy) replays anywhere
filtered headers    request: ``authorization``, ``api-key``, ``x-api-key``, ``openai-organization``,
                    ``openai-project``, ``cookie``, and any header whose name contains ``auth``, ``key``,
                    ``token``, ``secret``, ``cookie``, ``signature`` or ``session`` (any case: gateway keys,
                    ``Proxy-Authorization``); response: ``set-cookie``, ``openai-organization``,
                    ``openai-project`` -- secrets never reach the file
format              YAML; JSON bodies are stored pretty-printed under ``json:`` as a literal block, event
                    streams as readable text. Compressed responses are stored decoded.
==================  ==========================================================================================
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

__all__ = [
    "FILTERED_REQUEST_HEADERS",
    "FILTERED_RESPONSE_HEADERS",
    "MATCH_ON",
    "RECORD_MODES",
    "SECRET_HEADER",
    "PrettyJSONYAMLSerializer",
    "make_vcr",
    "use_cassette",
]

RECORD_MODES = ("none", "once", "new_episodes", "all")
MATCH_ON = ("method", "scheme", "path", "query")
FILTERED_REQUEST_HEADERS = (
    "authorization",
    "api-key",
    "x-api-key",
    "openai-organization",
    "openai-project",
    "cookie",
)
FILTERED_RESPONSE_HEADERS = frozenset({"set-cookie", "openai-organization", "openai-project"})
SECRET_HEADER = re.compile(r"auth|key|token|secret|cookie|signature|session", re.IGNORECASE)
"""Request headers whose name matches this are dropped too, whatever else they are called."""


def _yaml() -> Any:
    import yaml  # vcrpy depends on PyYAML; imported only when a cassette is used

    return yaml


def _pretty(text: Any) -> str | None:
    """``text`` pretty-printed when it is a JSON object or array, else ``None``."""
    if not isinstance(text, str) or text[:1] not in ("{", "["):
        return None
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        return None


def _set_content_length(headers: dict[str, Any], size: int) -> None:
    for name in list(headers):
        if name.lower() == "content-length":
            headers[name] = [str(size)]


class PrettyJSONYAMLSerializer:
    """vcrpy serializer: YAML with JSON bodies pretty-printed (``body: {json: ...}``) in literal blocks."""

    @staticmethod
    def serialize(cassette_dict: dict[str, Any]) -> str:
        yaml = _yaml()

        for interaction in cassette_dict.get("interactions", ()):
            request = interaction["request"]
            pretty = _pretty(request.get("body"))
            if pretty is not None:
                request["body"] = {"json": pretty}
            body = interaction["response"].get("body") or {}
            pretty = _pretty(body.get("string"))
            if pretty is not None:
                interaction["response"]["body"] = {"json": pretty}
        text: str = yaml.dump(cassette_dict, Dumper=_dumper(), sort_keys=False, allow_unicode=True, width=120)
        return text

    @staticmethod
    def deserialize(cassette_string: str) -> dict[str, Any]:
        yaml = _yaml()

        data: dict[str, Any] = yaml.safe_load(cassette_string) or {}
        for interaction in data.get("interactions", ()):
            request = interaction["request"]
            if isinstance(request.get("body"), dict) and "json" in request["body"]:
                request["body"] = request["body"]["json"]
            response = interaction["response"]
            body = response.get("body") or {}
            if "json" in body:
                text = body["json"]
                response["body"] = {"string": text}
                _set_content_length(response.get("headers") or {}, len(text.encode()))
        return data


_YAML_BREAKS = ("\x85", "\u2028", "\u2029")


def _dumper() -> Any:
    yaml = _yaml()

    class Dumper(yaml.SafeDumper):  # type: ignore[misc,name-defined]
        pass

    def represent_str(dumper: Any, value: str) -> Any:
        # YAML reads NEL, LS and PS as line breaks in every style but double-quoted, where they are escaped.
        if any(ch in value for ch in _YAML_BREAKS):
            return dumper.represent_scalar("tag:yaml.org,2002:str", value, style='"')
        # Literal blocks cannot hold trailing spaces on a line or carriage returns; those stay quoted.
        if "\n" in value and "\r" not in value and not any(line.endswith(" ") for line in value.split("\n")):
            return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
        return dumper.represent_scalar("tag:yaml.org,2002:str", value)

    Dumper.add_representer(str, represent_str)
    return Dumper


def _before_record_request(request: Any) -> Any:
    """Drop every request header whose name suggests a credential (gateways and proxies invent their own:
    ``Proxy-Authorization``, ``x-portkey-api-key``, ``Helicone-Auth``, ``Ocp-Apim-Subscription-Key``...).
    vcrpy hands us a copy, so the request actually sent is untouched."""
    headers = request.headers
    for name in [n for n in headers if SECRET_HEADER.search(n)]:
        del headers[name]
    return request


def _before_record_response(response: dict[str, Any]) -> dict[str, Any]:
    headers = response.get("headers") or {}
    for name in list(headers):
        if name.lower() in FILTERED_RESPONSE_HEADERS:
            del headers[name]
    return response


def make_vcr(record_mode: str = "none", **overrides: Any) -> Any:
    """A ``vcr.VCR`` with agentlightning's defaults (see the module table); keyword arguments override them."""
    try:
        vcr: Any = importlib.import_module("vcr")
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("cassettes need vcrpy >= 9: pip install 'vcrpy>=9'") from exc
    if record_mode not in RECORD_MODES:
        raise ValueError(f"record_mode must be one of {', '.join(RECORD_MODES)}, not {record_mode!r}")
    options: dict[str, Any] = {
        "record_mode": record_mode,
        "match_on": MATCH_ON,
        "filter_headers": list(FILTERED_REQUEST_HEADERS),
        "before_record_response": _before_record_response,
        "decode_compressed_response": True,
        "serializer": "agentlightning-yaml",
    }
    theirs = overrides.pop("before_record_request", None)
    if theirs is None:
        options["before_record_request"] = _before_record_request
    else:  # the caller's hooks run after ours, so no credential slips through by overriding
        options["before_record_request"] = (
            _before_record_request,
            *(theirs if isinstance(theirs, Iterable) else (theirs,)),
        )
    options.update(overrides)
    recorder = vcr.VCR(**options)
    recorder.register_serializer("agentlightning-yaml", PrettyJSONYAMLSerializer())
    return recorder


def use_cassette(path: str | Path, record_mode: str = "none", **overrides: Any) -> AbstractContextManager[Any]:
    """Replay (or record, per ``record_mode``) the HTTP inside the ``with`` block from/to ``path``.

    With ``record_mode="none"`` a missing file raises ``FileNotFoundError`` at once, with the command that
    records it, rather than failing later on the first unmatched request.
    """
    path = Path(path)
    if record_mode == "none" and not path.exists():
        raise FileNotFoundError(
            f"Cassette {path} does not exist and the record mode is 'none' (replay only). "
            "Record it once against a live server with record mode 'once' "
            "(pytest --record-mode=once, or agentlightning-run --record PATH)."
        )
    manager: AbstractContextManager[Any] = make_vcr(record_mode, **overrides).use_cassette(str(path))
    return manager
