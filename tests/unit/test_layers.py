"""The package layering that the import graph must keep: lower layers never import higher ones."""

from __future__ import annotations

import ast
from pathlib import Path

BOT = Path(__file__).resolve().parents[2] / "bot"


def _imports(path: Path) -> set[str]:
    """Every module `path` imports, at module level, inside functions or under TYPE_CHECKING."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_the_sandbox_never_imports_the_tools() -> None:
    """The tools use the sandbox; the sandbox knows nothing of them (no package cycle)."""
    offenders = {
        f"{path.relative_to(BOT)} imports {name}"
        for path in sorted((BOT / "sandbox").rglob("*.py"))
        for name in _imports(path)
        if name == "equitr.tools" or name.startswith("equitr.tools.")
    }
    assert offenders == set()
