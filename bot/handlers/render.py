"""The texts equitr writes on GitHub for a job's result: pull-request bodies and plans. Pure functions. (The
status comment's text is `equitr.jobs.status`.)

Whatever a model wrote or chose (its reasons, planned steps, paths, test output it caused) goes through
`equitr.text.sanitize` where it is placed; the templates around it are equitr's own.
"""

from __future__ import annotations

from collections.abc import Sequence

from equitr.agent.ledger import Ledger
from equitr.agent.loop import AgentResult, Entry, TestRun
from equitr.agent.report import cost_markdown, repairs_line
from equitr.interpret.result import arguments
from equitr.sandbox.policy import ci_relevant
from equitr.text.money import usd
from equitr.text.sanitize import sanitize, sanitize_inline
from equitr.tools.registry import Step


def describe_step(step: Step) -> str:
    # The plan comment shows every parameter a step runs with; the model chose the paths and queries.
    return sanitize_inline(f"`{step.tool}`({arguments(step, width=50, defaults=True)})")


def _tests(run: TestRun | None) -> str:
    if run is None:
        return "not run (no test command)"
    return f"{'passed' if run.ok else 'failed'} — {_cell(run.summary)}"


def _cell(text: str) -> str:
    """Text for one line or table cell: on one line, `|` escaped, sanitised."""
    return sanitize_inline(" ".join(text.split()).replace("|", "\\|"))


def trajectory_markdown(entries: Sequence[Entry], *, limit: int = 60) -> str:
    rows = ["| # | who | what | ok |", "|---|---|---|---|"]
    for entry in entries[:limit]:
        what = _cell(entry.what)
        detail = f" — {_cell(entry.detail[:120])}" if entry.detail else ""
        rows.append(f"| {entry.iteration} | {entry.actor} | {what}{detail} | {'✓' if entry.ok else '✗'} |")
    if len(entries) > limit:
        rows.append(f"| | | … {len(entries) - limit} more | |")
    return "\n".join(rows)


def changed_files(diff: str) -> list[str]:
    """The paths a unified git diff changes, added and deleted ones included."""
    found = {line[6:] for line in diff.splitlines() if line.startswith(("+++ b/", "--- a/"))}
    return sorted(found)


def ci_warning(files: Sequence[str]) -> list[str]:
    """Bold lines for the top of a pull request naming each changed file that CI runs or reads (even those
    `fix.allow_ci_paths` allowed), so that nobody runs CI on the branch without looking at them first."""
    hits = ci_relevant(files)
    if not hits:
        return []
    lines = ["**⚠️ This change touches files that CI runs or reads; review them before CI runs this branch:**", ""]
    lines += [f"- **`{path}`**: {why}" for path, why in hits]
    return [*lines, ""]


def pr_body(
    *,
    number: int,
    title: str,
    result: AgentResult,
    test_command: str,
    budget_usd: float,
    requester: str,
    job_id: int,
) -> str:
    files = changed_files(result.diff)
    return "\n".join(
        [
            f"Fixes #{number}",
            "",
            *ci_warning(files),
            f"equitr's change for **{_cell(title)}**, asked by @{requester} (job {job_id}).",
            "",
            "### What changed and why",
            "",
            sanitize(result.reason) or "The supervisor accepted the change.",
            "",
            *(f"- {_cell(f'`{f}`')}" for f in files),
            "",
            "### Tests",
            "",
            f"Command: {_cell(f'`{test_command}`' if test_command else '`(none configured)`')}",
            *([f"Setup: {_cell(result.setup)}"] if result.setup else []),
            "",
            "| | result |",
            "|---|---|",
            f"| before | {_tests(result.tests_before)} |",
            f"| after | {_tests(result.tests_after)} |",
            "",
            "### Cost",
            "",
            cost_markdown(result.ledger, budget_usd=budget_usd),
            "",
            "<details><summary>Trajectory</summary>",
            "",
            trajectory_markdown(result.trajectory),
            "",
            "</details>",
            "",
            "<sub>This is a draft: review it like any other contribution. Ask for changes with "
            f"`/equitr fix <instructions>` on #{number}.</sub>",
        ]
    )


def plan_body(*, steps: Sequence[Step], estimate_usd: float, model: str, fallback: bool, ledger: Ledger) -> str:
    lines = ["### equitr plan", ""]
    if fallback:
        lines += ["The model's plan could not be used, so this is the keyword fallback plan.", ""]
    lines += [f"- [ ] {describe_step(s)}" for s in steps] or ["(no steps)"]
    lines += [
        "",
        f"Estimated cost to carry it out with `{model}`: **{usd(estimate_usd, places=4)}** (planning so far: "
        f"{usd(ledger.total_usd, places=4)}). Nothing was changed. Run it with `/equitr fix`.",
        "",
        repairs_line(ledger),
    ]
    return "\n".join(lines)
