"""A repository's test command when its configuration names none, and what a test run's output says.

`detect` guesses the command from the files present. `summarize` turns the run tool's output into the one
line shown in reports (the runner's own closing line, or why the tests could not run, in words);
`evidence` is what the models are shown: stdout and stderr (unittest and many other runners report on
stderr), trimmed from the middle with the failure report kept.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from equitr.agent.evidence import trim

PYTEST = "python -m pytest -q"
UNITTEST = "python -m unittest"
_MAX_TEST_FILES = 500  # looked at to tell a unittest suite from a pytest one


def detect(root: Path) -> str:
    if (root / "package.json").is_file():
        try:
            scripts = json.loads((root / "package.json").read_text()).get("scripts") or {}
        except (ValueError, OSError):
            scripts = {}
        if "test" in scripts:
            return "npm test --silent"
    python = _python(root)
    if python:
        return python
    if (root / "go.mod").is_file():
        return "go test ./..."
    if (root / "Cargo.toml").is_file():
        return "cargo test -q"
    return ""


def _python(root: Path) -> str:
    """pytest, unless the suite is plainly a unittest one that `python -m unittest` discovers as it is:
    no pytest configuration, every test file uses unittest and none pytest, and each sits at the top or
    in packages (unittest's discovery skips directories without `__init__.py`). pytest runs unittest
    suites too, so it is the answer whenever that is not certain."""
    tests = _test_files(root)
    if _configures_pytest(root):
        return PYTEST
    if tests and all(_discoverable(root, path) for path in tests):
        texts = [_head(path) for path in tests]
        if all(re.search(r"^\s*(?:import|from)\s+unittest\b", t, re.M) for t in texts) and not any(
            re.search(r"^\s*(?:import|from)\s+pytest\b", t, re.M) for t in texts
        ):
            return UNITTEST
    if tests or any((root / name).is_file() for name in ("pyproject.toml", "setup.py", "setup.cfg", "tox.ini")):
        return PYTEST
    return ""


def _test_files(root: Path) -> list[Path]:
    found: list[Path] = []
    patterns = ("test*.py", "*_test.py", "tests/**/test*.py", "test/**/test*.py", "tests/**/*_test.py")
    for pattern in patterns:
        for path in root.glob(pattern):
            if path.is_file() and not path.is_symlink() and path not in found and path.name != "__init__.py":
                found.append(path)
            if len(found) >= _MAX_TEST_FILES:
                return found
    return found


def _configures_pytest(root: Path) -> bool:
    if (root / "pytest.ini").is_file() or (root / "conftest.py").is_file():
        return True
    if any((root / d / "conftest.py").is_file() for d in ("tests", "test")):
        return True
    sections = {"pyproject.toml": "[tool.pytest", "setup.cfg": "[tool:pytest]", "tox.ini": "[pytest]"}
    return any(marker in _head(root / name, 200_000) for name, marker in sections.items())


def _discoverable(root: Path, path: Path) -> bool:
    parent = path.parent
    while parent != root:
        if not (parent / "__init__.py").is_file():
            return False
        parent = parent.parent
    return path.name.startswith("test")


def _head(path: Path, limit: int = 20_000) -> str:
    try:
        with path.open(encoding="utf-8", errors="replace") as fh:
            return fh.read(limit)
    except OSError:
        return ""


# -- what a run's output says ----------------------------------------------------------------------------

_PYTEST_LINE = re.compile(
    r"\b\d+ (?:passed|failed|errors?|skipped|xfailed|xpassed|deselected)\b.* in [\d.]+s|\bno tests ran\b"
)
_UNITTEST_RAN = re.compile(r"^Ran \d+ tests? in [\d.]+s$")
_UNITTEST_VERDICT = re.compile(r"^(?:OK|FAILED|NO TESTS RAN)\b")
# `python -m pytest` where pytest is not installed: runpy's one line, without quotes around the name.
_NO_RUNNER = re.compile(r"^\S*python[\d.]*: No module named ([\w.]+)$", re.M)
# A command that is not there: the sandbox's answer (equitr.sandbox.bwrap), or prlimit's without one.
_NO_COMMAND = re.compile(
    r"^(?:`([^`]+)` is not installed in the sandbox|prlimit: failed to execute (\S+): No such file or directory)",
    re.M,
)
_MISSING_MODULE = re.compile(r"ModuleNotFoundError: No module named '([\w.]+)'")
_STDERR = "\n--- stderr ---\n"  # where the run tool puts stderr, after stdout
_FIX = "install it with `fix.setup_command` in .equitr.toml, or name another `fix.test_command` (`--test-command`)"


def summarize(output: str) -> str:
    """One line (at most 300 characters) for a test run's output as the run tool returns it: `$ command`,
    the exit status, stdout, then stderr after a marker."""
    lines = output.strip().splitlines()
    runner = _NO_RUNNER.search(output)
    if runner:
        return f"not run: the test runner is missing (`No module named {runner.group(1)}`); {_FIX}"[:300]
    command = _NO_COMMAND.search(output)
    if command:
        name = command.group(1) or command.group(2)
        return f"not run: the test runner `{name}` is not installed where the tests run; {_FIX}"[:300]
    summary = _pytest_line(lines) or _unittest_line(lines) or (lines[1] if len(lines) > 1 else output).strip()
    missing = _MISSING_MODULE.search(output)
    if missing:  # the sandbox has no network: say what to install, and how, instead of a bare exit code
        name = missing.group(1)
        summary = f"{summary[:150]}; `{name}` is not installed in the sandbox (install it with `fix.setup_command`)"
    return summary[:300]


def _pytest_line(lines: list[str]) -> str:
    for line in reversed(lines):
        if _PYTEST_LINE.search(line):
            return line.strip("= ").strip()
    return ""


def _unittest_line(lines: list[str]) -> str:
    """`Ran 3 tests in 0.002s: FAILED (failures=1)`: unittest's two closing lines, wherever they are."""
    for i in range(len(lines) - 1, -1, -1):
        if _UNITTEST_RAN.match(lines[i].strip()):
            verdict = next((v.strip() for v in lines[i + 1 : i + 4] if _UNITTEST_VERDICT.match(v.strip())), "")
            return f"{lines[i].strip()}: {verdict}" if verdict else lines[i].strip()
    return ""


def evidence(output: str, limit: int) -> str:
    """The run's output for a model within `limit` characters (`equitr.agent.evidence.trim`: the middle dropped
    first, the failure report and tracebacks kept). When stdout already holds the runner's whole report (its
    closing line is there, as with pytest), stderr is left out: there it only carries warnings of the machine
    running equitr (its plugins' deprecations), not of the repository."""
    report, marker, _ = output.partition(_STDERR)
    if marker and (_pytest_line(report.splitlines()) or _unittest_line(report.splitlines())):
        output = report
    return output if len(output) <= limit else trim(output.strip(), limit)
