"""The release dry run, as .github/workflows/release.yml runs it on a tag: scripts/release-check builds the
sdist and the wheel of a copy of this checkout tagged v9.9.9, `twine check`s them, installs the wheel (not
editable) in a new virtualenv and runs `equitr --version` (9.9.9: the version comes from the tag) and
`equitr doctor` there. Then the installed package is used as a user would."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow
GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false"]


@pytest.fixture(scope="module")
def released(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The virtualenv the release check installed the wheel into."""
    base = tmp_path_factory.mktemp("release")
    source = base / "equitr"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE", "CHANGELOG.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "bot", source / "bot", ignore=shutil.ignore_patterns("__pycache__"))
    (source / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "release-check", source / "scripts" / "release-check")
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "release"], ["tag", "v9.9.9"]):
        subprocess.run([*GIT, *args], cwd=source, check=True)
    venv = base / "venv"
    env = {**os.environ, "PYTHON": sys.executable, "EXPECT_VERSION": "v9.9.9", "VENV": str(venv)}
    env.pop("SETUPTOOLS_SCM_PRETEND_VERSION", None)
    proc = subprocess.run(
        [str(source / "scripts" / "release-check"), str(base / "dist")],
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert "release-check: equitr 9.9.9" in proc.stdout
    assert "PASSED" in proc.stdout
    assert sorted(p.name for p in (base / "dist").iterdir()) == ["equitr-9.9.9-py3-none-any.whl", "equitr-9.9.9.tar.gz"]
    return venv


def test_the_installed_wheel_has_its_version_and_passes_doctor(released: Path) -> None:
    proc = subprocess.run([str(released / "bin" / "equitr"), "--version"], capture_output=True, text=True)
    assert proc.stdout.strip() == "equitr 9.9.9"
