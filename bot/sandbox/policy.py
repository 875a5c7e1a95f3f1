"""What the agent may write: `fix.blocked_paths`, and the files CI runs, which it may not write by default.

A branch equitr pushes runs in CI with the repository's secrets (`push` and same-repository `pull_request`
workflows). Any code the agent writes can end up running there, so this list does not make such runs safe:
it keeps the agent away from the files whose whole purpose is to tell CI, a test runner or a build tool
what to run, fetch or load, where one line is enough to run anything with the secrets. A maintainer can allow
some of them with `fix.allow_ci_paths` in `.equitr.toml`; `.github/workflows/**` stays blocked whatever it
says, and so does anything in `fix.blocked_paths`.

Patterns are gitignore patterns (a pattern without `/` matches at any depth, `dir/**` everything under
`dir`), matched on paths folded the way `.git` is (`equitr.sandbox.names.fold_name`: case, Unicode
normalisation, invisible characters, trailing dots), so `Conftest.PY` or `.GitHub/actions` are the same file
to the check as they would be to a case-insensitive checkout. The check runs twice: in the file tool on
the path as written and as resolved, and again when a change is staged, so a blocked path is never
committed whatever wrote it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

import pathspec

from equitr.sandbox.names import fold_name

CONFIG_FILE = ".equitr.toml"
# The only branches equitr pushes (the push guard in sandbox/workspace.py), and not configurable.
BRANCH_PREFIX = "equitr/"
# Workflows run with the repository's secrets and a write token: no configuration can unblock them.
ALWAYS_BLOCKED: tuple[str, ...] = (".github/workflows/**",)


def fix_branch(number: int, *, pull_request: bool = False) -> str:
    """The branch a fix job pushes for issue `number` (or, for a same-repository pull request, on top of it)."""
    return f"{BRANCH_PREFIX}{'pr' if pull_request else 'issue'}-{number}"


@dataclass(frozen=True, slots=True)
class CIPath:
    pattern: str
    why: str


# Blocked by default; `fix.allow_ci_paths` can allow any of them except `.github/workflows/**`.
CI_PATHS: tuple[CIPath, ...] = (
    CIPath(".github/**", "GitHub runs workflows, the actions they use and the settings here (CODEOWNERS, dependabot)"),
    CIPath(".gitmodules", "a CI checkout with submodules fetches, and builds may run, whatever repository it names"),
    CIPath(".pre-commit-config.yaml", "pre-commit (in CI, or pre-commit.ci) runs hooks from any repository it names"),
    CIPath("conftest.py", "pytest imports every `conftest.py` before the tests of its directory, whatever is selected"),
    CIPath("setup.py", "pip, build and tox run it whenever the package is installed"),
    CIPath("noxfile.py", "its sessions are the commands CI runs with nox"),
    CIPath("tox.ini", "its `commands` are what CI runs with tox"),
    CIPath("Makefile", "CI runs `make` targets, whose recipes are shell commands"),
    CIPath("GNUmakefile", "CI runs `make` targets, whose recipes are shell commands"),
    CIPath("build.rs", "cargo runs a crate's build script before it builds or tests the crate"),
    CIPath(".cargo/**", "cargo configuration names runners and wrappers that run on every build"),
    CIPath(".npmrc", "npm configuration can load code into every node process (`node-options`) and change registries"),
    CIPath(".yarnrc.yml", "`yarnPath` makes yarn run any file in its place"),
    CIPath(".gitlab-ci.yml", "GitLab CI's pipeline definition"),
    CIPath(".circleci/**", "CircleCI's pipeline definition"),
    CIPath(".travis.yml", "Travis CI's pipeline definition"),
    CIPath("azure-pipelines.yml", "Azure Pipelines' pipeline definition"),
    CIPath("Jenkinsfile", "Jenkins' pipeline definition"),
    CIPath(".buildkite/**", "Buildkite's pipeline definition"),
    CIPath(".devcontainer/**", "Codespaces prebuilds run its lifecycle commands with the repository's secrets"),
)  # fmt: skip
# Not blocked (fixes need them), but listed in bold at the top of the pull request: CI installs or reads them.
CI_RELEVANT: tuple[CIPath, ...] = (
    CIPath("pyproject.toml", "the build backend, dependencies and pytest options CI uses"),
    CIPath("setup.cfg", "dependencies and test options CI uses"),
    CIPath("pytest.ini", "pytest options, including plugins loaded into every run"),
    CIPath("requirements*.txt", "dependencies CI installs, which run their own install code"),
    CIPath("package.json", "npm runs its `scripts` (install hooks, `npm test`) and installs its dependencies"),
    CIPath("Cargo.toml", "dependencies and build settings cargo uses"),
    CIPath("go.mod", "the modules `go` downloads and builds"),
    CIPath("Dockerfile", "its `RUN` lines run when CI builds the image"),
)  # fmt: skip


def fold_path(path: str) -> str:
    """`path` (or a pattern) with each `/`-separated component folded like `.git` is."""
    return "/".join(fold_name(part) for part in path.split("/"))


@lru_cache(maxsize=512)
def _spec(pattern: str) -> pathspec.GitIgnoreSpec:
    return pathspec.GitIgnoreSpec.from_lines([fold_path(pattern)])


def matches(pattern: str, path: str) -> bool:
    """Whether the gitignore `pattern` covers `path` (relative, posix), both folded."""
    return bool(_spec(pattern).match_file(fold_path(path)))


def first_match(patterns: Iterable[str], path: str) -> str | None:
    return next((p for p in patterns if matches(p, path)), None)


def ci_pattern(path: str) -> CIPath | None:
    """The default CI path that covers `path`, if any."""
    return next((c for c in CI_PATHS if matches(c.pattern, path)), None)


def ci_relevant(paths: Iterable[str]) -> list[tuple[str, str]]:
    """(path, why) for every path CI runs or reads, blocked by default or not, in the order given."""
    found: list[tuple[str, str]] = []
    for path in paths:
        hit = next((c for c in CI_PATHS + CI_RELEVANT if matches(c.pattern, path)), None)
        if hit is not None:
            found.append((path, hit.why))
    return found


@dataclass(frozen=True, slots=True)
class Refusal:
    reason: str
    hint: str | None = None


@dataclass(frozen=True, slots=True)
class WritePolicy:
    """`blocked`: `fix.blocked_paths` (with `ALWAYS_BLOCKED`); `allow_ci`: `fix.allow_ci_paths`."""

    blocked: tuple[str, ...] = ALWAYS_BLOCKED
    allow_ci: tuple[str, ...] = ()

    def refusal(self, path: str) -> Refusal | None:
        """Why the agent may not write `path` (relative, posix), or None when it may."""
        if pattern := first_match(ALWAYS_BLOCKED, path):
            return Refusal(f"`{pattern}` is always blocked: workflows run with the repository's secrets")
        if pattern := first_match(self.blocked, path):
            return Refusal(
                f"it matches `{pattern}` in `fix.blocked_paths` of {CONFIG_FILE}",
                hint="Leave this file as it is and change other files, or say in the pull request what it needs.",
            )
        ci = ci_pattern(path)
        if ci is not None and first_match(self.allow_ci, path) is None:
            return Refusal(
                f"CI runs it ({ci.why}), so equitr does not write it unless the repository allows it",
                hint=f'A maintainer can allow it with `fix.allow_ci_paths = ["{path}"]` in {CONFIG_FILE} on the '
                "default branch; until then, change other files.",
            )
        return None


DEFAULT_POLICY = WritePolicy()
