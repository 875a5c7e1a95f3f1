"""Reports of a run for people: the cost table and the repairs line, as Markdown (comments, PR bodies) and
as plain text (the terminal). Pure functions of the ledger."""

from __future__ import annotations

from equitr.agent.ledger import Ledger
from equitr.text.money import usd

_HEAD = ("model", "role", "calls", "prompt tok", "completion tok", "cost (USD)", "time")


def _cells(ledger: Ledger) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = [
        (
            r.model,
            r.role,
            str(r.calls),
            f"{r.prompt_tokens:,}",
            f"{r.completion_tokens:,}",
            usd(r.cost_usd, places=4),
            f"{r.duration_s:.1f} s",
        )
        for r in ledger.rows()
    ]
    calls = len(ledger.calls)
    rows.append(
        (
            "**total**",
            "",
            str(calls),
            f"{sum(c.prompt_tokens for c in ledger.calls):,}",
            f"{sum(c.completion_tokens for c in ledger.calls):,}",
            usd(ledger.total_usd, places=4),
            f"{sum(c.duration_s for c in ledger.calls):.1f} s",
        )
    )
    return rows


def repairs_line(ledger: Ledger) -> str:
    cut = (
        f" {ledger.cut_off} replies were cut off at their token limit ({ledger.cut_off_retried} asked again "
        "with more room)."
        if ledger.cut_off
        else ""
    )
    if not ledger.repairs and not ledger.fallbacks:
        return "Interpretation layer: no repairs were needed." + cut
    kinds = ", ".join(f"{kind} ×{n}" for kind, n in sorted(ledger.repairs.items()) if kind != "fallback")
    return (
        f"Interpretation layer: {sum(n for k, n in ledger.repairs.items() if k != 'fallback')} repairs"
        f"{f' ({kinds})' if kinds else ''}, {ledger.fallbacks} fallback plans, {ledger.reasks} re-asks." + cut
    )


def cost_markdown(ledger: Ledger, *, budget_usd: float | None) -> str:
    lines = ["| " + " | ".join(_HEAD) + " |", "|" + "---|" * len(_HEAD)]
    lines += ["| " + " | ".join(row) + " |" for row in _cells(ledger)]
    if budget_usd is not None:
        lines.append(f"\nBudget: {usd(ledger.total_usd, places=4)} of {usd(budget_usd)} used.")
    lines.append(repairs_line(ledger))
    return "\n".join(lines)


def cost_details(ledger: Ledger, *, budget_usd: float | None) -> list[str]:
    """The cost table folded away under "Cost": the lines that end a comment of equitr's."""
    return ["<details><summary>Cost</summary>", "", cost_markdown(ledger, budget_usd=budget_usd), "", "</details>"]


def cost_text(ledger: Ledger, *, budget_usd: float | None) -> str:
    rows = [_HEAD, *(tuple(c.replace("**", "") for c in row) for row in _cells(ledger))]
    widths = [max(len(r[i]) for r in rows) for i in range(len(_HEAD))]
    out = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows]
    out.insert(1, "  ".join("-" * w for w in widths))
    if budget_usd is not None:
        out.append(f"budget: {usd(ledger.total_usd, places=4)} of {usd(budget_usd)} used")
    out.append(repairs_line(ledger))
    return "\n".join(out)
