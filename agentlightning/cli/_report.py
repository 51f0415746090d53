"""``agentlightning report``: one self-contained HTML file of rollouts, spans and rewards.

The file has no external reference at all (no CDN, no font, no image URL): styles, script and data are
inline, so it opens offline, from an e-mail attachment or a CI artefact. It shows

- totals: rollouts, spans, LLM calls, input/output tokens, errors, mean reward;
- a chart of the reward per rollout (coloured by resources version) and a table of the mean reward per
  resources version, with each version's prompt templates and models side by side, the best one marked
  (a prompt-optimization run shows which template won);
- the rollouts (status, reward, spans, tokens; filterable), and for the selected one a waterfall timeline
  of its span tree; clicking a span shows its attributes, events and error.

The waterfall draws only the rows in view, so a rollout of 10,000 spans scrolls as fast as one of ten.
The data sit in a ``<script type="application/json">`` block and are put on the page with ``textContent``
only: span content can never run as code.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._errors import UsageError
from ._store import open_store, store_location
from ._summary import is_llm_call, span_tokens, totals

if TYPE_CHECKING:
    import argparse

    from agentlightning.store.base import LightningStore
    from agentlightning.types import Rollout, Span

__all__ = ["build_report", "report_command", "write_report"]

_TEMPLATE = Path(__file__).with_name("report_template.html")


def _span_record(span: Span) -> dict[str, Any]:
    record: dict[str, Any] = {
        "id": span.span_id,
        "parent": span.parent_id,
        "name": span.name,
        "start": span.start_time,
        "end": span.end_time,
        "status": span.status.status_code,
        "attributes": span.attributes,
    }
    if span.status.description:
        record["description"] = span.status.description
    if span.events:
        record["events"] = [{"name": e.name, "time": e.timestamp, "attributes": e.attributes} for e in span.events]
    if is_llm_call(span):
        record["tokens"] = list(span_tokens(span))
    from agentlightning.emitter.reward_helpers import get_reward_value

    reward = get_reward_value(span)
    if reward is not None:
        record["reward"] = reward
    return record


def _resources(store: LightningStore, ids: set[str]) -> dict[str, Any]:
    from agentlightning._utils import run_sync

    result: dict[str, Any] = {}
    for resources_id in sorted(ids):
        update = run_sync(store.get_resources_by_id(resources_id))
        if update is None:
            continue
        described = {}
        for name, resource in update.resources.items():
            template = getattr(resource, "template", None)
            model = getattr(resource, "model", None)
            described[name] = template if template is not None else f"{type(resource).__name__} {model or ''}".strip()
        result[resources_id] = {"version": update.version, "created": update.create_time, "resources": described}
    return result


def build_report(store: LightningStore, rollouts: list[Rollout], title: str = "agentlightning report") -> str:
    """The report's HTML for ``rollouts`` (their latest attempts)."""
    from agentlightning._utils import run_sync
    from agentlightning.emitter.reward_helpers import find_final_reward

    items = [(r, run_sync(store.query_spans(r.rollout_id, "latest"))) for r in rollouts]
    summary = totals(items)
    data = {
        "title": title,
        "totals": dict(summary.rows()),
        "rollouts": [
            {
                "id": r.rollout_id,
                "status": r.status,
                "mode": r.mode,
                "resources_id": r.resources_id,
                "start": r.start_time,
                "end": r.end_time,
                "input": r.input if len(json.dumps(r.input, default=str)) < 2000 else str(r.input)[:2000] + "…",
                "reward": find_final_reward(spans),
                "spans": [_span_record(s) for s in spans],
            }
            for r, spans in items
        ],
        "resources": _resources(store, {r.resources_id for r in rollouts if r.resources_id}),
    }
    payload = json.dumps(data, default=str, ensure_ascii=False, allow_nan=False).replace("</", "<\\/")
    return _TEMPLATE.read_text(encoding="utf-8").replace("/*DATA*/null", payload, 1)


def write_report(store: LightningStore, rollouts: list[Rollout], path: str) -> None:
    html = build_report(store, rollouts)
    try:
        Path(path).write_text(html, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"-o {path}: cannot write the report there ({exc.strerror or exc})") from None


def report_command(ns: argparse.Namespace) -> int:
    from ._views import resolve_rollouts

    location = store_location(ns.store)
    store = open_store(location, create=False)
    try:
        rollouts = resolve_rollouts(store, ns.rollout, location)
        write_report(store, rollouts, ns.output)
    finally:
        store.close()
    print(f"report of {len(rollouts)} rollouts written to {ns.output}", file=sys.stderr)
    return 0
