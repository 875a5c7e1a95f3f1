"""The package's layers (docs/architecture.md): every import of one equitr module by another points down.

Read from the source with `ast`, so lazy imports inside functions and those under `TYPE_CHECKING` count too.
A module may import its own package and anything in a lower layer; an import up the picture, or sideways into
another package of the same layer, fails with the edge to remove.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

BOT = Path(__file__).resolve().parents[2] / "bot"

# Highest first. A name is a package (`jobs`) or a module (`errors.render`); the longest match places a module.
LAYERS: list[tuple[str, ...]] = [
    ("__main__",),  # python -m equitr
    ("cli",),  # the equitr command
    ("__init__",),  # the package: its version and the Python API's names
    ("sync",),  # the Python API without an event loop
    ("action", "local"),  # the Action's run; the Python API and `equitr run` on a local repository
    ("web",),  # the webhook side: app, signature, dispatcher, dashboard; the composition root (services)
    ("handlers",),  # after the queue: one module per command family
    ("jobs",),  # the job record, store, queue, runner, and how a job's ending reaches the issue
    ("errors.render", "errors.catalogue"),  # an error as the comment a person reads (knows commands and config)
    ("agent",),  # the supervisor/worker loop
    ("interpret",),  # model output -> a checked plan
    ("tools",),  # what a model may call, one module per tool
    ("config",),  # .equitr.toml: checks model names against the catalogue, reads the branch policy
    ("models",),  # who answers the model, one module per provider
    ("github", "sandbox"),  # the outside world: GitHub's API, the machine
    ("events",),  # what a webhook event asks for: pure decisions and the command table
    ("config.settings",),  # the process's settings, from the environment
    ("monitor",),  # PerformanceMonitor records (pure)
    ("text",),  # money and safe Markdown (pure)
    ("errors", "redact"),  # the exception tree and secret redaction
]
# Sideways imports between packages of one layer that are part of the design (none today).
SIDEWAYS: set[tuple[str, str]] = set()


def place(module: str) -> tuple[int, str]:
    """(layer index, the name that placed it) for a dotted module under equitr."""
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        name = ".".join(parts[:n])
        for rank, names in enumerate(LAYERS):
            if name in names:
                return rank, name
    raise AssertionError(f"equitr.{module} is in no layer: add its package to LAYERS and docs/architecture.md")


def modules() -> dict[str, Path]:
    found = {}
    for path in BOT.rglob("*.py"):
        parts = path.relative_to(BOT).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" and len(parts) > 1 else parts)] = path
    return found


def imports(path: Path, module: str) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out |= {a.name.removeprefix("equitr.") for a in node.names if a.name.startswith("equitr.")}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "equitr":
                out |= {a.name for a in node.names}
            elif node.module.startswith("equitr."):
                out.add(node.module.removeprefix("equitr."))
    return out


def known(target: str, names: dict[str, Path]) -> str | None:
    """The module an import names (`from equitr import sync` names a module; `__version__` does not)."""
    parts = target.split(".")
    for n in range(len(parts), 0, -1):
        if ".".join(parts[:n]) in names:
            return ".".join(parts[:n])
    return None


def test_every_import_points_down_the_layers() -> None:
    names = modules()
    wrong = []
    for module, path in sorted(names.items()):
        rank, placed = place(module)
        for target in sorted(imports(path, module)):
            found = known(target, names)
            if found is None or found in ("__init__",):
                continue
            other, other_placed = place(found)
            same_package = module.split(".")[0] == found.split(".")[0]
            if not same_package and (other < rank or (other == rank and (placed, other_placed) not in SIDEWAYS)):
                wrong.append(f"equitr.{module} ({placed}) imports equitr.{found} ({other_placed})")
    assert not wrong, "imports that point up or sideways:\n" + "\n".join(wrong)


def test_the_top_level_holds_only_the_public_api_and_the_foundations() -> None:
    top = sorted(p.stem for p in BOT.glob("*.py"))
    # `sync` is the Python API's blocking twin, imported by users as `equitr.sync`.
    assert top == ["__init__", "__main__", "redact", "sync"], top
    assert (BOT / "errors" / "__init__.py").is_file()


@pytest.mark.parametrize("package", sorted(p.name for p in BOT.iterdir() if (p / "__init__.py").is_file()))
def test_every_package_is_in_a_layer_and_says_what_it_holds(package: str) -> None:
    place(package)
    doc = ast.get_docstring(ast.parse((BOT / package / "__init__.py").read_text(encoding="utf-8")))
    assert doc, f"bot/{package}/__init__.py has no docstring"
