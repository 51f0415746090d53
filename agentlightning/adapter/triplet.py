"""Spans to training triplets: :class:`TracerTraceToTriplet`.

Usage::

    from agentlightning.adapter import TracerTraceToTriplet

    spans = await store.query_spans(rollout_id)
    for t in TracerTraceToTriplet()(spans):
        t.prompt["token_ids"], t.response["token_ids"], t.reward, t.metadata["response_id"]

One :class:`~agentlightning.types.Triplet` per LLM call the agent made, ordered by the call's start
time (then ``sequence_id``):

- ``prompt = {"token_ids": [...], "raw_content": ...}``: token ids from ``agentlightning.prompt_token_ids``
  (or agent-lightning 0.3's ``prompt_token_ids``; a list of ints or JSON text; ``[]`` when not recorded),
  raw content from ``gen_ai.input.messages`` (JSON parsed; else the flattened ``gen_ai.prompt.*``
  attributes AgentOps writes; ``None`` when content capture was off).
- ``response = {"token_ids": [...], "raw_content": ...}``: the same from ``agentlightning.response_token_ids``
  and ``gen_ai.output.messages`` (else ``gen_ai.completion.*``).
- ``reward``: see "Rewards" below; ``None`` for a call no reward was given to.
- ``metadata``: ``response_id``, ``model``, ``agent_name``, ``span_id``, ``trace_id``, and ``request`` /
  ``response`` (the ``gen_ai.request.*`` / ``gen_ai.response.*`` attributes without their prefix).

How the spans are read, step by step:

1. **Tree.** Spans are linked to their parent by ``(trace_id, parent_id)``; a span id seen twice is
   kept once (the first). ReadableSpan objects are converted with ``Span.from_opentelemetry``.
2. **Hierarchy repair** (``repair_hierarchy=True``). A span whose parent is not in the list (no
   ``parent_id``, or a parent that was lost: another process, a thread that dropped the context) is
   re-attached under the *smallest span that encloses it in time*: ``start <= its start`` and
   ``end >= its end``, strictly longer than it, never one of its own descendants; ties go to the span
   that started later. Spans that nothing encloses (the real root) stay top-level, as children of an
   implicit root. Recorded parents are always trusted. Spans without start and end times are left alone.
3. **LLM calls.** A span is an LLM call when its name matches ``llm_call_match`` (``re.search``) or its
   ``gen_ai.operation.name`` is ``chat``, ``text_completion`` or ``generate_content`` (so our GenAI spans
   count even under a custom pattern). The default pattern, :data:`DEFAULT_LLM_CALL_MATCH`, is
   ``^(?:chat|text_completion|generate_content)(?: |$)|openai\\.chat\\.completion|chat_model\\.llm``. Then:

   - ``agent_match`` (a regex, default ``None`` = every call counts): only calls whose *nearest* enclosing
     agent span matches count. An agent span is an ``invoke_agent`` span (name from ``gen_ai.agent.name``)
     or a span with ``agent.name``, AgentOps ``agentops.span.kind == "agent"``, ``recipient_agent_type``,
     ``langchain.chain.type`` or ``executor.id``. The pattern is searched in the agent's name and in the
     span name. Below the nearest agent, a LangGraph node span (``agentlightning.langgraph.node``, written
     by the LangChain plugin) whose node name matches also selects the calls inside it. So, for LangChain
     and LangGraph: a ``create_agent`` / ``create_react_agent`` graph is the agent ``invoke_agent {name}``
     (``name=`` given to it, else the graph's name: ``agent_match="^calc$"`` takes every call it makes);
     a hand-built ``StateGraph`` has no agent span (graph and nodes are ``invoke_workflow`` spans), and
     ``agent_match="^(plan|write)$"`` takes the calls made inside its nodes ``plan`` and ``write``; an
     agent nested inside another (an agent called from a tool) is matched on its own name, as it is the
     nearest agent of its calls. ``metadata["agent_name"]`` stays the nearest agent's name (``None`` in
     a hand-built graph).
   - ``exclude_llm_call_in_reward=True``: calls inside the subtree of a reward span (a span carrying a
     reward, a span named ``reward`` / ``agentlightning.reward``, or an ``agentlightning.operation`` span
     whose operation name is ``reward``) are not training calls (an LLM judge, say) and are skipped.
   - Duplicates: the same call seen by two instrumentation layers is kept once. Calls are visited outermost
     first (depth-first, siblings by start time); a call whose ``gen_ai.response.id`` was already taken is
     skipped, and so is a call without a response id nested inside another LLM call.

4. **Rewards** (values read by :func:`agentlightning.emitter.get_reward_value`):

   - ``reward_match="first_occurrence"`` (default): rewards are taken in start-time order; each goes to
     the *latest-started* LLM call that has no reward yet and *ended before the reward span started*. A
     reward with no such call (emitted before any call finished) is dropped and logged at DEBUG level.
   - ``reward_match="first_sibling"``: the same rule, but only among the reward span's siblings in the tree
     (agent-lightning 0.3's other policy).

Empty triplets: by default the instrumentations record no message content, and only a server that returns
token ids (vLLM-style) gives ``token_ids``; a triplet can then hold neither. The first time this adapter
returns such triplets in a process it logs one WARNING saying so: training data needs
``capture_content=True`` (``instrument_all(capture_content=True)`` or ``AGENTLIGHTNING_CAPTURE_CONTENT=true``)
or a server that returns token ids.

Cost: O(n log n) in the number of spans (sorting, a Fenwick tree for the repair, a heap for rewards).
"""

from __future__ import annotations

import heapq
import logging
import math
import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from enum import Enum
from typing import Any

from agentlightning.emitter.reward_helpers import get_reward_value
from agentlightning.semconv import (
    AGL_LANGGRAPH_NODE,
    AGL_OPERATION,
    AGL_OPERATION_NAME,
    GEN_AI_INPUT_MESSAGES,
    GEN_AI_OUTPUT_MESSAGES,
    GEN_AI_REQUEST_MODEL,
    GEN_AI_RESPONSE_MODEL,
    LEGACY_REWARD_SPAN_NAMES,
)
from agentlightning.types import Span, Triplet

from .base import (
    _PROMPT_TOKEN_ID_KEYS,
    _RESPONSE_TOKEN_ID_KEYS,
    DEFAULT_LLM_CALL_MATCH,
    TraceAdapter,
    _agent_name,
    _is_llm_call,
    _json_attr,
    _response_id,
    _time_key,
    _to_spans,
    _token_ids,
    _unflatten,
)

__all__ = ["RewardMatchPolicy", "TraceToTripletBase", "TracerTraceToTriplet"]

logger = logging.getLogger(__name__)

_empty_hint_logged = False
"""Whether the empty-triplet hint was logged in this process (it is logged once)."""

_REQUEST_PREFIX = "gen_ai.request."
_RESPONSE_PREFIX = "gen_ai.response."


class RewardMatchPolicy(str, Enum):
    """How rewards are matched to LLM calls; see the module docstring."""

    FIRST_SIBLING = "first_sibling"
    FIRST_OCCURRENCE = "first_occurrence"


class TraceToTripletBase(TraceAdapter[list[Triplet]]):
    """Base for adapters that turn spans into a list of :class:`~agentlightning.types.Triplet`."""


class TracerTraceToTriplet(TraceToTripletBase):
    """Turn a rollout's spans into one :class:`~agentlightning.types.Triplet` per LLM call, with rewards.

    Args:
        repair_hierarchy: re-attach spans whose parent is missing under the smallest span enclosing them in time.
        llm_call_match: regex searched in span names to find LLM calls (GenAI LLM spans always count).
        agent_match: regex; when given, only LLM calls whose nearest enclosing agent matches count.
        exclude_llm_call_in_reward: skip LLM calls made inside a reward span's subtree.
        reward_match: ``"first_occurrence"`` or ``"first_sibling"`` (a :class:`RewardMatchPolicy`).

    Raises:
        ValueError: ``reward_match`` is not a known policy.
        re.error: ``llm_call_match`` or ``agent_match`` is not a valid regex.
    """

    def __init__(
        self,
        repair_hierarchy: bool = True,
        llm_call_match: str = DEFAULT_LLM_CALL_MATCH,
        agent_match: str | None = None,
        exclude_llm_call_in_reward: bool = True,
        reward_match: RewardMatchPolicy | str = RewardMatchPolicy.FIRST_OCCURRENCE,
    ) -> None:
        self.repair_hierarchy = repair_hierarchy
        self.llm_call_match = llm_call_match
        self.agent_match = agent_match
        self.exclude_llm_call_in_reward = exclude_llm_call_in_reward
        self.reward_match = RewardMatchPolicy(reward_match)
        re.compile(llm_call_match)
        if agent_match is not None:
            re.compile(agent_match)

    def adapt(self, source: Sequence[Any], /) -> list[Triplet]:
        """Triplets for the LLM calls in ``source`` (``Span`` or OpenTelemetry ``ReadableSpan`` objects)."""
        spans = _dedup_spans(_to_spans(source))
        parents = _link_parents(spans)
        if self.repair_hierarchy:
            _repair(spans, parents)
        children, roots = _children(spans, parents)
        rewards = [get_reward_value(span) for span in spans]
        calls = self._find_llm_calls(spans, children, roots, rewards)
        call_ids = [index for index, _ in calls]
        if self.reward_match is RewardMatchPolicy.FIRST_OCCURRENCE:
            given = _match_rewards(spans, call_ids, [i for i, r in enumerate(rewards) if r is not None], rewards)
        else:
            given = {}
            call_set = set(call_ids)
            for group in [roots, *children]:
                group_calls = [i for i in group if i in call_set]
                group_rewards = [i for i in group if rewards[i] is not None]
                if group_calls and group_rewards:
                    given.update(_match_rewards(spans, group_calls, group_rewards, rewards))
        calls.sort(key=lambda call: _time_key(spans[call[0]], call[0]))
        triplets = [_to_triplet(spans[index], agent, given.get(index)) for index, agent in calls]
        if not _empty_hint_logged:
            _hint_if_empty(triplets)
        return triplets

    def _find_llm_calls(
        self, spans: list[Span], children: list[list[int]], roots: list[int], rewards: list[float | None]
    ) -> list[tuple[int, str | None]]:
        """Depth-first walk (outermost first) selecting LLM calls: ``[(index, agent name)]``."""
        llm_re = re.compile(self.llm_call_match)
        agent_re = re.compile(self.agent_match) if self.agent_match is not None else None
        selected: list[tuple[int, str | None]] = []
        seen_response_ids: set[str] = set()
        # (index, agent allowed, agent name, inside a reward subtree, inside an LLM call)
        stack: list[tuple[int, bool, str | None, bool, bool]] = [
            (r, agent_re is None, None, False, False) for r in roots
        ]
        stack.reverse()
        while stack:
            index, agent_ok, agent, in_reward, in_llm = stack.pop()
            span = spans[index]
            if _is_llm_call(span, llm_re):
                if agent_ok and not (in_reward and self.exclude_llm_call_in_reward):
                    response_id = _response_id(span.attributes)
                    if response_id is None and in_llm:
                        pass  # an inner layer of the same call (e.g. a client span inside a framework span)
                    elif response_id is not None and response_id in seen_response_ids:
                        pass  # the same response recorded twice
                    else:
                        selected.append((index, agent))
                        if response_id is not None:
                            seen_response_ids.add(response_id)
                in_llm = True
            else:
                name = _agent_name(span)
                if name is not None:
                    agent = name
                    agent_ok = agent_re is None or bool(agent_re.search(name) or agent_re.search(span.name))
                elif not agent_ok and agent_re is not None:
                    node = span.attributes.get(AGL_LANGGRAPH_NODE)
                    agent_ok = isinstance(node, str) and bool(agent_re.search(node))
            in_reward = in_reward or rewards[index] is not None or _is_reward_scope(span)
            stack.extend((child, agent_ok, agent, in_reward, in_llm) for child in reversed(children[index]))
        return selected


def _is_reward_scope(span: Span) -> bool:
    """A span under which LLM calls are reward computations (an LLM judge), not agent steps."""
    if span.name in LEGACY_REWARD_SPAN_NAMES:
        return True
    return span.name == AGL_OPERATION and span.attributes.get(AGL_OPERATION_NAME) == "reward"


def _dedup_spans(spans: list[Span]) -> list[Span]:
    seen: set[tuple[str, str]] = set()
    unique: list[Span] = []
    for span in spans:
        key = (span.trace_id, span.span_id)
        if key not in seen:
            seen.add(key)
            unique.append(span)
    return unique


def _link_parents(spans: list[Span]) -> list[int]:
    """Parent index of each span, ``-1`` when it has none in ``spans``."""
    index_of = {(span.trace_id, span.span_id): i for i, span in enumerate(spans)}
    parents = [-1] * len(spans)
    for i, span in enumerate(spans):
        if span.parent_id:
            parent = index_of.get((span.trace_id, span.parent_id), -1)
            parents[i] = parent if parent != i else -1
    _break_cycles(parents)
    return parents


def _break_cycles(parents: list[int]) -> None:
    """Make spans whose recorded parents form a loop (reused span ids) top-level, so none is lost. O(n)."""
    state = [0] * len(parents)  # 0 unseen, 1 on the current path, 2 done
    for first in range(len(parents)):
        path: list[int] = []
        node = first
        while node != -1 and state[node] == 0:
            state[node] = 1
            path.append(node)
            node = parents[node]
        if node != -1 and state[node] == 1:
            parents[node] = -1  # cut the loop where the walk re-entered it
        for visited in path:
            state[visited] = 2


def _has_times(span: Span) -> bool:
    return span.start_time is not None and span.end_time is not None and span.start_time <= span.end_time


def _is_descendant(candidate: int, ancestor: int, parents: list[int]) -> bool:
    node, steps = candidate, 0
    while node != -1 and steps <= len(parents):
        if node == ancestor:
            return True
        node, steps = parents[node], steps + 1
    return False


class _SuffixMin:
    """Fenwick tree answering "smallest key among positions >= p" with keys that only ever decrease."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._tree: list[tuple[float, float, int] | None] = [None] * (size + 1)

    def update(self, position: int, key: tuple[float, float, int]) -> None:
        i = self._size - position
        while i <= self._size:
            current = self._tree[i]
            if current is None or key < current:
                self._tree[i] = key
            i += i & -i

    def query(self, position: int) -> tuple[float, float, int] | None:
        best: tuple[float, float, int] | None = None
        i = self._size - position
        while i > 0:
            current = self._tree[i]
            if current is not None and (best is None or current < best):
                best = current
            i -= i & -i
        return best


def _repair(spans: list[Span], parents: list[int]) -> None:
    """Attach each parentless span under the smallest span strictly enclosing it in time (see module docs)."""
    timed = [i for i, span in enumerate(spans) if _has_times(span)]
    if not any(parents[i] == -1 for i in timed):
        return
    start = {i: float(spans[i].start_time) for i in timed}  # type: ignore[arg-type]
    end = {i: float(spans[i].end_time) for i in timed}  # type: ignore[arg-type]
    ends = sorted(set(end.values()))
    inserted = _SuffixMin(len(ends))
    timed.sort(key=lambda i: (start[i], end[i], i))
    g = 0
    while g < len(timed):
        h = g
        while h < len(timed) and start[timed[h]] == start[timed[g]]:
            h += 1
        group = timed[g:h]  # same start, sorted by end
        group_ends = [end[i] for i in group]
        for i in group:
            if parents[i] != -1:
                continue
            # Key (duration, -start, -index): smallest enclosing span, ties to the later-starting one.
            best = inserted.query(bisect_left(ends, end[i]))  # started strictly earlier, ends no earlier
            j = bisect_right(group_ends, end[i])  # same start, ends strictly later
            if j < len(group):
                other = group[j]
                key = (end[other] - start[other], -start[other], -other)
                if best is None or key < best:
                    best = key
            if best is not None and not _is_descendant(-best[2], i, parents):
                parents[i] = -best[2]
        for i in group:
            inserted.update(bisect_left(ends, end[i]), (end[i] - start[i], -start[i], -i))
        g = h


def _children(spans: list[Span], parents: list[int]) -> tuple[list[list[int]], list[int]]:
    children: list[list[int]] = [[] for _ in spans]
    roots: list[int] = []
    for i, parent in enumerate(parents):
        (children[parent] if parent != -1 else roots).append(i)
    for group in [roots, *children]:
        if len(group) > 1:
            group.sort(key=lambda i: _time_key(spans[i], i))
    return children, roots


def _match_rewards(
    spans: list[Span], calls: Iterable[int], reward_spans: Iterable[int], values: list[float | None]
) -> dict[int, float]:
    """Give each reward (in start order) to the latest-started unrewarded call that ended before it started."""
    ended = sorted((i for i in calls if spans[i].end_time is not None), key=lambda i: (spans[i].end_time, i))
    pending: list[tuple[float, int, int]] = []  # max-heap on (start, sequence_id, index)
    given: dict[int, float] = {}
    k = 0
    for r in sorted(reward_spans, key=lambda i: _time_key(spans[i], i)):
        reward_start = spans[r].start_time
        if reward_start is None:
            logger.debug("reward span %s has no start time; its reward is not given to any LLM call", spans[r].span_id)
            continue
        while k < len(ended) and spans[ended[k]].end_time <= reward_start:  # type: ignore[operator]
            call = spans[ended[k]]
            call_start = call.start_time if call.start_time is not None else -math.inf
            heapq.heappush(pending, (-call_start, -call.sequence_id, -ended[k]))
            k += 1
        if not pending:
            logger.debug("reward span %s came before any LLM call ended; its reward is dropped", spans[r].span_id)
            continue
        value = values[r]
        if value is not None:
            given[-heapq.heappop(pending)[2]] = value
    return given


def _is_empty(part: dict[str, Any]) -> bool:
    return not part.get("token_ids") and part.get("raw_content") is None


def _hint_if_empty(triplets: list[Triplet]) -> None:
    global _empty_hint_logged
    empty = sum(1 for t in triplets if _is_empty(t.prompt) and _is_empty(t.response))
    if empty and not _empty_hint_logged:
        _empty_hint_logged = True
        logger.warning(
            "%d of %d training triplets have an empty prompt and response: no message content and no token ids "
            "were recorded for their LLM calls. Training data needs capture_content=True "
            "(agl.instrument_all(capture_content=True) or AGENTLIGHTNING_CAPTURE_CONTENT=true) or a model server "
            "that returns token ids (such as vLLM). Logged once per process.",
            empty,
            len(triplets),
        )


def _strip_prefix(attributes: dict[str, Any], prefix: str) -> dict[str, Any]:
    return {key[len(prefix) :]: value for key, value in attributes.items() if key.startswith(prefix)}


def _to_triplet(span: Span, agent_name: str | None, reward: float | None) -> Triplet:
    attributes = span.attributes
    prompt_raw = _json_attr(attributes, GEN_AI_INPUT_MESSAGES)
    if prompt_raw is None:
        prompt_raw = _unflatten(attributes, "gen_ai.prompt")
    response_raw = _json_attr(attributes, GEN_AI_OUTPUT_MESSAGES)
    if response_raw is None:
        response_raw = _unflatten(attributes, "gen_ai.completion")
    return Triplet(
        prompt={"token_ids": _token_ids(attributes, _PROMPT_TOKEN_ID_KEYS), "raw_content": prompt_raw},
        response={"token_ids": _token_ids(attributes, _RESPONSE_TOKEN_ID_KEYS), "raw_content": response_raw},
        reward=reward,
        metadata={
            "response_id": _response_id(attributes),
            "model": attributes.get(GEN_AI_RESPONSE_MODEL) or attributes.get(GEN_AI_REQUEST_MODEL),
            "agent_name": agent_name,
            "span_id": span.span_id,
            "trace_id": span.trace_id,
            "request": _strip_prefix(attributes, _REQUEST_PREFIX),
            "response": _strip_prefix(attributes, _RESPONSE_PREFIX),
        },
    )
