"""``agentlightning show``, ``ls`` and ``export``: read a store, print or write what it holds.

- ``show [ROLLOUT_ID]``: the span tree of a rollout (latest attempt; the newest rollout by default) with
  durations, tokens, status and rewards.
- ``ls``: rollouts, newest first, with status, reward, span and token counts (``--status``, ``--mode``,
  ``--limit``).
- ``export --format triplets|messages|spans``: JSON Lines (``-o FILE``, else standard output) through the
  adapters: ``triplets`` are :class:`~agentlightning.Triplet` records (``Triplet.model_validate_json`` reads
  each line back; ``metadata.rollout_id`` says where it came from), ``messages`` are OpenAI fine-tuning
  records, ``spans`` the stored spans themselves.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any, TextIO

from ._errors import UsageError
from ._store import open_store, store_location
from ._summary import is_llm_call, span_tokens

if TYPE_CHECKING:
    import argparse

    from agentlightning.store.base import LightningStore
    from agentlightning.types import Rollout, Span

__all__ = ["export_command", "ls_command", "resolve_rollouts", "show_command"]


def resolve_rollouts(store: LightningStore, ids: list[str] | None, location: str) -> list[Rollout]:
    """The rollouts named by ``ids`` (all of them when none), in creation order; unknown ids are usage errors."""
    from agentlightning._utils import run_sync

    if not ids:
        return run_sync(store.query_rollouts())
    found = {r.rollout_id: r for r in run_sync(store.query_rollouts(rollout_id_in=list(ids)))}
    missing = [i for i in ids if i not in found]
    if missing:
        raise UsageError(
            f"no rollout {missing[0]} in the store {location}; `agentlightning ls` lists the rollouts there"
        )
    return [found[i] for i in dict.fromkeys(ids)]


def _spans(store: LightningStore, rollout_id: str) -> list[Span]:
    from agentlightning._utils import run_sync

    return run_sync(store.query_spans(rollout_id, "latest"))


def _reward(spans: list[Span]) -> float | None:
    from agentlightning.emitter.reward_helpers import find_final_reward

    return find_final_reward(spans)


def _tokens(spans: list[Span]) -> tuple[int, int]:
    pairs = [span_tokens(s) for s in spans if is_llm_call(s)]
    return sum(p[0] for p in pairs), sum(p[1] for p in pairs)


def _short(value: Any, width: int = 48) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


# ---- ls -----------------------------------------------------------------------------------------


def ls_command(ns: argparse.Namespace) -> int:
    from agentlightning._utils import run_sync

    location = store_location(ns.store)
    store = open_store(location, create=False)
    try:
        rollouts = run_sync(store.query_rollouts(status_in=ns.status or None, mode_in=ns.mode or None))
        rollouts = sorted(rollouts, key=lambda r: r.start_time, reverse=True)
        if ns.limit >= 0:
            rollouts = rollouts[: ns.limit]
        header = ("rollout", "status", "started", "reward", "spans", "tokens in/out", "input")
        rows: list[tuple[str, ...]] = []
        for rollout in rollouts:
            spans = _spans(store, rollout.rollout_id)
            reward = _reward(spans)
            tokens = _tokens(spans)
            rows.append(
                (
                    rollout.rollout_id,
                    rollout.status,
                    datetime.fromtimestamp(rollout.start_time).strftime("%Y-%m-%d %H:%M:%S"),
                    "-" if reward is None else f"{reward:.3g}",
                    str(len(spans)),
                    f"{tokens[0]}/{tokens[1]}",
                    _short(rollout.input),
                )
            )
    finally:
        store.close()
    if not rows:
        print(f"no rollouts in {location}", file=sys.stderr)
        return 0
    _print_columns(header, rows, sys.stdout)
    return 0


def _print_columns(header: tuple[str, ...], rows: list[tuple[str, ...]], stream: TextIO) -> None:
    if stream.isatty():
        try:
            from rich.console import Console
            from rich.table import Table
        except ImportError:
            pass
        else:
            table = Table(*header)
            for row in rows:
                table.add_row(*row)
            Console(file=stream).print(table)
            return
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    for row in (header, *rows):
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip(), file=stream)


# ---- show ---------------------------------------------------------------------------------------


def show_command(ns: argparse.Namespace) -> int:
    from agentlightning._utils import run_sync

    location = store_location(ns.store)
    store = open_store(location, create=False)
    try:
        if ns.rollout_id:
            rollout = resolve_rollouts(store, [ns.rollout_id], location)[0]
        else:
            rollouts = run_sync(store.query_rollouts())
            if not rollouts:
                raise UsageError(f"the store {location} holds no rollout yet; run `agentlightning-run script.py` first")
            rollout = max(rollouts, key=lambda r: r.start_time)
        spans = _spans(store, rollout.rollout_id)
    finally:
        store.close()
    reward = _reward(spans)
    tokens = _tokens(spans)
    out = sys.stdout
    print(
        f"{rollout.rollout_id}  {rollout.status}  reward={'-' if reward is None else f'{reward:.3g}'}  "
        f"spans={len(spans)}  tokens in/out={tokens[0]}/{tokens[1]}  input={_short(rollout.input, 60)}",
        file=out,
    )
    for depth, span in _tree(spans):
        print("  " * (depth + 1) + _span_line(span), file=out)
    return 0


def _tree(spans: list[Span]) -> Iterator[tuple[int, Span]]:
    """Spans depth-first in start order; a span whose parent is not in the rollout is a root."""
    ids = {s.span_id for s in spans}
    children: dict[str | None, list[Span]] = {}
    for span in spans:
        parent = span.parent_id if span.parent_id in ids else None
        children.setdefault(parent, []).append(span)
    for group in children.values():
        group.sort(key=lambda s: (s.start_time or 0.0, s.sequence_id))
    stack = [(0, s) for s in reversed(children.get(None, []))]
    while stack:
        depth, span = stack.pop()
        yield depth, span
        stack.extend((depth + 1, c) for c in reversed(children.get(span.span_id, [])))


def _span_line(span: Span) -> str:
    from agentlightning.emitter.reward_helpers import get_reward_value

    parts = [span.name]
    if span.start_time is not None and span.end_time is not None:
        parts.append(f"{(span.end_time - span.start_time) * 1000:.1f} ms")
    if is_llm_call(span):
        tokens_in, tokens_out = span_tokens(span)
        parts.append(f"tokens {tokens_in}/{tokens_out}")
    reward = get_reward_value(span)
    if reward is not None:
        parts.append(f"reward {reward:.3g}")
    if span.status.status_code == "ERROR":
        parts.append(f"ERROR {span.status.description or span.attributes.get('error.type', '')}".rstrip())
    return "  ".join(parts)


# ---- export -------------------------------------------------------------------------------------


@contextmanager
def _output(path: str | None) -> Iterator[TextIO]:
    if path is None or path == "-":
        yield sys.stdout
        return
    try:
        file = open(path, "w", encoding="utf-8")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise UsageError(f"-o {path}: cannot write there ({exc.strerror or exc})") from None
    with file:
        yield file


def export_command(ns: argparse.Namespace) -> int:
    location = store_location(ns.store)
    store = open_store(location, create=False)
    try:
        rollouts = resolve_rollouts(store, ns.rollout, location)
        records: list[str] = []
        if ns.format == "triplets":
            from agentlightning.adapter import TracerTraceToTriplet

            adapter: Any = TracerTraceToTriplet()
            for rollout in rollouts:
                for triplet in adapter.adapt(_spans(store, rollout.rollout_id)):
                    triplet.metadata.setdefault("rollout_id", rollout.rollout_id)
                    records.append(triplet.model_dump_json())
        elif ns.format == "messages":
            from agentlightning.adapter import TraceToMessages

            adapter = TraceToMessages()
            for rollout in rollouts:
                records += [json.dumps(r, ensure_ascii=False) for r in adapter.adapt(_spans(store, rollout.rollout_id))]
        else:
            for rollout in rollouts:
                records += [span.model_dump_json() for span in _spans(store, rollout.rollout_id)]
    finally:
        store.close()
    with _output(ns.output) as out:
        for record in records:
            out.write(record + "\n")
    if ns.output not in (None, "-"):
        print(f"{len(records)} {ns.format} from {len(rollouts)} rollouts written to {ns.output}", file=sys.stderr)
    return 0
