"""The test command of a repository when its configuration names none: a guess from the files present."""

from __future__ import annotations

import json
from pathlib import Path


def detect(root: Path) -> str:
    if (root / "package.json").is_file():
        try:
            scripts = json.loads((root / "package.json").read_text()).get("scripts") or {}
        except (ValueError, OSError):
            scripts = {}
        if "test" in scripts:
            return "npm test --silent"
    if any((root / name).is_file() for name in ("pytest.ini", "tox.ini", "setup.cfg", "pyproject.toml", "conftest.py")):
        return "python -m pytest -q"
    if any(root.glob("test_*.py")) or any(root.glob("tests/**/test_*.py")) or any(root.glob("*_test.py")):
        return "python -m pytest -q"
    if (root / "go.mod").is_file():
        return "go test ./..."
    if (root / "Cargo.toml").is_file():
        return "cargo test -q"
    return ""
