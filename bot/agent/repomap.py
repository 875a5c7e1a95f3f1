"""A map of the repository for the supervisor, ranked by relevance to the request and the test failure.

aider's repository-map idea, small: every source file's definitions (with line numbers) and the names it
uses; a graph in which a file points to the files whose definitions it uses; PageRank personalised towards
what the issue and the traceback point to (files, frames, functions), so the code they name and the code it
depends on come first. The map is cut to a character budget, most relevant first: the top files with their
definitions' lines, the rest by name.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from equitr.agent.evidence import is_test_path
from equitr.sandbox.paths import read_regular

SKIP_DIRS = frozenset({".git", "node_modules", "__pycache__", ".venv", "venv", ".tox", "dist", "build", ".mypy_cache"})
_DEF = re.compile(
    r"^(?P<indent>[ \t]*)(?:export\s+)?(?:default\s+)?(?:pub\s+)?(?:async\s+)?"
    r"(?:def|class|function|func|fn|interface|type|struct|trait|enum)\s+\*?(?:\([^)]*\)\s*)?(?P<name>[A-Za-z_]\w*)",
    re.MULTILINE,
)
_IDENT = re.compile(r"[A-Za-z_]\w{2,}")
_SOURCE = (".py", ".js", ".mjs", ".ts", ".tsx", ".jsx", ".go", ".rs", ".rb", ".java", ".kt", ".c", ".h", ".cpp", ".sh")
MAX_FILE_BYTES = 400_000  # a generated file beyond this is listed by name only
DETAILED_FILES = 8  # files shown with their definitions' lines; the others by name


@dataclass(frozen=True, slots=True)
class Definition:
    name: str
    line: int
    text: str  # the defining line with its indentation, shortened
    nested: bool  # a method or an inner function


@dataclass(frozen=True, slots=True)
class Source:
    path: str
    defs: tuple[Definition, ...] = ()
    names: frozenset[str] = frozenset()  # identifiers it uses


@dataclass(frozen=True, slots=True)
class Index:
    files: tuple[str, ...]  # every file found, relative posix paths
    sources: dict[str, Source] = field(default_factory=dict)  # the source files among them

    @property
    def symbols(self) -> frozenset[str]:
        return frozenset(d.name for s in self.sources.values() for d in s.defs)


@dataclass(frozen=True, slots=True)
class RepoMap:
    text: str
    ranked: tuple[str, ...]  # files, most relevant first
    files: frozenset[str]
    symbols: frozenset[str]

    def __str__(self) -> str:
        return self.text


def scan(root: Path, *, max_files: int = 2000) -> Index:
    files: list[str] = []
    sources: dict[str, Source] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.startswith("."))
        for name in sorted(filenames):
            if len(files) >= max_files:
                break
            path = Path(dirpath) / name
            rel = path.relative_to(root).as_posix()
            files.append(rel)
            if name.endswith(_SOURCE):
                try:  # regular files only: a FIFO named `x.py` must not hang the job
                    text = read_regular(path, MAX_FILE_BYTES).decode("utf-8", "replace")
                except OSError:
                    continue
                sources[rel] = parse_source(rel, text)
    return Index(tuple(files), sources)


def parse_source(path: str, text: str) -> Source:
    starts = [0]
    for m in re.finditer("\n", text):
        starts.append(m.end())
    defs = []
    for m in _DEF.finditer(text):
        line = _line_of(starts, m.start())
        end = text.find("\n", m.start())
        shown = text[m.start() : end if end >= 0 else len(text)].rstrip()
        defs.append(Definition(m.group("name"), line, shown[:100], bool(m.group("indent"))))
    return Source(path, tuple(defs), frozenset(_IDENT.findall(text)))


def _line_of(starts: list[int], offset: int) -> int:
    lo, hi = 0, len(starts) - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if starts[mid] <= offset:
            lo = mid
        else:
            hi = mid - 1
    return lo + 1


def rank(index: Index, *, request: str = "", failure: str = "", focus: Sequence[str] = ()) -> list[str]:
    """Every file, most relevant first. `focus` are files the failure points to, innermost frame first."""
    owners = _owners(index)
    prior = _prior(index, owners, request=request, failure=failure, focus=focus)
    score = _pagerank(index, owners, prior)
    for path in index.files:
        if is_test_path(path):
            score[path] = score.get(path, 0.0) * 0.5  # the test that found a bug is rarely where it is
    return sorted(index.files, key=lambda p: (-score.get(p, 0.0), p))


def _owners(index: Index) -> dict[str, list[str]]:
    """name → the files that define it."""
    owners: dict[str, list[str]] = {}
    for path, source in index.sources.items():
        for d in source.defs:
            if path not in owners.setdefault(d.name, []):
                owners[d.name].append(path)
    return owners


def _prior(
    index: Index, owners: dict[str, list[str]], *, request: str, failure: str, focus: Sequence[str]
) -> dict[str, float]:
    """Where the request and the failure point: named files, frames, defined names, words in paths."""
    prior: dict[str, float] = {}
    text = f"{request}\n{failure}"
    lowered = text.lower()
    words = {w.lower() for w in _IDENT.findall(request)}
    for i, path in enumerate(focus):
        prior[path] = prior.get(path, 0.0) + max(20.0 - 5 * i, 5.0)
    for path in index.files:
        base = path.rsplit("/", 1)[-1].lower()
        if path.lower() in lowered or re.search(rf"(?<![\w/.-]){re.escape(base)}(?![\w-])", lowered):
            prior[path] = prior.get(path, 0.0) + 10.0
        stem_words = {w for w in re.split(r"[^a-z0-9]+", path.lower()) if len(w) >= 3}
        overlap = len(stem_words & words)
        if overlap:
            prior[path] = prior.get(path, 0.0) + overlap
    for name in set(_IDENT.findall(text)):
        defining = owners.get(name, [])
        if 0 < len(defining) <= 3:  # a name many files define points nowhere in particular
            for path in defining:
                prior[path] = prior.get(path, 0.0) + 3.0 / len(defining)
    return prior


def _pagerank(
    index: Index, owners: dict[str, list[str]], prior: dict[str, float], *, damping: float = 0.85, rounds: int = 30
) -> dict[str, float]:
    nodes = list(index.files)
    if not nodes:
        return {}
    edges: dict[str, dict[str, float]] = {}
    for path, source in index.sources.items():
        out: dict[str, float] = {}
        for name in source.names:
            for target in owners.get(name, ()):
                if target != path:  # a name defined in many files says little about any of them
                    out[target] = out.get(target, 0.0) + 1.0 / len(owners[name])
        if out:
            edges[path] = {t: math.sqrt(w) for t, w in out.items()}
    total = sum(prior.values())
    personal = {p: prior.get(p, 0.0) / total for p in nodes} if total else {p: 1.0 / len(nodes) for p in nodes}
    rank = dict(personal)
    for _ in range(rounds):
        nxt = {p: (1 - damping) * personal[p] for p in nodes}
        dangling = 0.0
        for p in nodes:
            links = edges.get(p)
            if not links:
                dangling += rank[p]
                continue
            weight = sum(links.values())
            for t, w in links.items():
                nxt[t] += damping * rank[p] * w / weight
        for p in nodes:
            nxt[p] += damping * dangling * personal[p]
        rank = nxt
    return {p: rank[p] + personal[p] for p in nodes}  # the named files themselves stay on top


def render(index: Index, ranked: Sequence[str], *, budget_chars: int = 2000) -> str:
    out: list[str] = []
    used = 0
    for i, path in enumerate(ranked):
        source = index.sources.get(path)
        if source is None or not source.defs:
            block = path
        elif i < DETAILED_FILES:
            rows = [f"  {d.line:>5}: {d.text}" for d in source.defs[:40]]
            more = f"\n  … {len(source.defs) - 40} more definitions" if len(source.defs) > 40 else ""
            block = f"{path}\n" + "\n".join(rows) + more
        else:
            block = f"{path}: " + ", ".join(d.name for d in source.defs if not d.nested)[:200]
        if used + len(block) + 1 > budget_chars:
            if i < DETAILED_FILES and source is not None and source.defs:  # the name at least
                short = f"{path}: " + ", ".join(d.name for d in source.defs if not d.nested)[:200]
                if used + len(short) + 1 <= budget_chars:
                    out.append(short)
                    used += len(short) + 1
                    continue
            out.append(f"… and {len(ranked) - len(out)} more files")
            break
        out.append(block)
        used += len(block) + 1
    return "\n".join(out)


def build(
    root: Path,
    *,
    task: str = "",
    failure: str = "",
    focus: Sequence[str] = (),
    budget_chars: int = 2000,
    max_files: int = 2000,
) -> RepoMap:
    index = scan(root, max_files=max_files)
    ranked = rank(index, request=task, failure=failure, focus=focus)
    return RepoMap(
        render(index, ranked, budget_chars=budget_chars), tuple(ranked), frozenset(index.files), index.symbols
    )

