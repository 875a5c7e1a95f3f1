"""What `pip install` installs: every package directory under bot/ (a new subpackage that is not listed would
be missing from the wheel, and only a plain install would notice)."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_package_directory_under_bot_is_installed() -> None:
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    found = sorted(".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "bot").rglob("__init__.py"))
    name = "bot"
    if "package-dir" in setuptools:  # bot/ installed under another import name: every package listed
        [(name, directory)] = setuptools["package-dir"].items()
        assert directory == "bot"
        assert sorted(setuptools["packages"]) == [name + package.removeprefix("bot") for package in found]
    else:
        assert setuptools["packages"]["find"]["include"] == ["bot*"]
    assert "py.typed" in setuptools["package-data"][name]
