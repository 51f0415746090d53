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
matching            method, scheme, path, query and body -- not host or port, so a recording made against a
                    local server on a random port (or a proxy) replays anywhere. JSON bodies are compared as
                    JSON (key order and whitespace do not matter), other bodies byte for byte; a request
                    whose prompt changed no longer replays the old answer. ``match_body=False`` (here, on the
                    ``cassette`` marker or fixture options, or ``pytest --cassette-ignore-body``) leaves the
                    body out, for tests that send something different each run (a timestamp in the prompt)
filtered headers    request: ``authorization``, ``api-key``, ``x-api-key``, ``openai-organization``,
                    ``openai-project``, ``cookie``, and any header whose name contains ``auth``, ``key``,
                    ``token``, ``secret``, ``cookie``, ``signature`` or ``session`` (any case: gateway keys,
                    ``Proxy-Authorization``); response: ``set-cookie``, ``openai-organization``,
                    ``openai-project`` -- secrets never reach the file
filtered query      parameters whose name contains ``auth``, ``key``, ``token``, ``secret``, ``signature``,
                    ``session``, ``password`` or ``credential``, or is ``sig`` or ``code`` (``?key=``,
                    ``api-key=``, ``api_key=``, Azure SAS ``sig=``): left out of the file and of matching
stable files        the local server's address is written as ``127.0.0.1`` without its port (URI and
                    ``host`` header of requests to ``localhost``, ``127.x`` or ``::1``); response headers that
                    change on every call are dropped (``date``, ``age``, ``expires``, request ids, ``cf-ray``,
                    ``openai-processing-ms``, ``x-envoy-upstream-service-time``, ``x-ratelimit-remaining-*``,
                    ``x-ratelimit-reset-*``), so re-recording the same session rewrites the file byte for
                    byte and a diff shows real changes
format              YAML; JSON bodies are stored pretty-printed under ``json:`` as a literal block, event
                    streams as readable text. Compressed responses are stored decoded.
==================  ==========================================================================================

A whole process run (what ``agentlightning-run --record/--replay`` does) is one ``with use_cassette(...)``
around it; :func:`use_cassette` is also exported as ``agentlightning.testing.use_cassette``.
"""

from __future__ import annotations

import difflib
import importlib
import ipaddress
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

__all__ = [
    "FILTERED_REQUEST_HEADERS",
    "FILTERED_RESPONSE_HEADERS",
    "MATCH_ON",
    "MATCH_ON_WITHOUT_BODY",
    "RECORD_MODES",
    "SECRET_HEADER",
    "SECRET_QUERY",
    "VOLATILE_RESPONSE_HEADERS",
    "PrettyJSONYAMLSerializer",
    "body_matcher",
    "make_vcr",
    "use_cassette",
]

RECORD_MODES = ("none", "once", "new_episodes", "all")
MATCH_ON = ("method", "scheme", "path", "query", "body")
MATCH_ON_WITHOUT_BODY = ("method", "scheme", "path", "query")
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
SECRET_QUERY = re.compile(r"auth|key|token|secret|signature|session|password|credential|^sig$|^code$", re.IGNORECASE)
"""Query parameters whose name matches this are dropped from recorded URIs (and so from matching)."""
VOLATILE_RESPONSE_HEADERS = frozenset(
    {
        "date",
        "age",
        "expires",
        "x-request-id",
        "request-id",
        "apim-request-id",
        "x-ms-request-id",
        "x-ms-client-request-id",
        "x-amzn-requestid",
        "cf-ray",
        "openai-processing-ms",
        "x-envoy-upstream-service-time",
    }
)
"""Response headers that differ on every call, dropped so re-recording changes nothing that did not change."""
_VOLATILE_PREFIXES = ("x-ratelimit-remaining", "x-ratelimit-reset")
LOCAL_HOST = "127.0.0.1"


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


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _stable_uri(uri: str) -> tuple[str, bool]:
    """``uri`` without secret query parameters and, for a loopback host, without its port; and whether it
    was a loopback one."""
    parts = urlsplit(uri)
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        kept = [(k, v) for k, v in pairs if not SECRET_QUERY.search(k)]
        if len(kept) != len(pairs):
            query = urlencode(kept)
    netloc = parts.netloc
    local = _is_loopback(parts.hostname)
    if local:
        netloc = LOCAL_HOST
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment)), local


def _before_record_request(request: Any) -> Any:
    """Drop every request header whose name suggests a credential (gateways and proxies invent their own:
    ``Proxy-Authorization``, ``x-portkey-api-key``, ``Helicone-Auth``, ``Ocp-Apim-Subscription-Key``...),
    secret query parameters, and the port of a local server (see the module table). vcrpy hands us a copy,
    and filters the request being replayed the same way before matching, so the request actually sent is
    untouched and a filtered recording still matches it."""
    headers = request.headers
    for name in [n for n in headers if SECRET_HEADER.search(n)]:
        del headers[name]
    uri, local = _stable_uri(request.uri)
    if uri != request.uri:
        request.uri = uri
    if local:
        for name in [n for n in headers if n.lower() == "host"]:
            headers[name] = LOCAL_HOST
    return request


def _before_record_response(response: dict[str, Any]) -> dict[str, Any]:
    headers = response.get("headers") or {}
    for name in list(headers):
        lower = name.lower()
        if (
            lower in FILTERED_RESPONSE_HEADERS
            or lower in VOLATILE_RESPONSE_HEADERS
            or lower.startswith(_VOLATILE_PREFIXES)
        ):
            del headers[name]
    return response


def _comparable_body(request: Any) -> tuple[str, Any]:
    """A request body as it is compared: parsed JSON when it is JSON, else its bytes."""
    body: Any = request.body
    if hasattr(body, "read"):  # vcrpy gives a fresh BytesIO (or iterator) over the stored body on each access
        body = body.read()
    elif body is not None and not isinstance(body, (bytes, bytearray, str)):
        body = b"".join(c.encode() if isinstance(c, str) else bytes(c) for c in body)
    if isinstance(body, str):
        body = body.encode()
    if not body:
        return ("bytes", b"")
    if isinstance(body, (bytes, bytearray)) and body.lstrip()[:1] in (b"{", b"["):
        try:
            return ("json", json.loads(body))
        except ValueError:
            pass
    return ("bytes", bytes(body))


def _shown(body: tuple[str, Any]) -> list[str]:
    kind, value = body
    if kind == "json":
        return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False).splitlines()
    return value.decode("utf-8", "replace").splitlines() or [""]


def body_matcher(new: Any, recorded: Any) -> None:
    """vcrpy matcher ``body``: JSON bodies compared as JSON, others byte for byte; the failure shows a diff."""
    a, b = _comparable_body(new), _comparable_body(recorded)
    if a == b:
        return
    diff = list(difflib.unified_diff(_shown(b), _shown(a), "recorded", "this request", n=1, lineterm=""))
    shown = [line if len(line) <= 200 else line[:200] + "..." for line in diff[:20]]
    if len(diff) > 20:
        shown.append(f"... ({len(diff) - 20} more lines)")
    raise AssertionError(
        "\n".join(shown) + "\n(the request body changed: re-record the cassette, or ignore bodies with "
        "match_body=False / pytest --cassette-ignore-body)"
    )


body_matcher.__name__ = "body"  # vcrpy names a failing matcher by its __name__: "body differs"


def make_vcr(record_mode: str = "none", *, match_body: bool = True, **overrides: Any) -> Any:
    """A ``vcr.VCR`` with agentlightning's defaults (see the module table); keyword arguments override them.

    ``match_body=False`` leaves the body out of the default matching (``MATCH_ON_WITHOUT_BODY``), and out of
    a ``match_on`` given here."""
    try:
        vcr: Any = importlib.import_module("vcr")
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("cassettes need vcrpy >= 9: pip install 'vcrpy>=9'") from exc
    if record_mode not in RECORD_MODES:
        raise ValueError(f"record_mode must be one of {', '.join(RECORD_MODES)}, not {record_mode!r}")
    match_on = tuple(overrides.pop("match_on", MATCH_ON))
    if not match_body:
        match_on = tuple(m for m in match_on if m not in ("body", "raw_body"))
    options: dict[str, Any] = {
        "record_mode": record_mode,
        "match_on": match_on,
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
    recorder.register_matcher("body", body_matcher)
    return recorder


def use_cassette(
    path: str | Path, record_mode: str = "none", *, match_body: bool = True, **overrides: Any
) -> AbstractContextManager[Any]:
    """Replay (or record, per ``record_mode``) the HTTP inside the ``with`` block from/to ``path``.

    The same filters and matching as the pytest plugin (see the module table): use it around a whole script
    or process run. ``match_body=False`` replays requests whatever their body; other keyword arguments go to
    ``vcr.VCR`` (``match_on``, ``before_record_request``: run after ours, ``allow_playback_repeats``...).

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
    manager: AbstractContextManager[Any] = make_vcr(record_mode, match_body=match_body, **overrides).use_cassette(
        str(path)
    )
    return manager
