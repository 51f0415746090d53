"""What a set of rollouts amounts to: counts the run summary, ``ls`` and the report share.

Spans are recognised by their OpenTelemetry GenAI names (``gen_ai.operation.name``), never by position or
count, so root spans, emitters and other instrumentations' spans are counted for what they are.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TextIO

from agentlightning import semconv

if TYPE_CHECKING:
    from agentlightning.types import Rollout, Span

__all__ = ["Totals", "is_llm_call", "is_tool_call", "span_model", "span_tokens", "totals"]

_CALL_OPERATIONS = semconv.LLM_OPERATIONS | {semconv.OP_EMBEDDINGS}


def is_llm_call(span: Span) -> bool:
    return span.attributes.get(semconv.GEN_AI_OPERATION_NAME) in _CALL_OPERATIONS


def is_tool_call(span: Span) -> bool:
    return span.attributes.get(semconv.GEN_AI_OPERATION_NAME) == semconv.OP_EXECUTE_TOOL


def span_model(span: Span) -> str:
    attributes = span.attributes
    return str(attributes.get(semconv.GEN_AI_RESPONSE_MODEL) or attributes.get(semconv.GEN_AI_REQUEST_MODEL) or "?")


def span_tokens(span: Span) -> tuple[int, int]:
    attributes = span.attributes
    return _int(attributes.get(semconv.GEN_AI_USAGE_INPUT_TOKENS)), _int(
        attributes.get(semconv.GEN_AI_USAGE_OUTPUT_TOKENS)
    )


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


@dataclass
class Totals:
    rollouts: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    spans: int = 0
    calls_by_model: Counter[str] = field(default_factory=Counter)
    input_tokens: int = 0
    output_tokens: int = 0
    tool_calls: int = 0
    errors: int = 0
    rewards: list[float] = field(default_factory=list)

    @property
    def llm_calls(self) -> int:
        return sum(self.calls_by_model.values())

    def add(self, rollout: Rollout, spans: Sequence[Span]) -> None:
        from agentlightning.emitter.reward_helpers import find_final_reward

        self.rollouts += 1
        self.statuses[rollout.status] += 1
        self.spans += len(spans)
        for span in spans:
            if is_llm_call(span):
                self.calls_by_model[span_model(span)] += 1
                tokens_in, tokens_out = span_tokens(span)
                self.input_tokens += tokens_in
                self.output_tokens += tokens_out
            elif is_tool_call(span):
                self.tool_calls += 1
            if span.status.status_code == "ERROR":
                self.errors += 1
        reward = find_final_reward(spans)
        if reward is not None:
            self.rewards.append(reward)

    def rows(self) -> list[tuple[str, str]]:
        """(label, value) pairs, in the order a reader wants them."""
        statuses = ", ".join(f"{name} {n}" for name, n in sorted(self.statuses.items()))
        models = ", ".join(f"{model} {n}" for model, n in self.calls_by_model.most_common())
        if self.rewards:
            mean = sum(self.rewards) / len(self.rewards)
            rewards = f"{len(self.rewards)}: mean {mean:.3g} (min {min(self.rewards):.3g}, max {max(self.rewards):.3g})"
        else:
            rewards = "none"
        return [
            ("rollouts", f"{self.rollouts}" + (f" ({statuses})" if statuses else "")),
            ("spans", str(self.spans)),
            ("LLM calls", f"{self.llm_calls}" + (f" ({models})" if models else "")),
            ("tokens", f"in {self.input_tokens} / out {self.output_tokens}"),
            ("tool calls", str(self.tool_calls)),
            ("errors", str(self.errors)),
            ("rewards", rewards),
        ]


def totals(items: Iterable[tuple[Rollout, Sequence[Span]]]) -> Totals:
    result = Totals()
    for rollout, spans in items:
        result.add(rollout, spans)
    return result


def print_table(title: str, rows: Sequence[tuple[str, str]], stream: TextIO | None = None) -> None:
    """Two columns: a rich table on a terminal, aligned plain text otherwise (pipes, files, CI logs)."""
    stream = stream if stream is not None else sys.stderr
    if stream.isatty():
        try:
            from rich.console import Console
            from rich.table import Table
        except ImportError:
            pass
        else:
            table = Table(title=title, show_header=False, title_justify="left")
            table.add_column(style="bold")
            table.add_column()
            for label, value in rows:
                table.add_row(label, value)
            Console(file=stream).print(table)
            return
    width = max(len(label) for label, _ in rows)
    print(title, file=stream)
    for label, value in rows:
        print(f"  {label.ljust(width)}  {value}", file=stream)
