"""The test command a repository gets when it names none, and what a test run's output tells reports and
models: real runner output (pytest, unittest, a missing runner), as the run tool returns it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from equitr.agent.testcmd import PYTEST, UNITTEST, detect, evidence, summarize
from tests.conftest import DATA

UNITTEST_FILE = "import unittest\n\n\nclass T(unittest.TestCase):\n    def test_x(self) -> None:\n        pass\n"


def tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"pytest.ini": "[pytest]\n", "test_a.py": UNITTEST_FILE}, PYTEST),  # configured for pytest
        ({"pyproject.toml": "[tool.pytest.ini_options]\n", "test_a.py": UNITTEST_FILE}, PYTEST),
        ({"tests/conftest.py": "", "tests/__init__.py": "", "tests/test_a.py": UNITTEST_FILE}, PYTEST),
        ({"test_a.py": UNITTEST_FILE}, UNITTEST),  # unittest, at the top
        ({"pyproject.toml": "[project]\nname = 'x'\n", "test_a.py": UNITTEST_FILE}, UNITTEST),
        ({"tests/__init__.py": "", "tests/test_a.py": UNITTEST_FILE}, UNITTEST),  # in a package
        # unittest's discovery skips a directory without __init__.py; pytest runs those TestCases
        ({"tests/test_a.py": UNITTEST_FILE}, PYTEST),
        ({"test_a.py": UNITTEST_FILE, "test_b.py": "def test_b():\n    assert True\n"}, PYTEST),  # mixed
        ({"test_a.py": UNITTEST_FILE + "import pytest\n"}, PYTEST),
        ({"test_a.py": "def test_a():\n    assert True\n"}, PYTEST),
        ({"pyproject.toml": "[project]\nname = 'x'\n"}, PYTEST),  # a Python project, no tests yet
        ({"go.mod": "module x\n"}, "go test ./..."),
        ({"package.json": '{"scripts": {"test": "jest"}}', "test_a.py": UNITTEST_FILE}, "npm test --silent"),
        ({"README.md": "hi\n"}, ""),
    ],
)
def test_detect(tmp_path: Path, files: dict[str, str], expected: str) -> None:
    assert detect(tree(tmp_path, files)) == expected


def test_the_samples_get_their_own_runner() -> None:
    assert detect(DATA / "sample_repo") == PYTEST
    assert detect(DATA / "sample_unittest_repo") == UNITTEST


def run_output(argv: list[str], cwd: Path) -> str:
    """A real run, laid out as the run tool lays it out."""
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, env={"PYTHONDONTWRITEBYTECODE": "1"})
    body = proc.stdout + (f"\n--- stderr ---\n{proc.stderr}" if proc.stderr.strip() else "")
    return f"$ {' '.join(argv)}\nexit code {proc.returncode} (0.1 s)\n{body}"


def test_unittest_reports_on_stderr_and_the_summary_reads_it(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(DATA / "sample_unittest_repo", repo)
    output = run_output([sys.executable, "-m", "unittest"], repo)
    assert output.index("--- stderr ---") < output.index("FAILED (failures=1)")  # all of it on stderr
    assert summarize(output).startswith("Ran 2 tests in ") and summarize(output).endswith("s: FAILED (failures=1)")
    shown = evidence(output, 2500)
    assert "AssertionError: 1.5 != 2.0" in shown and "FAIL: test_mean" in shown

    (repo / "mathutil.py").write_text((repo / "mathutil.py").read_text().replace("(len(values) + 1)", "len(values)"))
    assert summarize(run_output([sys.executable, "-m", "unittest"], repo)).endswith("s: OK")


def test_a_missing_runner_is_said_in_words_with_the_fix(tmp_path: Path) -> None:
    output = run_output([sys.executable, "-m", "no_such_runner_mod", "-q"], tmp_path)
    summary = summarize(output)
    assert summary.startswith("not run: the test runner is missing (`No module named no_such_runner_mod`)")
    assert "`fix.setup_command`" in summary and "`--test-command`" in summary
    for stderr in (
        "`tox` is not installed in the sandbox (command not found)\n",  # equitr.sandbox.bwrap
        "prlimit: failed to execute tox: No such file or directory\n",  # EQUITR_SANDBOX=none
    ):
        summary = summarize(f"$ tox\nexit code 127 (0.0 s)\n\n--- stderr ---\n{stderr}")
        assert summary.startswith("not run: the test runner `tox` is not installed where the tests run;")


def test_a_missing_dependency_is_not_a_missing_runner(tmp_path: Path) -> None:
    (tmp_path / "test_a.py").write_text("import dep_pkg\n\ndef test_a():\n    pass\n")
    output = run_output([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], tmp_path)
    summary = summarize(output)
    assert "not run" not in summary and "`dep_pkg` is not installed in the sandbox" in summary


def test_evidence_trims_the_middle_and_keeps_the_failure() -> None:
    head = "$ python -m pytest -q\nexit code 1 (3.0 s)\n"
    noise = "".join(f"tests/test_{i}.py::test_case PASSED\n" for i in range(400))
    failure = (
        "=================================== FAILURES ===================================\n"
        "___________________________________ test_mean ___________________________________\n"
        "    def test_mean():\n>       assert mean([1.0, 2.0, 3.0]) == 2.0\nE       assert 1.5 == 2.0\n"
    )
    more = "".join(f"captured log line {i}\n" for i in range(400))
    output = head + noise + failure + more + "=========== 1 failed, 400 passed in 3.00s ===========\n"
    shown = evidence(output, 2000)
    assert len(shown) <= 2000 + 200  # the limit plus the omission notes
    assert shown.startswith(head) and "E       assert 1.5 == 2.0" in shown and "FAILURES" in shown
    assert shown.rstrip().endswith("1 failed, 400 passed in 3.00s ===========")
    assert "lines left out" in shown
    assert evidence("$ x\nexit code 0 (0.1 s)\nok\n", 2000) == "$ x\nexit code 0 (0.1 s)\nok\n"  # as it is


def test_evidence_without_a_failure_report_keeps_the_tail() -> None:
    output = "$ make test\nexit code 2 (1.0 s)\n" + "x" * 5000 + "\nmake: *** [test] Error 2\n"
    shown = evidence(output, 1000)
    assert shown.startswith("$ make test") and shown.endswith("make: *** [test] Error 2")


def test_evidence_leaves_out_the_machines_warnings_when_stdout_holds_the_report() -> None:
    stdout = "$ python -m pytest -q\nexit code 1 (0.5 s)\n.F\nE   assert 1.5 == 2.0\n1 failed, 1 passed in 0.05s\n"
    warning = "/srv/equitr/.venv/…/pytest_asyncio/plugin.py:306: PytestDeprecationWarning: …\n"
    assert evidence(f"{stdout}\n--- stderr ---\n{warning}", 2000) == stdout  # the report as it was
    crash = "ImportError while loading conftest '/workspace/conftest.py'.\nE   ModuleNotFoundError: No module named 'x'"
    shown = evidence(f"$ python -m pytest -q\nexit code 4 (0.5 s)\n\n--- stderr ---\n{crash}", 2000)
    assert "No module named 'x'" in shown  # no report on stdout: stderr is the evidence
