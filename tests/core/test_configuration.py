"""The one configuration table: nobody reads its variables from the environment but the table, and no part of
the package imports another part's private modules (issue 9)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from agentlightning import semconv
from agentlightning._config import OPTIONS, option_value

PACKAGE = Path(__file__).resolve().parents[2] / "agentlightning"


def _sources() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "testing" not in p.relative_to(PACKAGE).parts[:1])


def test_table_variables_are_read_only_through_the_table() -> None:
    names = {variable for option in OPTIONS for variable, _ in option.env}
    constants = {n for n in dir(semconv) if isinstance(getattr(semconv, n), str) and getattr(semconv, n) in names}
    spelled = "|".join(re.escape(n) for n in sorted(names | constants))
    read = re.compile(rf"(?:environ\.get\(|environ\[|getenv\()\s*(?:semconv\.)?[\"']?(?:{spelled})\b")
    write = re.compile(r"environ\[[^]]+\]\s*=")  # the CLI sets variables for the processes it starts
    offenders = [
        f"{path.relative_to(PACKAGE.parent)}:{number}: {line.strip()}"
        for path in _sources()
        if path != PACKAGE / "_config.py"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if read.search(line) and not write.search(line)
    ]
    assert offenders == [], "read these through agentlightning._config.option_value:\n" + "\n".join(offenders)


@pytest.mark.parametrize("package", ["instrumentation", "tracer", "emitter", "runner"])
def test_no_private_cross_package_imports(package: str) -> None:
    """``agentlightning.<package>`` never imports ``agentlightning.<other>._x`` (the root's ``_x`` are shared)."""
    pattern = re.compile(r"^\s*(?:from|import)\s+agentlightning\.(\w+)\.(_\w+)", re.MULTILINE)
    offenders = []
    for path in sorted((PACKAGE / package).rglob("*.py")):
        own = package
        for match in pattern.finditer(path.read_text()):
            if match.group(1) != own:
                offenders.append(
                    f"{path.relative_to(PACKAGE.parent)}: agentlightning.{match.group(1)}.{match.group(2)}"
                )
    assert offenders == [], "\n".join(offenders)


@pytest.mark.parametrize(
    ("name", "environ", "given", "expected"),
    [
        ("run_id", {"AGENTLIGHTNING_RUN_ID": " nightly "}, None, "nightly"),
        ("run_id", {"AGENTLIGHTNING_RUN_ID": "nightly"}, "given", "given"),
        ("run_id", {"AGENTLIGHTNING_RUN_ID": "  "}, None, None),
        ("auto_instrument", {"AGENTLIGHTNING_AUTO_INSTRUMENT": "off"}, None, False),
        ("auto_instrument", {"AGENTLIGHTNING_AUTO_INSTRUMENT": "maybe"}, None, True),
        ("store", {}, None, ".agentlightning/store.db"),
        ("otlp_timeout", {"OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": "x", "OTEL_EXPORTER_OTLP_TIMEOUT": "7"}, None, 7.0),
        (
            "otlp_traces_endpoint",
            {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"},
            None,
            "http://c:4318/v1/traces",
        ),
    ],
)
def test_option_values(name: str, environ: dict[str, str], given: object, expected: object) -> None:
    assert option_value(name, given, environ) == expected
