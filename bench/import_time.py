"""How much ``import agentlightning`` adds to interpreter start-up, and what it pulls in.

    uv run python bench/import_time.py

Each figure is the best of N fresh interpreters (``python -X importtime`` adds overhead of its own, so
wall-clock of whole runs is compared: ``python -c "import X"`` minus ``python -c "pass"``).
"""

from __future__ import annotations

import subprocess
import sys
import time

RUNS = 15
CASES = {
    "import agentlightning": "import agentlightning",
    "import agentlightning; agentlightning.instrument_all()": "import agentlightning; agentlightning.instrument_all()",
    "every public name of agentlightning": "import agentlightning as a; [getattr(a, n) for n in a.__all__]",
    "import openai (for scale)": "import openai",
}
FRAMEWORKS = ("openai", "langchain", "langchain_core", "autogen_agentchat", "autogen_core", "agentops")


def best_of(code: str) -> float:
    best = float("inf")
    for _ in range(RUNS):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    baseline = best_of("pass")
    print(f"interpreter start-up: {baseline * 1000:7.1f} ms (best of {RUNS})")
    for label, code in CASES.items():
        try:
            cost = best_of(code) - baseline
        except subprocess.CalledProcessError:
            print(f"{label:60s}   (not available)")
            continue
        print(f"{label:60s} +{cost * 1000:7.1f} ms")
    probe = (
        "import sys, agentlightning; agentlightning.instrument_all();"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({FRAMEWORKS!r})))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=False).stdout.strip()
    print(f"LLM frameworks imported by `import agentlightning; instrument_all()`: {out or '(probe failed)'}")


if __name__ == "__main__":
    main()
