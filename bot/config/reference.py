"""The reference table of `.equitr.toml`: every key with its default, what is allowed and what it does.

docs/configuration.md is checked against `reference_rows()` (tests/unit/test_repoconfig.py), so the page
cannot drift from the models in `equitr.config.repo`.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from equitr.config.problems import model_in, toml_value
from equitr.config.repo import RepoConfig, TaskConfig


@dataclass(frozen=True, slots=True)
class ReferenceRow:
    key: str  # dotted
    default: str  # rendered as TOML, or "(unset)"/"(required)"
    allowed: str
    doc: str


def reference_rows() -> list[ReferenceRow]:
    """Every key with its default, what is allowed and what it does (docs/configuration.md is checked
    against this)."""
    rows: list[ReferenceRow] = []

    def visit(model: type[BaseModel], prefix: str) -> None:
        for name, field in model.model_fields.items():
            key = f"{prefix}{name}"
            sub = model_in(field.annotation)
            if sub is not None and sub is not TaskConfig:
                visit(sub, key + ".")
                continue
            extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
            if field.is_required():
                default = "(required)"
            elif field.default_factory is not None:
                default = toml_value(field.default_factory())  # type: ignore[call-arg]
            else:
                default = "(unset)" if field.default is None else toml_value(field.default)
            rows.append(ReferenceRow(key, default, str(extra.get("allowed", "")), field.description or ""))
            if sub is TaskConfig:
                visit(sub, key + "[].")

    visit(RepoConfig, "")
    return rows
