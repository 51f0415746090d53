"""What ``agentlightning-run`` adds to a script's start-up, beyond the script's own ``import openai``.

    uv run python bench/cli_startup.py

A script that only does ``import openai`` is run N times with ``python script.py`` and N times with
``agentlightning-run script.py`` (a fresh store each time), interleaved, after a warm-up that writes the
byte-code caches; the figure is the difference of the best runs. ``agentlightning-run`` does, on top: parse
options, open (create) the SQLite store, start the tracer, instrument every plugin (OpenAI is patched as the
script imports it), start a rollout, and at the end store the spans, mark the rollout and print the summary
(``--quiet``: no summary).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUNS = 20
RUN = str(Path(sys.executable).with_name("agentlightning-run"))


def timed(args: list[str], cwd: Path) -> float:
    # Byte-code caches as an installed package has them (in a private prefix: the tree stays clean), even where
    # PYTHONDONTWRITEBYTECODE is set; compiling sources on every start would swamp what is measured.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(cwd / "pycache")
    start = time.perf_counter()
    subprocess.run(args, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        script = cwd / "script.py"
        script.write_text("import openai\n")
        cases = {
            "python script.py (import openai)": lambda i: [sys.executable, str(script)],
            "agentlightning-run --quiet script.py": lambda i: [RUN, "--quiet", "--store", f"q{i}.db", str(script)],
            "agentlightning-run script.py": lambda i: [RUN, "--store", f"s{i}.db", str(script)],
        }
        times: dict[str, list[float]] = {label: [] for label in cases}
        for command in cases.values():  # warm-up: byte-code caches written
            timed(command(-1), cwd)
        for i in range(RUNS):  # interleaved, so a busy moment of the machine hits every case alike
            for label, command in cases.items():
                times[label].append(timed(command(i), cwd))
    base = min(times["python script.py (import openai)"])
    print(f"best of {RUNS} interleaved runs each")
    for label, values in times.items():
        best = min(values)
        extra = "" if best == base else f"   +{(best - base) * 1000:6.1f} ms"
        print(f"{label:40s} {best * 1000:7.1f} ms{extra}")


if __name__ == "__main__":
    main()
