"""A compact map of the repository for the supervisor: paths, and top-level definitions of source files.

Small models have small contexts, so the map is cut to a character budget, most relevant files first
(files whose names or definitions share words with the task).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from bot.sandbox.paths import read_regular

SKIP_DIRS = frozenset({".git", "node_modules", "__pycache__", ".venv", "venv", ".tox", "dist", "build", ".mypy_cache"})
_DEF = re.compile(r"^(?:async\s+)?(?:def|class|function|func|fn|interface|type)\s+([A-Za-z_]\w*)", re.MULTILINE)
_SOURCE = (".py", ".js", ".ts", ".go", ".rs", ".rb", ".java", ".c", ".h", ".cpp", ".sh")


def build(root: Path, *, task: str = "", budget_chars: int = 2000, max_files: int = 2000) -> str:
    words = {w.lower() for w in re.findall(r"[A-Za-z_]\w{2,}", task)}
    entries: list[tuple[int, str]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.startswith("."))
        for name in sorted(filenames):
            path = Path(dirpath) / name
            rel = path.relative_to(root).as_posix()
            line, score = rel, sum(1 for w in words if w in rel.lower())
            if name.endswith(_SOURCE):
                try:  # regular files only: a FIFO named `x.py` must not hang the job
                    head = read_regular(path, 80_000).decode("utf-8", "replace")[:20_000]
                except OSError:
                    head = ""
                names = _DEF.findall(head)[:12]
                score += sum(2 for n in names if n.lower() in words)
                if names:
                    line += ": " + ", ".join(names)
            entries.append((-score, line))
            if len(entries) >= max_files:
                break
    entries.sort()
    out: list[str] = []
    used = 0
    for _, line in entries:
        if used + len(line) + 1 > budget_chars:
            out.append(f"… and {len(entries) - len(out)} more files")
            break
        out.append(line)
        used += len(line) + 1
    return "\n".join(out)
