"""What a run did, for people: the Markdown step summary (`$GITHUB_STEP_SUMMARY`) and the step's outputs."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from equitr.action.env import BACKLOG_EVENTS, Options, RunnerEnv

if TYPE_CHECKING:
    from equitr.jobs.model import Job

log = logging.getLogger("equitr.action")


@dataclass(slots=True)
class Skipped:
    number: int
    title: str
    reason: str


@dataclass(slots=True)
class Report:
    env: RunnerEnv
    options: Options
    jobs: list[Job] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[Job]:
        return [j for j in self.jobs if j.state != "done"]

    @property
    def cost_usd(self) -> float:
        return sum(j.cost_usd for j in self.jobs)


def render_summary(report: Report) -> str:
    env, options = report.env, report.options
    lines = [f"## equitr · `{env.event_name}` on {env.repository}", ""]
    if report.jobs:
        lines += ["| job | target | kind | state | cost (USD) | note |", "|---|---|---|---|---:|---|"]
        for job in report.jobs:
            thing = "pull" if job.args.get("is_pull_request") else "issues"
            target = f"[#{job.number}]({env.server_url}/{job.repo}/{thing}/{job.number})"
            title = _cell(str(job.args.get("title", "")))
            target += f" {title}" if title else ""
            lines.append(
                f"| {job.id} | {target} | `{job.kind}` | **{job.state}** | ${job.cost_usd:.4f} | {_cell(job.reason)} |"
            )
        lines.append("")
    if report.skipped:
        lines.append("**Skipped**")
        lines.append("")
        for skip in report.skipped:
            lines.append(
                f"- [#{skip.number}]({env.server_url}/{env.repository}/issues/{skip.number}) "
                f"{_cell(skip.title)} — {skip.reason}"
            )
        lines.append("")
    lines += [f"{note}" for note in report.notes]
    if report.notes:
        lines.append("")
    done = sum(1 for j in report.jobs if j.state == "done")
    total = f"**Total:** {len(report.jobs)} job(s), {done} done, {len(report.failed)} not done · ${report.cost_usd:.4f}"
    if env.event_name in BACKLOG_EVENTS:
        total += f" of a ${options.budget_usd:.2f} budget (label `{options.label}`, max-issues {options.max_issues})"
    lines.append(total)
    if report.failed:
        lines += [
            "",
            "The note says why a job did not finish."
            + ("" if options.fail_on_error else " This step still succeeds; set `fail-on-error: true` to fail it."),
        ]
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    from equitr.text.sanitize import sanitize_inline

    return sanitize_inline(" ".join(text.split()).replace("|", "\\|")[:200])  # a job's reason may quote a model


def write_outputs(report: Report) -> None:
    """The step's outputs (`jobs`, `failed`, `cost-usd`), for later steps of the workflow."""
    if report.env.output_path is None:
        return
    with report.env.output_path.open("a", encoding="utf-8") as out:
        out.write(f"jobs={len(report.jobs)}\nfailed={len(report.failed)}\ncost-usd={report.cost_usd:.6f}\n")


def append_summary(path: Path | None, text: str) -> None:
    """Add to the step summary; a summary that cannot be written is a warning, never the run's failure."""
    if path is None:
        return
    try:
        with path.open("a", encoding="utf-8") as out:
            out.write(text)
    except OSError as exc:
        log.warning("could not write the step summary to %s: %s", path, exc.strerror)
