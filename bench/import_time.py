"""How much ``import agentlightning`` (and ``instrument_all()`` at start-up) adds to interpreter start-up.

    uv run --all-packages python bench/import_time.py [--runs N]

The target (issue 14): ``import agentlightning; agentlightning.instrument_all()`` with no framework imported
adds at most 30 ms over a bare interpreter (``python -c pass``). That figure is printed first and last.

Each figure is the best of N fresh interpreters, as two numbers: CPU time (user + system, from ``wait4``; the
steadier one on a shared machine) and wall-clock. The interpreters run with a bytecode cache, as an installed
package does (``PYTHONDONTWRITEBYTECODE`` is dropped and ``PYTHONPYCACHEPREFIX`` points at a temporary folder,
warmed by one run per case, so nothing is written into the checkout); ``--instructions`` adds
instruction counts (valgrind), which a loaded machine does not disturb; ``--no-bytecode-cache`` measures
what ``PYTHONDONTWRITEBYTECODE=1`` gives in a fresh ``uv sync`` (which compiles nothing): every module outside
the standard library compiled from source on every run. ``python -X importtime`` adds overhead of its own, so whole
runs are compared: ``python -c "<case>"`` minus ``python -c "pass"``. Then the modules the target case imports
beyond a bare interpreter are listed, grouped by top-level package, so a regression shows what came back.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

TARGET = "import agentlightning; agentlightning.instrument_all()"
TARGET_MS = 30.0
CASES = {  # label -> code
    "import agentlightning": "import agentlightning",
    TARGET: TARGET,
    "every public name of agentlightning": "import agentlightning as a; [getattr(a, n) for n in a.__all__]",
    "import openai (for scale)": "import openai",
}
FRAMEWORKS = ("openai", "langchain", "langchain_core", "autogen_agentchat", "autogen_core", "agentops", "anthropic")
HEAVY = ("wrapt", "packaging", "opentelemetry", "importlib.metadata", "pydantic", "email", "asyncio", "inspect")


ENV = dict(os.environ)


def run_once(code: str) -> tuple[float, float]:
    """(cpu seconds, wall seconds) of one fresh interpreter running ``code``."""
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code], env=ENV)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise subprocess.CalledProcessError(proc.returncode, code)
    return usage.ru_utime + usage.ru_stime, wall


def best_of(code: str, runs: int) -> tuple[float, float]:
    run_once(code)  # warms the bytecode cache
    results = [run_once(code) for _ in range(runs)]
    return min(r[0] for r in results), min(r[1] for r in results)


def instructions(code: str) -> int:
    """Instructions one fresh interpreter running ``code`` executes (valgrind's callgrind; steady under load)."""
    run_once(code)  # warms the bytecode cache
    with tempfile.TemporaryDirectory() as folder:
        command = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={folder}/out", sys.executable, "-c", code]
        done = subprocess.run(command, capture_output=True, text=True, check=True, env=ENV)
    match = re.search(r"Collected : (\d+)", done.stderr)
    if match is None:
        raise RuntimeError(f"no instruction count in valgrind's output: {done.stderr[-500:]}")
    return int(match.group(1))


def imported_by(code: str) -> list[str]:
    probe = f"import sys; _before = set(sys.modules); {code}; print('\\n'.join(sorted(set(sys.modules) - _before)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=False, env=ENV)
    return out.stdout.split()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="fresh interpreters per case (best of)")
    parser.add_argument("--no-bytecode-cache", action="store_true", help="compile every module from source")
    parser.add_argument(
        "--instructions", action="store_true", help="also count instructions with valgrind (steady on a busy machine)"
    )
    args = parser.parse_args()
    if args.no_bytecode_cache:
        ENV["PYTHONDONTWRITEBYTECODE"] = "1"  # the standard library's own pycs are still used
        ENV.pop("PYTHONPYCACHEPREFIX", None)
    else:
        ENV.pop("PYTHONDONTWRITEBYTECODE", None)
        ENV["PYTHONPYCACHEPREFIX"] = tempfile.mkdtemp(prefix="agl-pyc-")
    print(f"bytecode cache: {'none (every module compiled from source)' if args.no_bytecode_cache else 'on'}")

    base_cpu, base_wall = best_of("pass", args.runs)
    print(
        f"bare interpreter (python -c pass): {base_cpu * 1000:6.1f} ms CPU, {base_wall * 1000:6.1f} ms wall "
        f"(best of {args.runs})"
    )
    print(f"{'case (added over the bare interpreter)':60s} {'CPU':>9s} {'wall':>9s}")
    figures: dict[str, tuple[float, float]] = {}
    for label, code in CASES.items():
        try:
            cpu, wall = best_of(code, args.runs)
        except subprocess.CalledProcessError:
            print(f"{label:60s}   (not available)")
            continue
        figures[label] = (cpu - base_cpu, wall - base_wall)
        print(f"{label:60s} +{(cpu - base_cpu) * 1000:6.1f} ms +{(wall - base_wall) * 1000:6.1f} ms")

    if args.instructions and shutil.which("valgrind"):
        base = instructions("pass")
        print(f"\ninstructions (callgrind), bare interpreter: {base / 1e6:.1f} M")
        for label in ("import agentlightning", TARGET):
            print(f"{label:60s} +{(instructions(CASES[label]) - base) / 1e6:6.1f} M instructions")
    elif args.instructions:
        print("\n--instructions: valgrind is not installed")

    modules = imported_by(TARGET)
    frameworks = sorted({m.split(".")[0] for m in modules} & set(FRAMEWORKS))
    heavy = [h for h in HEAVY if h in modules]
    groups: dict[str, int] = {}
    for module in modules:
        top = module.split(".")[0]
        groups[top] = groups.get(top, 0) + 1
    print(f"\nmodules `{TARGET}` imports beyond a bare interpreter: {len(modules)}")
    print("  " + ", ".join(f"{top} ({n})" if n > 1 else top for top, n in sorted(groups.items())))
    print(f"  heavy ones among them: {', '.join(heavy) or 'none'}")
    print(f"  LLM frameworks among them: {', '.join(frameworks) or 'none'}")

    if TARGET in figures:
        cpu, wall = figures[TARGET]
        verdict = "within" if cpu * 1000 <= TARGET_MS else "OVER"
        print(
            f"\nTARGET: `{TARGET}` adds {cpu * 1000:.1f} ms CPU ({wall * 1000:.1f} ms wall) over a bare "
            f"interpreter: {verdict} the {TARGET_MS:.0f} ms budget"
        )


if __name__ == "__main__":
    main()
