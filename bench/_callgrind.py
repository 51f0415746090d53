"""What the callgrind benches share: valgrind (installed with apt-get when missing) and reading its dumps.

The benches run as scripts (``python bench/x.py``), so this sits beside them and they import it by name.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

__all__ = ["ensure_valgrind", "read_parts"]

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
