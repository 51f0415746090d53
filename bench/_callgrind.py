"""What the callgrind benches share: valgrind (installed with apt-get when missing) and reading its dumps.

The benches run as scripts (``python bench/x.py``), so this sits beside them and they import it by name.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

__all__ = ["ensure_valgrind", "read_parts", "read_total", "run_client"]

_SUMMARY = re.compile(r"^(?:summary|totals): (\d+)", re.MULTILINE)
_PART = re.compile(r"^part: (\d+)", re.MULTILINE)


def ensure_valgrind() -> str:
    """The path of ``valgrind``, installing the Debian package first if it is not on ``PATH``."""
    found = shutil.which("valgrind")
    if found:
        return found
    print("valgrind not found: installing it with apt-get (Debian package 'valgrind')", flush=True)
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run([*sudo, "apt-get", "update", "-q"], check=True, env=env)
    subprocess.run([*sudo, "apt-get", "install", "-y", "-q", "valgrind"], check=True, env=env)
    found = shutil.which("valgrind")
    if not found:
        raise SystemExit("valgrind is still not on PATH after apt-get install valgrind")
    return found


def read_parts(out: Path) -> list[int]:
    """Instructions of each callgrind dump (``out.1``, ``out.2``, ...), in dump order."""
    parts: dict[int, int] = {}
    for path in out.parent.glob(out.name + ".*"):
        text = path.read_text(errors="replace")
        part, total = _PART.search(text), _SUMMARY.search(text)
        if part and total:
            parts[int(part.group(1))] = int(total.group(1))
    return [parts[k] for k in sorted(parts)]


def read_total(path: Path) -> int:
    """Instructions of one callgrind output file (0 when it has no summary)."""
    found = _SUMMARY.search(path.read_text(errors="replace"))
    return int(found.group(1)) if found else 0


def run_client(
    valgrind: str,
    out: Path,
    client: list[str],
    name: str,
    *,
    separate_threads: bool = False,
    env: dict[str, str] | None = None,
) -> str:
    """Run ``client`` (an interpreter and its arguments) under callgrind with instrumentation off until it
    prints ``READY``; then ``callgrind_control --instr=on`` and a line on its stdin tell it to go. Counters are
    dumped at each ``os.getppid()`` it calls (``out.1``, ``out.2``, ...). Returns the rest of its stdout; a
    failed client stops the bench with its stderr.

    Start-up (importing openai alone is ~5 G instructions) so runs uninstrumented, about 10x faster.
    """
    command = [
        valgrind,
        "--tool=callgrind",
        "--dump-before=getppid",
        "--instr-atstart=no",
        "--dump-instr=no",
        "--dump-line=no",
        "--compress-strings=no",
        f"--callgrind-out-file={out}",
        "-q",
        *(["--separate-threads=yes"] if separate_threads else []),
        *client,
    ]
    control = shutil.which("callgrind_control") or "callgrind_control"  # valgrind's package has it
    process = subprocess.Popen(
        command,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONHASHSEED": "0", **(env or {})},
    )
    assert process.stdin is not None and process.stdout is not None
    line = process.stdout.readline()
    if line.strip() == "READY":
        subprocess.run([control, "--instr=on", str(process.pid)], check=True, capture_output=True)
        process.stdin.write("go\n")
        process.stdin.flush()
    stdout, stderr = process.communicate()
    if process.returncode != 0 or line.strip() != "READY":
        raise SystemExit(f"{name}: the client process failed ({process.returncode}):\n{line}{stderr[-4000:]}")
    return stdout
