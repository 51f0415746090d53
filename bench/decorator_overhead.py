"""Direct-call overhead of a decorated agent versus the bare function.

    uv run python bench/decorator_overhead.py

A ``@rollout`` agent stays callable like the original function; this measures what that costs per call.
"""

from __future__ import annotations

import timeit

import agentlightning as agl


def bare(task: int, llm: agl.LLM) -> int:
    return task


decorated = agl.rollout(bare)
LLM = agl.LLM(endpoint="http://127.0.0.1:1/v1", model="m")
N = 1_000_000


def per_call_ns(fn: object) -> float:
    timer = timeit.Timer("fn(1, llm)", globals={"fn": fn, "llm": LLM})
    return min(timer.repeat(repeat=5, number=N)) / N * 1e9


def main() -> None:
    b = per_call_ns(bare)
    d = per_call_ns(decorated)
    print(f"bare function:       {b:7.1f} ns/call")
    print(f"@agl.rollout agent:  {d:7.1f} ns/call")
    print(f"overhead:            {d - b:7.1f} ns/call")


if __name__ == "__main__":
    main()
