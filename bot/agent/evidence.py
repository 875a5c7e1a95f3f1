"""What a test run says, made fit for a model's prompt: the failure trimmed from the middle with the
tracebacks kept, and the traceback frames that point into the repository. Pure: text in, text out.

A test runner's report is where the diagnosis starts, so it reaches the models whole where it matters:
stdout *and* stderr (`python -m unittest`, and many other runners, write the whole report to stderr), the
runner's header and summary, every failure heading, exception line and frame, and the source lines pytest
marks. What goes when the output is too long is the middle: passing chatter, long diffs, warnings.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import PurePosixPath

# Where the sandbox mounts the checkout (equitr.sandbox.bwrap.WORKDIR); tracebacks from inside it name these.
SANDBOX_ROOTS = ("/workspace",)
STDERR_MARK = "--- stderr ---"

_PY_FRAME = re.compile(r'^\s*File "(?P<path>[^"]+)", line (?P<line>\d+)(?:, in (?P<func>\S+))?')
_LOC_FRAME = re.compile(r"^\s*(?P<path>[\w./@+-]+\.[A-Za-z]\w{0,5}):(?P<line>\d+):(?:\d+:)?(?:\s+in\s+(?P<func>\S+))?")
_JS_FRAME = re.compile(r"\bat (?:(?P<func>[\w.$<>]+) )?\(?(?P<path>[^\s()]+\.[cm]?[jt]sx?):(?P<line>\d+):\d+\)?")
_HEADING = re.compile(r"^(?:_{3,} .+ _{3,}|={3,} .+ ={3,}|(?:FAIL|ERROR): \w|-{3,} (?:FAIL|PASS|ERROR))")
_ERROR_LINE = re.compile(
    r"^(?:E\s{2,}|>\s|\s*\w*(?:Error|Exception|Failure|Warning|Exit)\b[:(]|\s*assert\b|\s*AssertionError|"
    r"\s*(?:Traceback|During handling)|FAILED |ERROR |panic:|\s*--- FAIL)"
)
_SUMMARY = re.compile(r"\b(?:passed|failed|errors?|skipped|no tests ran|Ran \d+ tests?|OK\b|FAILED \()")


@dataclass(frozen=True, slots=True)
class Frame:
    """One traceback frame: the path as the runner wrote it, the line, and the function when given."""

    path: str
    line: int
    func: str = ""
    chain: int = 0  # which traceback of the output it belongs to, in the order printed


_CHAIN_START = re.compile(r"^(?:Traceback \(most recent call last\)|_{3,} .+ _{3,}$|(?:FAIL|ERROR): |--- FAIL)")


def frames(output: str) -> list[Frame]:
    """Every frame in `output`, in the order printed (a traceback lists the outermost call first)."""
    found: list[Frame] = []
    chain = 0
    for raw in output.splitlines():
        if _CHAIN_START.match(raw.strip()):
            chain += 1
        match = _PY_FRAME.match(raw) or _LOC_FRAME.match(raw) or _JS_FRAME.search(raw)
        if match is not None:
            found.append(Frame(match.group("path"), int(match.group("line")), match.group("func") or "", chain))
    return found


def relative(path: str, root: str, files: Iterable[str] = ()) -> str | None:
    """`path` as a repository path (posix, relative), or None when it is outside the repository.

    Absolute paths are taken relative to the checkout (`root`) or the sandbox's mount of it; relative
    paths must name a known file (`files`) or, when no list is given, look like one.
    """
    known = set(files)
    candidate = path.strip()
    for base in (root.rstrip("/"), *SANDBOX_ROOTS):
        if base and candidate.startswith(base + "/"):
            candidate = candidate[len(base) + 1 :]
            break
    else:
        if candidate.startswith("/"):
            return None  # an installed library, the interpreter: not the project's code
    candidate = str(PurePosixPath(candidate))
    if candidate.startswith("../") or candidate == ".":
        return None
    if known and candidate not in known:
        return None
    return candidate.removeprefix("./")


def project_frames(output: str, root: str, files: Iterable[str]) -> list[Frame]:
    """Frames in the repository's own files (as relative paths), in the order printed."""
    known = set(files)
    out: list[Frame] = []
    for frame in frames(output):
        rel = relative(frame.path, root, known)
        if rel is not None:
            out.append(Frame(rel, frame.line, frame.func, frame.chain))
    return out


def innermost(output: str, root: str, files: Iterable[str], *, skip_tests: bool = True) -> list[Frame]:
    """Project frames, innermost first: the code that raised, then its callers; the first failure's
    traceback before the next one's. Test files are left out when `skip_tests` (the bug is rarely in the
    test that found it), unless nothing else is left.
    """
    found = project_frames(output, root, files)
    chains = sorted({f.chain for f in found})
    ordered = [f for c in chains for f in reversed([g for g in found if g.chain == c])]
    seen: set[tuple[str, int]] = set()
    picked: list[Frame] = []
    for frame in ordered:
        if (frame.path, frame.line) not in seen:
            seen.add((frame.path, frame.line))
            picked.append(frame)
    if skip_tests:
        own = [f for f in picked if not is_test_path(f.path)]
        return own or picked
    return picked


def is_test_path(path: str) -> bool:
    name = PurePosixPath(path).name
    return (
        name.startswith("test_")
        or name.endswith(("_test.py", "_test.go", "_tests.py"))
        or bool(re.search(r"\.(?:test|spec)\.\w+$", name))
        or "/tests/" in f"/{path}"
        or "/test/" in f"/{path}"
    )


def trim(output: str, limit: int) -> str:
    """`output` within `limit` characters: header, summary, failure headings, exception lines, frames and the
    lines around them kept first; the least telling lines in the middle dropped, with a marker saying so."""
    if len(output) <= limit:
        return output
    lines = output.splitlines()
    n = len(lines)
    scores = [_score(i, line, n) for i, line in enumerate(lines)]
    # Lines next to a telling one explain it (the source line after a frame, the line before an `E`).
    for i, score in enumerate(list(scores)):
        if score >= 70:
            for j in (i - 1, i + 1, i + 2):
                if 0 <= j < n:
                    scores[j] = max(scores[j], 45 if j != i + 2 else 35)
    order = sorted(range(n), key=lambda i: (-scores[i], min(i, n - 1 - i)))  # then nearest the start or end
    chosen: list[int] = []
    used = 0
    for i in order:
        cost = min(len(lines[i]), 400) + 1
        if used + cost + 40 > limit:
            continue
        chosen.append(i)
        used += cost
    # The notes for left-out lines take room too: keep the most telling lines that fit with them, never cut
    # the text at the end (where the runner's summary is).
    low, high = 0, len(chosen)
    while low < high:
        mid = (low + high + 1) // 2
        if len(_render(lines, set(chosen[:mid]))) <= limit:
            low = mid
        else:
            high = mid - 1
    text = _render(lines, set(chosen[:low]))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _render(lines: list[str], keep: set[int]) -> str:
    out: list[str] = []
    gap = 0
    for i, line in enumerate(lines):
        if i in keep:
            if gap:
                out.append(f"[… {gap} line{'s' if gap != 1 else ''} left out …]")
                gap = 0
            out.append(line if len(line) <= 400 else line[:400] + " …")
        else:
            gap += 1
    if gap:
        out.append(f"[… {gap} line{'s' if gap != 1 else ''} left out …]")
    return "\n".join(out)


def _score(i: int, line: str, n: int) -> int:
    if i < 2 or line.strip() == STDERR_MARK:
        return 100  # `$ command` and `exit code N`; where stderr starts
    if i >= n - 3 and _SUMMARY.search(line):
        return 95
    if _HEADING.match(line):
        return 85
    if _ERROR_LINE.match(line):
        return 80
    if _PY_FRAME.match(line) or _LOC_FRAME.match(line) or _JS_FRAME.search(line):
        return 70
    if _SUMMARY.search(line) and len(line) < 200:
        return 60
    return 10

