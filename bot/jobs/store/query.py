"""A filtered page of jobs, answered by the store itself (indexed SQL, or Redis sorted sets) instead of by
reading every job: what the dashboard's list and charts ask (`JobStore.find_jobs`, `JobStore.job_choices`).

The access rule is part of the query: `visible` is the set of repositories the viewer may see (lower-cased
full names; None for every repository), and no job outside it is ever returned or counted. Repository names
compare case-insensitively, as GitHub's do (they are ASCII, so SQLite's NOCASE and `str.lower` agree).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from equitr.jobs.model import Job


@dataclass(frozen=True, slots=True)
class JobQuery:
    """Jobs newest first (by id), filtered; `offset`/`limit` select the page."""

    visible: frozenset[str] | None = None  # lower-cased repositories the viewer may see; None: all
    repo: str = ""  # one repository (any case); "" for every visible one
    kind: str = ""
    state: str = ""
    since: float = -math.inf  # created at or after
    until: float = math.inf  # created before
    offset: int = 0
    limit: int = 50

    def repos(self) -> frozenset[str] | None:
        """The lower-cased repositories this query may return (None: any); empty when none may be."""
        if self.repo:
            wanted = self.repo.lower()
            return frozenset({wanted}) if self.visible is None or wanted in self.visible else frozenset()
        return self.visible

    def admits(self, job: Job) -> bool:
        """Whether `job` belongs in the answer: the stores check every job they return with it, so that a stale
        index entry can never show a job of another repository."""
        repos = self.repos()
        return (
            (repos is None or job.repo.lower() in repos)
            and (not self.kind or job.kind == self.kind)
            and (not self.state or job.state == self.state)
            and self.since <= job.created_at < self.until
        )


@dataclass(frozen=True, slots=True)
class JobsFound:
    jobs: list[Job]  # the page
    total: int  # every job the query matches


@dataclass(frozen=True, slots=True)
class JobChoices:
    """What the list's filters offer: the visible repositories and kinds that have jobs."""

    repos: list[str] = field(default_factory=list)  # one spelling per repository, sorted case-insensitively
    kinds: list[str] = field(default_factory=list)


def choices_of(names: dict[str, str], kinds: set[str]) -> JobChoices:
    """`names`: lower-cased repository → a spelling of it."""
    return JobChoices(sorted(names.values(), key=str.lower), sorted(kinds))
