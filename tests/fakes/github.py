"""A fake GitHub REST API on loopback, checked against GitHub's published OpenAPI description.

    async with FakeGitHub(app_id=1, app_public_key=key.public_key()) as fake:
        fake.add_repo("octo/repo")
        fake.add_installation(7, repos=["octo/repo"])
        fake.set_permission("octo/repo", "alice", "write")
        issue = fake.add_issue("octo/repo", title="Crash on start", user="alice")
        ...  # point the code under test at fake.base_url
        assert fake.calls_to("POST", "/repos/octo/repo/issues/1/comments")
        fake.assert_no_violations()

Every request is recorded (`calls`) and checked: the method and path must be an operation of the vendored
description (`tests/data/openapi/`), path and query parameters must fit their schemas, a JSON body must
validate against the operation's request schema (unknown properties included, since GitHub would silently
ignore them), and `Authorization`, `Accept` and `User-Agent` must be present. A request that does not
conform is answered the way GitHub answers it (404 / 422 / 401 / 403) and listed in `violations`; the
`fake_github` fixture fails the test at teardown if any are left (`take_violations()` when a test means
to provoke them). Every answer the fake gives is itself checked against the documented response schema,
so the shapes stay GitHub's (bodies are built from the description's own examples).

Behaviour that GitHub documents and equitr relies on is modelled: installation tokens need an RS256 App
JWT (`iss` = app id, at most 10 minutes), expire, and keep to the repositories and permissions the token
request named (every request body is kept on the token: `minted[i].request`; `long_tokens` mints GitHub's
~520-character `ghs_APPID_JWT` format); collaborator permissions map `maintain` → `write` and `triage` →
`read` with the real role in `role_name`; issues and pull requests share numbers; list
endpoints paginate with `Link` headers; review comments must sit on lines of the diff; one pending review
per user; a second open pull request for the same head is refused; search needs `is:issue`/`is:pr`; every
label added or removed leaves a `labeled`/`unlabeled` timeline event naming who did it.
Failures are injected with `fail_next`, `rate_limit_next` and `secondary_rate_limit_next`.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import fnmatch
import hashlib
import itertools
import json
import re
import secrets
import shlex
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, quote, urlencode

import jwt
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from tests.fakes.openapi import Operation, Spec, load_spec

DOCS = "https://docs.github.com/rest"
PERMISSIONS = ("admin", "maintain", "write", "triage", "read", "none")
# `permission` is the legacy base role GitHub reports; `role_name` keeps the real one.
LEGACY_PERMISSION = {"admin": "admin", "maintain": "write", "write": "write", "triage": "read", "read": "read"}
SECONDARY_RATE_LIMIT_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach "
    "out to GitHub Support for help, please include the request ID {request_id}."
)
JWT_ONLY = {"apps/create-installation-access-token", "apps/get-authenticated", "apps/get-repo-installation"}
# The permission an operation needs from a scoped token (GET = read, else write), by operation-id prefix;
# issue endpoints also serve pull requests, so either permission does for them, as on GitHub.
NEEDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("repos/get-collaborator-permission-level", ("metadata",)),
    ("repos/get-content", ("contents",)),
    ("repos/get-branch", ("contents",)),
    ("repos/get-commit", ("contents",)),
    ("repos/compare-commits", ("contents",)),
    ("repos/get", ("metadata",)),
    ("git/", ("contents",)),
    ("issues/", ("issues", "pull_requests")),
    ("reactions/create-for-pull-request-review-comment", ("pull_requests",)),
    ("reactions/", ("issues", "pull_requests")),
    ("pulls/", ("pull_requests",)),
    ("search/", ("issues", "pull_requests")),
    ("checks/", ("checks",)),
)
MAX_JWT_LIFETIME = 600
INTERNAL_KEYS = frozenset({"_repo", "_number", "_pending"})  # bookkeeping on stored JSON, never answered


class GitHubAnswer(Exception):
    """Raised by a handler to answer with an error status, like GitHub does."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        errors: list[Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = {"message": message, "documentation_url": DOCS, "status": str(status)}
        if errors is not None:
            self.body["errors"] = errors
        self.headers = dict(headers or {})


@dataclass
class Call:
    """One request the fake received."""

    method: str
    path: str
    query: dict[str, str]
    json: Any
    headers: dict[str, str]  # lower-cased names
    operation_id: str | None = None
    status: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def token(self) -> str | None:
        """The credential of the `Authorization` header, without its scheme."""
        value = self.headers.get("authorization", "")
        return value.split(" ", 1)[1] if " " in value else None

    def __repr__(self) -> str:
        return f"<Call {self.method} {self.path} → {self.status}>"


@dataclass
class Violation:
    call: Call
    message: str

    def __str__(self) -> str:
        return f"{self.call.method} {self.call.path}: {self.message}"


@dataclass
class Failure:
    method: str
    pattern: str | re.Pattern[str]
    status: int
    headers: dict[str, str]
    body: Any
    times: int
    disconnect: bool = False
    after: bool = False  # the request is carried out first, then answered with this failure
    delay_s: float = 0.0  # held this long before it is answered (a hang, when longer than the client waits)

    def matches(self, method: str, path: str) -> bool:
        if self.method not in ("*", method):
            return False
        if isinstance(self.pattern, re.Pattern):
            return self.pattern.fullmatch(path) is not None
        return fnmatch.fnmatchcase(path, self.pattern)


@dataclass
class Identity:
    login: str
    type: str  # "User" or "Bot"
    installation_id: int | None = None  # for installation tokens


@dataclass
class Token:
    value: str
    identity: Identity
    expires_at: float | None  # epoch seconds; None = never
    repositories: list[str] | None = None  # full names the token may touch; None = all
    permissions: dict[str, str] | None = None  # e.g. {"contents": "read"}; None = all of the App's
    request: dict[str, Any] | None = None  # the body of the token request, as sent

    def allows(self, permission: str, level: str) -> bool:
        """Whether the token grants `permission` at `level` ("read" or "write"); `metadata: read` always."""
        if self.permissions is None or (permission, level) == ("metadata", "read"):
            return True
        granted = self.permissions.get(permission)
        return granted == "write" or (granted == "read" and level == "read")


@dataclass
class Installation:
    id: int
    account: str
    repositories: list[str]


@dataclass
class Repo:
    owner: str
    name: str
    id: int
    default_branch: str
    private: bool
    branches: dict[str, str] = field(default_factory=dict)  # name → sha
    files: dict[str, dict[str, bytes]] = field(default_factory=dict)  # branch → path → content
    commits: dict[str, dict[str, Any]] = field(default_factory=dict)  # sha → {"message", "files"}
    permissions: dict[str, str | None] = field(default_factory=dict)  # login → role; None = no such user
    labels: dict[str, dict[str, Any]] = field(default_factory=dict)
    issues: dict[int, dict[str, Any]] = field(default_factory=dict)  # number → issue JSON
    pulls: dict[int, dict[str, Any]] = field(default_factory=dict)  # number → pull JSON
    pull_files: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    pull_commits: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    compares: dict[str, dict[str, Any]] = field(default_factory=dict)  # "base...head" → comparison
    issue_events: dict[int, list[dict[str, Any]]] = field(default_factory=dict)  # number → timeline events
    git_dir: str | None = None  # a linked bare repository that answers refs and contents
    clone_url: str | None = None  # where git clones from (a real remote in end-to-end tests)

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def fake_sha(*parts: object) -> str:
    return hashlib.sha1("\0".join(map(str, parts)).encode()).hexdigest()


def diff_lines(patch: str | None) -> dict[str, dict[int, int]]:
    """Where review comments may go, from a unified-diff `patch`.

    `LEFT` / `RIGHT`: line number → diff position, per side; `positions`: diff position → line number (on
    the right side, or the left for removed lines). Positions count lines below the first `@@` header, the
    headers of later hunks included, as GitHub documents.
    """
    sides: dict[str, dict[int, int]] = {"LEFT": {}, "RIGHT": {}, "positions": {}}
    if not patch:
        return sides
    old = new = 0
    position = 0
    for line in patch.splitlines():
        header = re.match(r"@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@", line)
        if header:
            if position:  # the header of a later hunk counts as a position too
                position += 1
            old, new = int(header.group(1)), int(header.group(2))
            continue
        if line.startswith("\\"):  # "\ No newline at end of file"
            continue
        position += 1
        if line.startswith("-"):
            sides["LEFT"][old] = position
            sides["positions"][position] = old
            old += 1
        elif line.startswith("+"):
            sides["RIGHT"][new] = position
            sides["positions"][position] = new
            new += 1
        else:
            sides["LEFT"][old] = position
            sides["RIGHT"][new] = position
            sides["positions"][position] = new
            old += 1
            new += 1
    return sides


class FakeGitHub:
    """A stateful fake of the GitHub REST API on 127.0.0.1; see the module docstring."""

    def __init__(
        self,
        *,
        app_id: int = 1,
        app_slug: str = "equitr",
        app_public_key: RSAPublicKey | None = None,
        clock: Callable[[], float] = time.time,
        token_ttl: float = 3600.0,
        spec: Spec | None = None,
        check_responses: bool = True,
    ) -> None:
        self.app_id = app_id
        self.app_slug = app_slug
        self.app_public_key = app_public_key
        self.clock = clock
        self.token_ttl = token_ttl
        self.long_tokens = False  # mint `ghs_APPID_JWT` tokens (~520 characters, with dots), GitHub's 2026 format
        self.spec = spec or load_spec()
        self.check_responses = check_responses
        self.calls: list[Call] = []
        self.violations: list[Violation] = []
        self.repos: dict[str, Repo] = {}
        self.installations: dict[int, Installation] = {}
        self.tokens: dict[str, Token] = {}
        self.minted: list[Token] = []  # installation tokens in the order they were issued
        self.comments: dict[int, dict[str, Any]] = {}  # id → issue comment JSON (with "_repo", "_number")
        self.reactions: dict[tuple[str, int], list[dict[str, Any]]] = {}  # ("issue"|"comment"|..., id)
        self.reviews: dict[int, dict[str, Any]] = {}  # id → review JSON (with "_repo", "_number")
        self.review_comments: dict[int, dict[str, Any]] = {}
        self.check_runs: dict[int, dict[str, Any]] = {}
        self.rate_limit_remaining = 5000
        # The App's OAuth web flow (github.com/login/oauth/…, served here too): the App's client credentials,
        # who approves the next sign-in, and the codes handed out (code → (login, redirect_uri)).
        self.oauth_client_id = "Iv1.fakeclientid"
        self.oauth_client_secret = "fake-client-secret-" + secrets.token_hex(8)
        self.oauth_login: str | None = None
        self.oauth_codes: dict[str, tuple[str, str]] = {}
        self._failures: list[Failure] = []
        self._hangs: list[Failure] = []
        self._ids = itertools.count(1001)
        self._request_ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self.port = 0
        self.handlers: dict[str, Callable[[Request], Any]] = {
            "apps/create-installation-access-token": self._create_installation_token,
            "apps/get-authenticated": self._get_app,
            "apps/get-repo-installation": self._get_repo_installation,
            "repos/get": self._get_repo,
            "repos/get-collaborator-permission-level": self._get_permission,
            "repos/get-content": self._get_content,
            "repos/get-branch": self._get_branch,
            "repos/get-commit": self._get_commit,
            "repos/compare-commits-with-basehead": self._compare,
            "issues/list-for-repo": self._list_issues,
            "issues/create": self._create_issue,
            "issues/get": self._get_issue,
            "issues/list-comments": self._list_comments,
            "issues/list-events": self._list_events,
            "issues/list-comments-for-repo": self._list_repo_comments,
            "issues/create-comment": self._create_comment,
            "issues/get-comment": self._get_comment,
            "issues/update-comment": self._update_comment,
            "issues/list-labels-on-issue": self._list_labels,
            "issues/add-labels": self._add_labels,
            "issues/remove-label": self._remove_label,
            "reactions/create-for-issue-comment": self._react_comment,
            "reactions/create-for-issue": self._react_issue,
            "reactions/create-for-pull-request-review-comment": self._react_review_comment,
            "search/issues-and-pull-requests": self._search_issues,
            "pulls/list": self._list_pulls,
            "pulls/create": self._create_pull,
            "pulls/get": self._get_pull,
            "pulls/update": self._update_pull,
            "pulls/list-files": self._list_pull_files,
            "pulls/list-commits": self._list_pull_commits,
            "pulls/request-reviewers": self._request_reviewers,
            "pulls/list-reviews": self._list_reviews,
            "pulls/create-review": self._create_review,
            "pulls/update-review": self._update_review,
            "pulls/list-review-comments": self._list_review_comments,
            "git/get-ref": self._get_ref,
            "git/create-ref": self._create_ref,
            "git/update-ref": self._update_ref,
            "rate-limit/get": self._get_rate_limit,
            "users/get-authenticated": self._get_authenticated_user,
            "apps/list-installations-for-authenticated-user": self._list_user_installations,
            "apps/list-installation-repos-for-authenticated-user": self._list_user_installation_repos,
            "checks/create": self._create_check_run,
            "checks/update": self._update_check_run,
        }
        missing = {op.operation_id for op in self.spec.operations} - set(self.handlers)
        if missing:
            raise RuntimeError(f"operations without a handler in the fake: {sorted(missing)}")

    # -- server lifecycle ---------------------------------------------------------------------------------

    async def start(self) -> FakeGitHub:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        self._site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await self._site.start()
        server = self._site._server
        assert server is not None
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeGitHub:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    @property
    def base_url(self) -> str:
        """What `GITHUB_API_URL` should be set to (no trailing slash)."""
        return f"http://127.0.0.1:{self.port}"

    # -- inspection ---------------------------------------------------------------------------------------

    def calls_to(self, method: str, path: str | re.Pattern[str]) -> list[Call]:
        """Recorded calls by method (`*` for any) and exact path, shell-style pattern or compiled regex."""
        probe = Failure(method.upper(), path, 0, {}, None, 0)
        return [call for call in self.calls if probe.matches(call.method, call.path)]

    def calls_for(self, operation_id: str) -> list[Call]:
        """Recorded calls by OpenAPI operation id, e.g. `issues/create-comment`."""
        return [call for call in self.calls if call.operation_id == operation_id]

    def take_violations(self) -> list[str]:
        """The violations so far, as strings, and forget them (for tests that provoke them on purpose)."""
        taken = [str(v) for v in self.violations]
        self.violations.clear()
        return taken

    def assert_no_violations(self) -> None:
        if self.violations:
            lines = "\n".join(f"  - {v}" for v in self.violations)
            raise AssertionError(
                f"{len(self.violations)} request(s) to the fake GitHub did not conform to GitHub's API:\n{lines}"
            )

    def repo(self, full_name: str) -> Repo:
        return self.repos[full_name]

    def issue(self, full_name: str, number: int) -> dict[str, Any]:
        return self.repos[full_name].issues[number]

    def pull(self, full_name: str, number: int) -> dict[str, Any]:
        """The pull request as GitHub would answer for it now (its head follows its branch)."""
        return self._pull_out(self.repos[full_name], number)

    def issue_comments(self, full_name: str, number: int) -> list[dict[str, Any]]:
        return [c for c in self.comments.values() if c["_repo"] == full_name and c["_number"] == number]

    def reactions_on_comment(self, comment_id: int) -> list[str]:
        return [r["content"] for r in self.reactions.get(("comment", comment_id), [])]

    def reactions_on_issue(self, full_name: str, number: int) -> list[str]:
        issue_id = self.repos[full_name].issues[number]["id"]
        return [r["content"] for r in self.reactions.get(("issue", issue_id), [])]

    def pull_reviews(self, full_name: str, number: int) -> list[dict[str, Any]]:
        return [r for r in self.reviews.values() if r["_repo"] == full_name and r["_number"] == number]

    def labels_on(self, full_name: str, number: int) -> list[str]:
        return [label["name"] for label in self.repos[full_name].issues[number]["labels"]]

    # -- state set-up -------------------------------------------------------------------------------------

    def add_repo(
        self,
        full_name: str,
        *,
        default_branch: str = "main",
        private: bool = False,
        files: Mapping[str, str | bytes] | None = None,
    ) -> Repo:
        owner, name = full_name.split("/")
        repo = Repo(owner=owner, name=name, id=next(self._ids), default_branch=default_branch, private=private)
        self.repos[full_name] = repo
        self.set_branch(full_name, default_branch, fake_sha(full_name, default_branch, "initial"))
        for path, content in (files or {}).items():
            self.set_file(full_name, path, content)
        return repo

    def link_git_remote(self, full_name: str, git_dir: str, *, clone_url: str | None = None) -> None:
        """Answer branches, refs, commits and contents of `full_name` from a real (bare) git repository,
        and (with `clone_url`) send git there to clone and push."""
        self.repos[full_name].git_dir = git_dir
        self.repos[full_name].clone_url = clone_url

    def add_installation(self, installation_id: int, *, repos: Iterable[str], account: str | None = None) -> None:
        repositories = list(repos)
        owner = account or (repositories[0].split("/")[0] if repositories else "octo-org")
        self.installations[installation_id] = Installation(installation_id, owner, repositories)

    def add_token(self, token: str, *, login: str = "github-actions[bot]", type: str = "Bot") -> None:
        """Accept `token` (a personal access token or an Action's `GITHUB_TOKEN`) as `login`."""
        self.tokens[token] = Token(token, Identity(login, type), expires_at=None)

    def sign_in_as(self, login: str | None) -> None:
        """Who approves the App's OAuth sign-in from now on (None: the user denies it)."""
        self.oauth_login = login

    def expire_tokens(self) -> None:
        """Every installation token issued so far stops working (GitHub answers 401 Bad credentials)."""
        for token in self.tokens.values():
            if token.identity.installation_id is not None:
                token.expires_at = self.clock() - 1

    def set_permission(self, full_name: str, login: str, permission: str | None) -> None:
        """`admin`, `maintain`, `write`, `triage`, `read` or `none`; None: the user does not exist (404).

        Users never set get `read` on public repositories and `none` on private ones, as on GitHub.
        """
        if permission is not None and permission not in PERMISSIONS:
            raise ValueError(f"permission must be one of {PERMISSIONS}")
        self.repos[full_name].permissions[login] = permission

    def set_branch(self, full_name: str, branch: str, sha: str, *, message: str = "A commit") -> None:
        repo = self.repos[full_name]
        repo.branches[branch] = sha
        repo.commits.setdefault(sha, {"message": message, "files": []})
        repo.files.setdefault(branch, dict(repo.files.get(repo.default_branch, {})))

    def set_file(self, full_name: str, path: str, content: str | bytes, *, branch: str | None = None) -> None:
        repo = self.repos[full_name]
        data = content.encode() if isinstance(content, str) else content
        repo.files.setdefault(branch or repo.default_branch, {})[path.strip("/")] = data

    def add_issue(
        self,
        full_name: str,
        *,
        title: str,
        body: str | None = "",
        user: str = "octocat",
        labels: Iterable[str] = (),
        state: str = "open",
        labeled_by: str | None = None,
    ) -> dict[str, Any]:
        """An issue; its `labels` were applied by `labeled_by` (default: the author, as an issue form does)."""
        repo = self.repos[full_name]
        number = self._next_number(repo)
        issue = self._issue_json(repo, number, title=title, body=body, user=self._user(user))
        repo.issues[number] = issue
        for name in labels:
            self.label_issue(full_name, number, name, by=labeled_by or user)
        self._set_state(issue, state)
        return issue

    def label_issue(self, full_name: str, number: int, name: str, *, by: str, at: float | None = None) -> None:
        """`by` adds the label `name` (at `at`, default now): the label and its `labeled` timeline event."""
        repo = self.repos[full_name]
        issue = self._issue(repo, number)
        if name not in {label["name"] for label in issue["labels"]}:
            issue["labels"].append(self._label(repo, name))
        self._issue_event(repo, number, "labeled", Identity(by, "Bot" if by.endswith("[bot]") else "User"), name, at)

    def edit_comment(self, comment_id: int, body: str, *, at: float | None = None) -> None:
        """Its author edits a comment (at `at`, default now)."""
        comment = self.comments[comment_id]
        comment["body"] = body
        comment["updated_at"] = iso(self.clock() if at is None else at)

    def add_comment(
        self, full_name: str, number: int, body: str, *, user: str = "octocat", at: float | None = None
    ) -> dict[str, Any]:
        """`user` comments on the issue (at `at`, default now)."""
        repo = self.repos[full_name]
        identity = Identity(user, "Bot" if user.endswith("[bot]") else "User")
        comment = self._new_comment(repo, number, body, identity)
        if at is not None:
            comment["created_at"] = comment["updated_at"] = iso(at)
        return comment

    def add_pull(
        self,
        full_name: str,
        *,
        title: str,
        head: str,
        base: str | None = None,
        body: str | None = "",
        user: str = "octocat",
        draft: bool = False,
        head_sha: str | None = None,
        files: list[dict[str, Any]] | None = None,
        commits: list[dict[str, Any]] | None = None,
        fork: str | None = None,
    ) -> dict[str, Any]:
        """A pull request opened by someone else (a bot when `user` ends in `[bot]`); `files` as GitHub lists
        them (filename, status, patch …); `fork`: the OWNER/NAME its head branch lives in, when not this one."""
        repo = self.repos[full_name]
        sha = head_sha or self._branch_sha(repo, head) or fake_sha(full_name, head, "head")
        if self._branch_sha(repo, head) is None:
            self.set_branch(full_name, head, sha)
        pull = self._new_pull(
            repo,
            title=title,
            head=head,
            base=base or repo.default_branch,
            body=body,
            identity=Identity(user, "Bot" if user.endswith("[bot]") else "User"),
            draft=draft,
        )
        if fork is not None:
            owner, name = fork.split("/")
            head_json = pull["head"]
            head_json.update(label=f"{owner}:{head}", user=self._user(owner))
            head_json["repo"].update(
                full_name=fork,
                name=name,
                fork=True,
                owner=self._user(owner),
                html_url=f"https://github.com/{fork}",
                url=f"{self.base_url}/repos/{fork}",
            )
        if files is not None:
            self.set_pull_files(full_name, pull["number"], files)
        if commits is not None:
            repo.pull_commits[pull["number"]] = commits
        return pull

    def set_pull_files(self, full_name: str, number: int, files: list[dict[str, Any]]) -> None:
        example = self.spec.example("diff-entry-items")[0]
        repo = self.repos[full_name]
        out = []
        for entry in files:
            item = copy.deepcopy(example)
            item.update(
                {"sha": fake_sha(entry["filename"]), "status": "modified", "additions": 0, "deletions": 0, "changes": 0}
            )
            item.pop("previous_filename", None)
            item.update(entry)
            item["blob_url"] = f"https://github.com/{full_name}/blob/{item['sha']}/{item['filename']}"
            item["raw_url"] = f"https://github.com/{full_name}/raw/{item['sha']}/{item['filename']}"
            item["contents_url"] = f"{self._api(repo)}/contents/{quote(item['filename'])}"
            if "patch" not in entry:
                item.pop("patch", None)
            out.append(item)
        repo.pull_files[number] = out
        pull = repo.pulls[number]
        pull["changed_files"] = len(out)
        pull["additions"] = sum(f["additions"] for f in out)
        pull["deletions"] = sum(f["deletions"] for f in out)

    def set_compare(self, full_name: str, basehead: str, *, files: list[dict[str, Any]], commits: int = 1) -> None:
        """What `GET /repos/{o}/{r}/compare/{base}...{head}` answers (for incremental reviews)."""
        self.repos[full_name].compares[basehead] = {"files": files, "commits": commits}

    # -- failures -----------------------------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        path: str | re.Pattern[str],
        *,
        status: int = 500,
        headers: Mapping[str, str] | None = None,
        body: Any = None,
        times: int = 1,
        disconnect: bool = False,
        after: bool = False,
    ) -> None:
        """The next `times` matching requests get `status` (or a dropped connection) instead of an answer.

        `path` is an exact path, a shell-style pattern (`/repos/o/r/issues/*`) or a compiled regex; `method`
        may be `*`. Matching requests are still recorded and checked against the description first. With
        `after`, the request is carried out (a comment is created …) before the failure is answered: what a
        client sees when GitHub's answer, not its write, is lost.
        """
        if body is None:
            body = {
                "message": {
                    401: "Bad credentials",
                    404: "Not Found",
                    500: "Server Error",
                    502: "Server Error",
                    503: "Service Unavailable",
                }.get(status, "Error"),
                "documentation_url": DOCS,
                "status": str(status),
            }
        self._failures.append(
            Failure(method.upper(), path, status, dict(headers or {}), body, times, disconnect, after=after)
        )

    def hang_next(self, method: str, path: str | re.Pattern[str], *, seconds: float, times: int = 1) -> None:
        """The next `times` matching requests are answered (normally) only after `seconds`."""
        self._hangs.append(Failure(method.upper(), path, 0, {}, None, times, delay_s=seconds))

    def clear_failures(self) -> None:
        """GitHub heals: the failures still waiting are dropped."""
        self._failures.clear()
        self._hangs.clear()

    def rate_limit_next(
        self, method: str, path: str | re.Pattern[str], *, reset_in: float = 30, status: int = 403, times: int = 1
    ) -> None:
        """Primary rate limit: 403 with `x-ratelimit-remaining: 0` and `x-ratelimit-reset` `reset_in` ahead."""
        reset = int(self.clock() + reset_in)
        self.fail_next(
            method,
            path,
            status=status,
            times=times,
            headers={
                "x-ratelimit-limit": "5000",
                "x-ratelimit-remaining": "0",
                "x-ratelimit-used": "5000",
                "x-ratelimit-reset": str(reset),
                "x-ratelimit-resource": "core",
            },
            body={
                "message": "API rate limit exceeded for installation ID 1. If you reach out to GitHub "
                "Support for help, please include the request ID 0000:0000:0000.",
                "documentation_url": f"{DOCS}/overview/rate-limits-for-the-rest-api",
                "status": str(status),
            },
        )

    def secondary_rate_limit_next(
        self,
        method: str,
        path: str | re.Pattern[str],
        *,
        retry_after: int | None = None,
        status: int = 403,
        times: int = 1,
    ) -> None:
        """Secondary rate limit: 403 (or 429) with GitHub's documented message, `retry-after` if given."""
        headers = {"retry-after": str(retry_after)} if retry_after is not None else {}
        self.fail_next(
            method,
            path,
            status=status,
            times=times,
            headers=headers,
            body={
                "message": SECONDARY_RATE_LIMIT_MESSAGE.format(request_id="0000:0000:0000"),
                "documentation_url": f"{DOCS}/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits",
                "status": str(status),
            },
        )

    # -- the request pipeline -----------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.path.startswith("/login/oauth/"):
            return await self._oauth(request)
        raw = await request.read()
        query = {k: v for k, v in parse_qs(request.query_string, keep_blank_values=True).items()}
        headers = {k.lower(): v for k, v in request.headers.items()}
        call = Call(request.method, request.path, {k: v[-1] for k, v in query.items()}, None, headers)
        self.calls.append(call)
        for hang in self._hangs:
            if hang.times > 0 and hang.matches(call.method, call.path):
                hang.times -= 1
                await asyncio.sleep(hang.delay_s)
                break
        try:
            status, body, extra = self._answer(call, raw, query)
        except GitHubAnswer as answer:
            status, body, extra = answer.status, answer.body, answer.headers
        except _Disconnect:
            call.status = -1
            if request.transport is not None:
                request.transport.abort()
            return web.Response(status=500)
        except Exception as error:  # a bug in the fake: make it fail the test, loudly
            self._violation(call, f"the fake crashed: {error!r}")
            status, body, extra = 500, {"message": f"fake crashed: {error!r}"}, {}
        call.status = status
        return self._respond(status, body, extra)

    def _violation(self, call: Call, message: str) -> None:
        call.problems.append(message)
        self.violations.append(Violation(call, message))

    def _answer(self, call: Call, raw: bytes, query: dict[str, list[str]]) -> tuple[int, Any, dict[str, str]]:
        body: Any = None
        has_body = bool(raw)
        if has_body:
            content_type = call.headers.get("content-type", "")
            try:
                body = json.loads(raw)
            except ValueError:
                self._violation(call, f"body is not JSON (content-type {content_type!r})")
                raise GitHubAnswer(400, "Problems parsing JSON") from None
            if not content_type.startswith("application/json"):
                self._violation(call, f"JSON body sent with content-type {content_type!r}")
        call.json = body
        for header in ("user-agent", "accept"):
            if not call.headers.get(header):
                self._violation(call, f"missing {header} header")
        if not call.headers.get("user-agent"):
            raise GitHubAnswer(
                403, "Request forbidden by administrative rules. Please make sure your request has a User-Agent header."
            )
        check = self.spec.check_request(call.method, call.path, query, body, has_body=has_body)
        if check.operation is not None:
            call.operation_id = check.operation.operation_id
        for problem in check.problems:
            self._violation(call, problem)
        if check.problems:
            if check.status == 404:
                raise GitHubAnswer(404, "Not Found")
            raise GitHubAnswer(422, "Invalid request.\n\n" + "\n".join(check.problems))
        assert check.operation is not None
        late = None
        for failure in self._failures:
            if failure.times > 0 and failure.matches(call.method, call.path):
                failure.times -= 1
                if failure.after:
                    late = failure
                    break
                if failure.disconnect:
                    raise _Disconnect()
                return failure.status, failure.body, failure.headers
        identity = self._authenticate(call, check.operation, check.path_params)
        handler = self.handlers[check.operation.operation_id]
        request = Request(call, identity, check.path_params, check.query, body, self)
        result = handler(request)
        status, response, extra = result if isinstance(result, tuple) else (200, result, {})
        if late is not None:  # done; only the answer is lost
            if late.disconnect:
                raise _Disconnect()
            return late.status, late.body, late.headers
        if self.check_responses:
            for problem in self.spec.check_response(check.operation, status, response):
                self._violation(call, f"the fake's own {status} answer does not match the description: {problem}")
        return status, response, extra

    def _respond(self, status: int, body: Any, extra: Mapping[str, str]) -> web.Response:
        self.rate_limit_remaining = max(self.rate_limit_remaining - 1, 0)
        headers = {
            "x-github-request-id": f"FAKE:{next(self._request_ids):06d}",
            "x-github-api-version-selected": "2022-11-28",
            "x-ratelimit-limit": "5000",
            "x-ratelimit-remaining": str(max(self.rate_limit_remaining, 1)),
            "x-ratelimit-used": str(5000 - max(self.rate_limit_remaining, 1)),
            "x-ratelimit-reset": str(int(self.clock()) + 3600),
            "x-ratelimit-resource": "core",
        }
        headers.update(extra)
        if body is None or status == 204:
            return web.Response(status=status, headers=headers)
        return web.Response(
            status=status,
            body=json.dumps(body).encode(),
            content_type="application/json",
            charset="utf-8",
            headers=headers,
        )

    # -- authentication -----------------------------------------------------------------------------------

    def _authenticate(self, call: Call, op: Operation, params: Mapping[str, Any]) -> Identity:
        header = call.headers.get("authorization", "")
        scheme, _, credential = header.partition(" ")
        if not credential or scheme.lower() not in ("bearer", "token"):
            self._violation(call, "no Authorization header (Bearer/token)")
            raise GitHubAnswer(401, "Requires authentication")
        is_jwt = credential.count(".") == 2 and not credential.startswith("gh")  # ghs_APPID_JWT is a token
        if op.operation_id in JWT_ONLY:
            if not is_jwt:
                self._violation(call, f"{op.operation_id} needs an App JWT, got a token")
                raise GitHubAnswer(401, "A JSON web token could not be decoded")
            self._verify_jwt(call, credential)
            return Identity(f"{self.app_slug}[bot]", "Bot")
        if is_jwt:
            self._violation(call, f"{op.operation_id} needs an installation or personal token, got a JWT")
            raise GitHubAnswer(401, "Bad credentials")
        token = self.tokens.get(credential)
        if token is None or (token.expires_at is not None and token.expires_at <= self.clock()):
            raise GitHubAnswer(401, "Bad credentials")
        repo = params.get("owner"), params.get("repo")
        if token.repositories is not None and None not in repo and f"{repo[0]}/{repo[1]}" not in token.repositories:
            raise GitHubAnswer(404, "Not Found")
        level = "read" if call.method in ("GET", "HEAD") else "write"
        needed = next((perms for prefix, perms in NEEDS if op.operation_id.startswith(prefix)), ())
        if needed and not any(token.allows(p, level) for p in needed):
            raise GitHubAnswer(403, "Resource not accessible by integration")
        return token.identity

    def _verify_jwt(self, call: Call, value: str) -> None:
        def refuse(message: str) -> GitHubAnswer:
            self._violation(call, f"App JWT refused: {message}")
            return GitHubAnswer(401, message)

        if self.app_public_key is None:
            raise refuse("the fake has no App public key (pass app_public_key=)")
        try:
            header = jwt.get_unverified_header(value)
            claims = jwt.decode(
                value,
                self.app_public_key,
                algorithms=["RS256"],
                options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},
            )
        except jwt.PyJWTError as error:
            raise refuse(f"A JSON web token could not be decoded ({error})") from None
        if header.get("alg") != "RS256":
            raise refuse("JWT must be signed with RS256")
        now = self.clock()
        for claim in ("iat", "exp", "iss"):
            if claim not in claims:
                raise refuse(f"Missing '{claim}' claim")
        if str(claims["iss"]) != str(self.app_id):
            raise refuse(f"'Issuer' claim ('iss') must be the app id {self.app_id}, got {claims['iss']!r}")
        if claims["exp"] <= now:
            raise refuse(
                "'Expiration time' claim ('exp') must be a numeric value representing the future time "
                "at which the assertion expires"
            )
        if claims["exp"] - now > MAX_JWT_LIFETIME + 1 or claims["exp"] - claims["iat"] > MAX_JWT_LIFETIME + 60:
            raise refuse("'Expiration time' claim ('exp') is too far in the future")
        if claims["iat"] > now + 1:
            raise refuse(
                "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued"
            )

    # -- JSON builders (from the description's examples) --------------------------------------------------

    def _api(self, repo: Repo) -> str:
        return f"{self.base_url}/repos/{repo.full_name}"

    def _user(self, login: str, type: str | None = None) -> dict[str, Any]:
        user = self.spec.example("reaction")["user"]
        kind = type or ("Bot" if login.endswith("[bot]") else "User")
        user_id = int(hashlib.sha1(login.encode()).hexdigest()[:7], 16)
        user.update(
            {
                "login": login,
                "id": user_id,
                "type": kind,
                "site_admin": False,
                "node_id": base64.b64encode(f"04:User{user_id}".encode()).decode(),
                "url": f"{self.base_url}/users/{quote(login)}",
                "html_url": f"https://github.com/{quote(login)}",
            }
        )
        for key in list(user):
            if key.endswith("_url") and key not in ("url", "html_url", "avatar_url"):
                user[key] = user[key].replace("/users/octocat", f"/users/{quote(login)}")
        return user

    def _identity_user(self, identity: Identity) -> dict[str, Any]:
        return self._user(identity.login, identity.type)

    def _app_json(self) -> dict[str, Any]:
        app = self.spec.example("integration")
        app.update(
            {
                "id": self.app_id,
                "slug": self.app_slug,
                "name": self.app_slug,
                "html_url": f"https://github.com/apps/{self.app_slug}",
            }
        )
        return app

    def _repo_json(self, repo: Repo, *, full: bool = False) -> dict[str, Any]:
        data = (
            self.spec.example("full-repository-default-response")
            if full
            else (self.spec.example("pull-request")["head"]["repo"])
        )
        owner = self._user(repo.owner, "Organization")
        data.update(
            {
                "id": repo.id,
                "name": repo.name,
                "full_name": repo.full_name,
                "owner": owner,
                "private": repo.private,
                "visibility": "private" if repo.private else "public",
                "default_branch": repo.default_branch,
                "html_url": f"https://github.com/{repo.full_name}",
                "url": self._api(repo),
                "clone_url": repo.clone_url or f"https://github.com/{repo.full_name}.git",
                "node_id": base64.b64encode(f"010:Repository{repo.id}".encode()).decode(),
            }
        )
        if full:
            for key in ("organization", "parent", "source", "template_repository"):
                data.pop(key, None)
            data.setdefault("language", None)
        return data

    def _label(self, repo: Repo, name: str) -> dict[str, Any]:
        if name not in repo.labels:
            label = self.spec.example("label-items")[0]
            label_id = next(self._ids)
            label.update(
                {
                    "id": label_id,
                    "name": name,
                    "url": f"{self._api(repo)}/labels/{quote(name)}",
                    "color": "ededed",
                    "default": False,
                    "description": None,
                    "node_id": base64.b64encode(f"05:Label{label_id}".encode()).decode(),
                }
            )
            repo.labels[name] = label
        return copy.deepcopy(repo.labels[name])

    def _next_number(self, repo: Repo) -> int:
        return max([0, *repo.issues, *repo.pulls]) + 1

    def _issue_json(
        self, repo: Repo, number: int, *, title: str, body: str | None, user: dict[str, Any]
    ) -> dict[str, Any]:
        issue = self.spec.example("issue")
        issue_id = next(self._ids)
        now = iso(self.clock())
        issue.update(
            {
                "id": issue_id,
                "node_id": base64.b64encode(f"05:Issue{issue_id}".encode()).decode(),
                "number": number,
                "title": title,
                "body": body,
                "user": user,
                "labels": [],
                "state": "open",
                "state_reason": None,
                "locked": False,
                "assignee": None,
                "assignees": [],
                "milestone": None,
                "comments": 0,
                "created_at": now,
                "updated_at": now,
                "closed_at": None,
                "closed_by": None,
                "author_association": "NONE",
                "active_lock_reason": None,
                "url": f"{self._api(repo)}/issues/{number}",
                "html_url": f"https://github.com/{repo.full_name}/issues/{number}",
                "repository_url": self._api(repo),
                "labels_url": f"{self._api(repo)}/issues/{number}/labels{{/name}}",
                "comments_url": f"{self._api(repo)}/issues/{number}/comments",
                "events_url": f"{self._api(repo)}/issues/{number}/events",
            }
        )
        for key in ("pull_request", "repository", "pinned_comment", "performed_via_github_app"):
            issue.pop(key, None)
        return issue

    def _issue_event(
        self, repo: Repo, number: int, event: str, actor: Identity, label: str | None = None, at: float | None = None
    ) -> None:
        item = self.spec.example("issue-event-for-issue-items")[0]
        event_id = next(self._ids)
        item.update(
            {
                "id": event_id,
                "node_id": base64.b64encode(f"011:LabeledEvent{event_id}".encode()).decode(),
                "url": f"{self._api(repo)}/issues/events/{event_id}",
                "actor": self._identity_user(actor),
                "event": event,
                "commit_id": None,
                "commit_url": None,
                "created_at": iso(self.clock() if at is None else at),
                "performed_via_github_app": self._app_json() if actor.installation_id is not None else None,
            }
        )
        if label is None:
            item.pop("label", None)
        else:
            item["label"] = {"name": label, "color": "ededed"}
        repo.issue_events.setdefault(number, []).append(item)
        repo.issues[number]["updated_at"] = item["created_at"]

    def _set_state(self, item: dict[str, Any], state: str) -> None:
        item["state"] = state
        item["closed_at"] = iso(self.clock()) if state == "closed" else None
        if "state_reason" in item:
            item["state_reason"] = "completed" if state == "closed" else None

    def _new_comment(self, repo: Repo, number: int, body: str, identity: Identity) -> dict[str, Any]:
        if number not in repo.issues:
            raise GitHubAnswer(404, "Not Found")
        comment = self.spec.example("issue-comment")
        comment_id = next(self._ids)
        now = iso(self.clock())
        comment.update(
            {
                "id": comment_id,
                "node_id": base64.b64encode(f"012:IssueComment{comment_id}".encode()).decode(),
                "body": body,
                "user": self._identity_user(identity),
                "created_at": now,
                "updated_at": now,
                "url": f"{self._api(repo)}/issues/comments/{comment_id}",
                "html_url": f"https://github.com/{repo.full_name}/issues/{number}#issuecomment-{comment_id}",
                "issue_url": f"{self._api(repo)}/issues/{number}",
                "author_association": "NONE" if identity.type == "Bot" else "CONTRIBUTOR",
                "performed_via_github_app": self._app_json() if identity.installation_id is not None else None,
                "_repo": repo.full_name,
                "_number": number,
            }
        )
        comment.pop("reactions", None)
        self.comments[comment_id] = comment
        repo.issues[number]["comments"] += 1
        return comment

    def _new_pull(
        self, repo: Repo, *, title: str, head: str, base: str, body: str | None, identity: Identity, draft: bool
    ) -> dict[str, Any]:
        number = self._next_number(repo)
        user = self._identity_user(identity)
        issue = self._issue_json(repo, number, title=title, body=body, user=user)
        pull_url = f"{self._api(repo)}/pulls/{number}"
        html = f"https://github.com/{repo.full_name}/pull/{number}"
        issue["pull_request"] = {
            "url": pull_url,
            "html_url": html,
            "diff_url": f"{html}.diff",
            "patch_url": f"{html}.patch",
            "merged_at": None,
        }
        issue["draft"] = draft
        repo.issues[number] = issue
        pull = self.spec.example("pull-request")
        now = iso(self.clock())
        head_sha = self._branch_sha(repo, head) or fake_sha(repo.full_name, head)
        base_sha = self._branch_sha(repo, base) or fake_sha(repo.full_name, base)
        pull.update(
            {
                "id": next(self._ids),
                "number": number,
                "title": title,
                "body": body,
                "user": user,
                "state": "open",
                "draft": draft,
                "locked": False,
                "merged": False,
                "mergeable": None,
                "rebaseable": None,
                "mergeable_state": "unknown",
                "merged_by": None,
                "merged_at": None,
                "merge_commit_sha": None,
                "closed_at": None,
                "created_at": now,
                "updated_at": now,
                "labels": [],
                "milestone": None,
                "assignee": None,
                "assignees": [],
                "requested_reviewers": [],
                "requested_teams": [],
                "comments": 0,
                "review_comments": 0,
                "commits": 1,
                "additions": 0,
                "deletions": 0,
                "changed_files": 0,
                "author_association": "NONE",
                "auto_merge": None,
                "active_lock_reason": None,
                "url": pull_url,
                "html_url": html,
                "diff_url": f"{html}.diff",
                "patch_url": f"{html}.patch",
                "issue_url": f"{self._api(repo)}/issues/{number}",
                "comments_url": f"{self._api(repo)}/issues/{number}/comments",
                "review_comments_url": f"{pull_url}/comments",
                "commits_url": f"{pull_url}/commits",
                "statuses_url": f"{self._api(repo)}/statuses/{head_sha}",
                "head": self._branch_json(repo, head, head_sha),
                "base": self._branch_json(repo, base, base_sha),
            }
        )
        pull["_links"] = {
            key: {"href": value}
            for key, value in {
                "self": pull_url,
                "html": html,
                "issue": pull["issue_url"],
                "comments": pull["comments_url"],
                "review_comments": pull["review_comments_url"],
                "commits": pull["commits_url"],
                "statuses": pull["statuses_url"],
                "review_comment": f"{self._api(repo)}/pulls/comments{{/number}}",
            }.items()
        }
        repo.pulls[number] = pull
        repo.pull_files.setdefault(number, [])
        return pull

    def _branch_json(self, repo: Repo, ref: str, sha: str) -> dict[str, Any]:
        return {
            "label": f"{repo.owner}:{ref}",
            "ref": ref,
            "sha": sha,
            "user": self._user(repo.owner, "Organization"),
            "repo": self._repo_json(repo),
        }

    def _pull_out(self, repo: Repo, number: int) -> dict[str, Any]:
        """The pull JSON with the parts that live elsewhere (labels, head sha) brought up to date."""
        pull = repo.pulls[number]
        issue = repo.issues[number]
        pull["labels"] = issue["labels"]
        pull["comments"] = issue["comments"]
        sha = self._branch_sha(repo, pull["head"]["ref"])
        if sha and pull["state"] == "open":
            pull["head"]["sha"] = sha
        pull["review_comments"] = sum(
            1 for c in self.review_comments.values() if c["_repo"] == repo.full_name and c["_number"] == number
        )
        return pull

    # -- git data -----------------------------------------------------------------------------------------

    def _git(self, repo: Repo, *args: str) -> str | None:
        if repo.git_dir is None:
            return None
        result = subprocess.run(["git", "--git-dir", repo.git_dir, *args], capture_output=True, check=False)
        return result.stdout.decode() if result.returncode == 0 else None

    def _branch_sha(self, repo: Repo, branch: str) -> str | None:
        if repo.git_dir is not None:
            out = self._git(repo, "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}")
            return out.strip() if out else None
        return repo.branches.get(branch)

    def _resolve_commit(self, repo: Repo, ref: str) -> str | None:
        """A branch name, tag-less ref or sha → commit sha."""
        if repo.git_dir is not None:
            out = self._git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
            return out.strip() if out else None
        ref = ref.removeprefix("refs/").removeprefix("heads/")
        if ref in repo.branches:
            return repo.branches[ref]
        matches = [sha for sha in repo.commits if sha.startswith(ref)] if len(ref) >= 7 else []
        return matches[0] if len(matches) == 1 else None

    def _read_file(self, repo: Repo, ref: str, path: str) -> bytes | list[str] | None:
        """File bytes, or the names inside a directory, or None."""
        path = path.strip("/")
        if repo.git_dir is not None:
            kind = self._git(repo, "cat-file", "-t", f"{ref}:{path}")
            if kind is None:
                return None
            if kind.strip() == "tree":
                listing = self._git(repo, "ls-tree", "--name-only", f"{ref}:{path}") or ""
                return listing.split()
            result = subprocess.run(
                ["git", "--git-dir", repo.git_dir, "cat-file", "blob", f"{ref}:{path}"],
                capture_output=True,
                check=False,
            )
            return result.stdout
        branch = next((b for b, sha in repo.branches.items() if sha == ref), ref)
        files = repo.files.get(branch.removeprefix("refs/heads/").removeprefix("heads/"))
        if files is None:
            return None
        if path in files:
            return files[path]
        prefix = f"{path}/" if path else ""
        names = sorted({p[len(prefix) :].split("/")[0] for p in files if p.startswith(prefix)})
        return names or None

    # -- pagination ---------------------------------------------------------------------------------------

    def _page(self, request: Request, items: list[Any]) -> tuple[int, list[Any], dict[str, str]]:
        per_page = min(int(request.query.get("per_page", 30)), 100)
        page = max(int(request.query.get("page", 1)), 1)
        last = max((len(items) + per_page - 1) // per_page, 1)
        chunk = items[(page - 1) * per_page : page * per_page]
        links = []

        def url(number: int) -> str:
            query = {k: v for k, v in request.call.query.items() if k not in ("page",)}
            query["page"] = str(number)
            return f"{self.base_url}{request.call.path}?{urlencode(query)}"

        if page < last:
            links += [f'<{url(page + 1)}>; rel="next"', f'<{url(last)}>; rel="last"']
        if page > 1:
            links += [f'<{url(1)}>; rel="first"', f'<{url(page - 1)}>; rel="prev"']
        return 200, [self._public(item) for item in chunk], ({"Link": ", ".join(links)} if links else {})

    @staticmethod
    def _public(item: Any) -> Any:
        if isinstance(item, dict):
            return {k: v for k, v in item.items() if k not in INTERNAL_KEYS}
        return item

    # -- handlers: apps -----------------------------------------------------------------------------------

    def _create_installation_token(self, request: Request) -> Any:
        installation = self.installations.get(request.params["installation_id"])
        if installation is None:
            raise GitHubAnswer(404, "Not Found")
        body = request.body or {}
        repositories = installation.repositories
        if body.get("repositories"):
            wanted = [f"{installation.account}/{name}" for name in body["repositories"]]
            if not set(wanted) <= set(repositories):
                raise GitHubAnswer(
                    422,
                    "There is at least one repository that does not exist or is not "
                    "accessible to the parent installation.",
                )
            repositories = wanted
        value = (
            self._long_token(installation.id)
            if self.long_tokens
            else ("ghs_" + secrets.token_urlsafe(27).replace("-", "a").replace("_", "b")[:36])
        )
        token = Token(
            value,
            Identity(f"{self.app_slug}[bot]", "Bot", installation.id),
            expires_at=self.clock() + self.token_ttl,
            repositories=list(repositories),
            permissions=dict(body["permissions"]) if body.get("permissions") else None,
            request=copy.deepcopy(body),
        )
        self.tokens[value] = token
        self.minted.append(token)
        answer = self.spec.example("installation-token")
        answer.update(
            {
                "token": value,
                "expires_at": iso(token.expires_at or 0),
                "permissions": body.get("permissions")
                or {"issues": "write", "contents": "write", "pull_requests": "write", "metadata": "read"},
                "repository_selection": "selected",
                "repositories": [self._repo_json(self.repos[name]) for name in repositories if name in self.repos],
            }
        )
        return 201, answer, {}

    def _long_token(self, installation_id: int) -> str:
        """A token in GitHub's stateless format: `ghs_<app id>_<header>.<payload>.<signature>`, base64url."""

        def part(data: bytes) -> str:
            return base64.urlsafe_b64encode(data).decode().rstrip("=")

        header = part(b'{"alg":"RS256","typ":"JWT"}')
        claims = {"iss": "github", "app": self.app_id, "inst": installation_id, "n": secrets.token_hex(80)}
        payload = part(json.dumps(claims).encode())
        return f"ghs_{self.app_id}_{header}.{payload}.{part(secrets.token_bytes(150))}"

    def _get_app(self, request: Request) -> Any:
        return self._app_json()

    def _get_repo_installation(self, request: Request) -> Any:
        full_name = f"{request.params['owner']}/{request.params['repo']}"
        for installation in self.installations.values():
            if full_name in installation.repositories:
                answer = self.spec.example("installation")
                answer.update(
                    {
                        "id": installation.id,
                        "app_id": self.app_id,
                        "app_slug": self.app_slug,
                        "account": self._user(installation.account, "Organization"),
                        "repository_selection": "selected",
                    }
                )
                return answer
        raise GitHubAnswer(404, "Not Found")

    # -- the App's OAuth web flow (GitHub's web pages, not its REST API, so not in the description) ----------

    async def _oauth(self, request: web.Request) -> web.StreamResponse:
        """`GET /login/oauth/authorize` (approved at once by `oauth_login`) and `POST
        /login/oauth/access_token` (a single-use code for a user token), as GitHub documents them."""
        raw = await request.read()
        query = {k: v[-1] for k, v in parse_qs(request.query_string, keep_blank_values=True).items()}
        form = {k: v[-1] for k, v in parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True).items()}
        call = Call(request.method, request.path, query, form, {k.lower(): v for k, v in request.headers.items()})
        self.calls.append(call)
        call.status = 200
        if request.method == "GET" and request.path == "/login/oauth/authorize":
            redirect_uri = query.get("redirect_uri", "")
            if query.get("client_id") != self.oauth_client_id or not redirect_uri:
                call.status = 404
                return web.Response(status=404, text="Not Found")
            joiner = "&" if "?" in redirect_uri else "?"
            if self.oauth_login is None:
                answer = {"error": "access_denied", "state": query.get("state", "")}
            else:
                code = secrets.token_hex(10)
                self.oauth_codes[code] = (self.oauth_login, redirect_uri)
                answer = {"code": code, "state": query.get("state", "")}
            call.status = 302
            raise web.HTTPFound(f"{redirect_uri}{joiner}{urlencode(answer)}")
        if request.method == "POST" and request.path == "/login/oauth/access_token":
            if "application/json" not in call.headers.get("accept", ""):
                self._violation(call, "access token requested without Accept: application/json (GitHub answers a form)")
            if form.get("client_id") != self.oauth_client_id or form.get("client_secret") != self.oauth_client_secret:
                return web.json_response({"error": "incorrect_client_credentials"})
            granted = self.oauth_codes.pop(form.get("code", ""), None)
            if granted is None or ("redirect_uri" in form and form["redirect_uri"] != granted[1]):
                return web.json_response({"error": "bad_verification_code"})
            token = "ghu_" + secrets.token_hex(18)
            self.tokens[token] = Token(token, Identity(granted[0], "User"), expires_at=self.clock() + 8 * 3600)
            return web.json_response({"access_token": token, "token_type": "bearer", "scope": ""})
        call.status = 404
        return web.Response(status=404, text="Not Found")

    # -- handlers: the signed-in user (user tokens) -----------------------------------------------------------

    def _user_only(self, request: Request) -> str:
        if request.identity.type != "User" or request.identity.installation_id is not None:
            raise GitHubAnswer(
                403,
                "You must authenticate with an access token authorized to a GitHub App in order to list installations",
            )
        return request.identity.login

    def _get_authenticated_user(self, request: Request) -> Any:
        user = self.spec.example("private-user-response-with-public-and-private-profile-information")
        user.update({k: v for k, v in self._user(request.identity.login, request.identity.type).items() if k in user})
        return user

    def _explicit(self, repo: Repo, login: str) -> bool:
        return repo.permissions.get(login) not in (None, "none")

    def _wrapped_page(self, request: Request, field: str, items: list[Any], extra: dict[str, Any]) -> Any:
        status, chunk, headers = self._page(request, items)
        return status, {"total_count": len(items), **extra, field: chunk}, headers

    def _list_user_installations(self, request: Request) -> Any:
        login = self._user_only(request)
        mine = [
            i
            for i in self.installations.values()
            if any(self._explicit(self.repos[r], login) for r in i.repositories if r in self.repos)
        ]
        answers = []
        for installation in mine:
            answer = self.spec.example("installation")
            answer.update(
                {
                    "id": installation.id,
                    "app_id": self.app_id,
                    "app_slug": self.app_slug,
                    "account": self._user(installation.account, "Organization"),
                    "repository_selection": "selected",
                }
            )
            answers.append(answer)
        return self._wrapped_page(request, "installations", answers, {})

    def _list_user_installation_repos(self, request: Request) -> Any:
        login = self._user_only(request)
        installation = self.installations.get(request.params["installation_id"])
        if installation is None:
            raise GitHubAnswer(404, "Not Found")
        repos = [
            self.repos[r] for r in installation.repositories if r in self.repos and self._explicit(self.repos[r], login)
        ]
        if not repos:
            raise GitHubAnswer(404, "Not Found")  # GitHub: the user has no access through this installation
        answers = []
        for repo in repos:
            data = self._repo_json(repo)
            rank = PERMISSIONS.index(repo.permissions[login] or "none")
            data["permissions"] = {
                name: rank <= PERMISSIONS.index(level)
                for name, level in (
                    ("admin", "admin"),
                    ("maintain", "maintain"),
                    ("push", "write"),
                    ("triage", "triage"),
                    ("pull", "read"),
                )
            }
            answers.append(data)
        return self._wrapped_page(request, "repositories", answers, {"repository_selection": "selected"})

    # -- handlers: repositories ---------------------------------------------------------------------------

    def _repo(self, request: Request) -> Repo:
        repo = self.repos.get(f"{request.params['owner']}/{request.params['repo']}")
        if repo is None:
            raise GitHubAnswer(404, "Not Found")
        return repo

    def _get_repo(self, request: Request) -> Any:
        return self._repo_json(self._repo(request), full=True)

    def _get_permission(self, request: Request) -> Any:
        repo = self._repo(request)
        login = request.params["username"]
        role = repo.permissions.get(login, "none" if repo.private else "read")
        if role is None:
            raise GitHubAnswer(404, "Not Found")
        permission = LEGACY_PERMISSION.get(role, "none")
        user = self._user(login)
        rank = PERMISSIONS.index(role)
        user["permissions"] = {
            name: rank <= PERMISSIONS.index(level)
            for name, level in (
                ("admin", "admin"),
                ("maintain", "maintain"),
                ("push", "write"),
                ("triage", "triage"),
                ("pull", "read"),
            )
        }
        user["role_name"] = role
        return {"permission": permission, "role_name": role, "user": user}

    def _get_content(self, request: Request) -> Any:
        repo = self._repo(request)
        ref = str(request.query.get("ref") or repo.default_branch)
        path = request.params["path"]
        found = self._read_file(repo, ref, path)
        if found is None:
            raise GitHubAnswer(404, "Not Found")
        if isinstance(found, list):
            entries = []
            for name in found:
                child = f"{path.strip('/')}/{name}".strip("/")
                kind = "dir" if isinstance(self._read_file(repo, ref, child), list) else "file"
                entries.append(self._content_entry(repo, ref, child, kind, b""))
            return entries
        answer = self._content_entry(repo, ref, path.strip("/"), "file", found)
        encoded = base64.b64encode(found).decode()
        answer.update(
            {"encoding": "base64", "content": "\n".join(encoded[i : i + 60] for i in range(0, len(encoded), 60)) + "\n"}
        )
        return answer

    def _content_entry(self, repo: Repo, ref: str, path: str, kind: str, data: bytes) -> dict[str, Any]:
        sha = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
        url = f"{self._api(repo)}/contents/{quote(path)}?ref={quote(ref)}"
        html = f"https://github.com/{repo.full_name}/{'tree' if kind == 'dir' else 'blob'}/{ref}/{path}"
        git = f"{self._api(repo)}/git/{'trees' if kind == 'dir' else 'blobs'}/{sha}"
        return {
            "type": kind,
            "size": len(data),
            "name": path.rsplit("/", 1)[-1],
            "path": path,
            "sha": sha,
            "url": url,
            "git_url": git,
            "html_url": html,
            "download_url": None
            if kind == "dir"
            else f"https://raw.githubusercontent.com/{repo.full_name}/{ref}/{path}",
            "_links": {"self": url, "git": git, "html": html},
        }

    def _get_branch(self, request: Request) -> Any:
        repo = self._repo(request)
        branch = request.params["branch"]
        sha = self._branch_sha(repo, branch)
        if sha is None:
            raise GitHubAnswer(404, "Branch not found")
        answer = self.spec.example("branch-get")
        answer["name"] = branch
        answer["commit"] = self._commit_json(repo, sha)
        answer["_links"] = {
            "self": f"{self._api(repo)}/branches/{quote(branch)}",
            "html": f"https://github.com/{repo.full_name}/tree/{branch}",
        }
        answer["protected"] = False
        answer["protection"] = {
            "enabled": False,
            "required_status_checks": {"enforcement_level": "off", "contexts": [], "checks": []},
        }
        answer["protection_url"] = f"{self._api(repo)}/branches/{quote(branch)}/protection"
        return answer

    def _commit_json(self, repo: Repo, sha: str) -> dict[str, Any]:
        answer = self.spec.example("commit")
        info = repo.commits.get(sha, {"message": "A commit", "files": []})
        if repo.git_dir is not None:
            info = {"message": (self._git(repo, "log", "-1", "--format=%B", sha) or "").strip(), "files": []}
        answer.update(
            {
                "sha": sha,
                "node_id": base64.b64encode(f"06:Commit{sha}".encode()).decode(),
                "url": f"{self._api(repo)}/commits/{sha}",
                "html_url": f"https://github.com/{repo.full_name}/commit/{sha}",
                "comments_url": f"{self._api(repo)}/commits/{sha}/comments",
                "files": info.get("files", []),
            }
        )
        answer["commit"]["message"] = info["message"]
        answer["commit"]["url"] = f"{self._api(repo)}/git/commits/{sha}"
        return answer

    def _get_commit(self, request: Request) -> Any:
        repo = self._repo(request)
        sha = self._resolve_commit(repo, request.params["ref"])
        if sha is None:
            raise GitHubAnswer(422, f"No commit found for SHA: {request.params['ref']}")
        return self._commit_json(repo, sha)

    def _compare(self, request: Request) -> Any:
        repo = self._repo(request)
        basehead = request.params["basehead"]
        if "..." not in basehead:
            raise GitHubAnswer(404, "Not Found")
        known = repo.compares.get(basehead)
        if known is None:
            raise GitHubAnswer(404, "Not Found")
        answer = self.spec.example("commit-comparison")
        base, _head = basehead.split("...", 1)
        answer.update(
            {
                "status": "ahead",
                "ahead_by": known["commits"],
                "behind_by": 0,
                "total_commits": known["commits"],
                "url": f"{self._api(repo)}/compare/{basehead}",
                "html_url": f"https://github.com/{repo.full_name}/compare/{basehead}",
                "base_commit": self._commit_json(repo, self._resolve_commit(repo, base) or fake_sha(base)),
                "merge_base_commit": self._commit_json(repo, self._resolve_commit(repo, base) or fake_sha(base)),
                "commits": [],
                "files": known["files"],
            }
        )
        return answer

    # -- handlers: issues ---------------------------------------------------------------------------------

    def _issue(self, repo: Repo, number: int) -> dict[str, Any]:
        if number not in repo.issues:
            raise GitHubAnswer(404, "Not Found")
        return repo.issues[number]

    def _get_issue(self, request: Request) -> Any:
        repo = self._repo(request)
        return self._issue(repo, request.params["issue_number"])

    def _list_issues(self, request: Request) -> Any:
        repo = self._repo(request)
        state = request.query.get("state", "open")
        wanted = [name for name in str(request.query.get("labels", "")).split(",") if name]
        creator = request.query.get("creator")
        items = [
            issue
            for issue in repo.issues.values()
            if state in ("all", issue["state"])
            and all(name in {label["name"] for label in issue["labels"]} for name in wanted)
            and (creator is None or issue["user"]["login"] == creator)
        ]
        reverse = request.query.get("direction", "desc") == "desc"
        items.sort(
            key=lambda issue: (issue[f"{request.query.get('sort', 'created')}_at"], issue["number"]), reverse=reverse
        )
        return self._page(request, items)

    def _list_comments(self, request: Request) -> Any:
        repo = self._repo(request)
        number = request.params["issue_number"]
        self._issue(repo, number)
        since = request.query.get("since")
        items = [c for c in self.issue_comments(repo.full_name, number) if since is None or c["updated_at"] >= since]
        return self._page(request, items)

    def _list_events(self, request: Request) -> Any:
        repo = self._repo(request)
        number = request.params["issue_number"]
        self._issue(repo, number)
        return self._page(request, repo.issue_events.get(number, []))

    def _list_repo_comments(self, request: Request) -> Any:
        """Every issue and pull-request comment of the repository, oldest first; `since` compares `updated_at`."""
        repo = self._repo(request)
        since = request.query.get("since")
        items = [
            c
            for c in sorted(self.comments.values(), key=lambda c: c["id"])
            if c["_repo"] == repo.full_name and (since is None or c["updated_at"] >= since)
        ]
        if request.query.get("direction") == "desc" and request.query.get("sort"):
            items.reverse()
        return self._page(request, items)

    def _create_comment(self, request: Request) -> Any:
        repo = self._repo(request)
        number = request.params["issue_number"]
        self._issue(repo, number)
        if not request.body.get("body", "").strip():
            raise GitHubAnswer(
                422,
                "Validation Failed",
                errors=[{"resource": "IssueComment", "code": "missing_field", "field": "body"}],
            )
        if len(request.body["body"]) > 65536:
            raise GitHubAnswer(
                422,
                "Validation Failed",
                errors=[
                    {
                        "resource": "IssueComment",
                        "code": "custom",
                        "field": "body",
                        "message": "body is too long (maximum is 65536 characters)",
                    }
                ],
            )
        comment = self._new_comment(repo, number, request.body["body"], request.identity)
        return 201, self._public(comment), {"Location": comment["url"]}

    def _create_issue(self, request: Request) -> Any:
        repo = self._repo(request)
        title = str(request.body.get("title") or "").strip()
        if not title:
            raise GitHubAnswer(
                422, "Validation Failed", errors=[{"resource": "Issue", "code": "missing_field", "field": "title"}]
            )
        number = self._next_number(repo)
        issue = self._issue_json(
            repo, number, title=title, body=request.body.get("body"), user=self._identity_user(request.identity)
        )
        repo.issues[number] = issue
        for name in request.body.get("labels") or []:
            issue["labels"].append(self._label(repo, str(name)))
            self._issue_event(repo, number, "labeled", request.identity, str(name))
        return 201, self._public(issue), {"Location": issue["url"]}

    def _comment(self, request: Request) -> dict[str, Any]:
        repo = self._repo(request)
        comment = self.comments.get(request.params["comment_id"])
        if comment is None or comment["_repo"] != repo.full_name:
            raise GitHubAnswer(404, "Not Found")
        return comment

    def _get_comment(self, request: Request) -> Any:
        return self._public(self._comment(request))

    def _update_comment(self, request: Request) -> Any:
        comment = self._comment(request)
        if comment["user"]["login"] != request.identity.login:
            raise GitHubAnswer(403, "Resource not accessible by integration")
        if len(request.body["body"]) > 65536:
            raise GitHubAnswer(
                422,
                "Validation Failed",
                errors=[
                    {
                        "resource": "IssueComment",
                        "code": "custom",
                        "field": "body",
                        "message": "body is too long (maximum is 65536 characters)",
                    }
                ],
            )
        comment["body"] = request.body["body"]
        comment["updated_at"] = iso(self.clock())
        return self._public(comment)

    def _list_labels(self, request: Request) -> Any:
        repo = self._repo(request)
        return self._page(request, self._issue(repo, request.params["issue_number"])["labels"])

    def _add_labels(self, request: Request) -> Any:
        repo = self._repo(request)
        issue = self._issue(repo, request.params["issue_number"])
        present = {label["name"] for label in issue["labels"]}
        for entry in request.body.get("labels", []):
            name = entry if isinstance(entry, str) else entry["name"]
            if name not in present:
                issue["labels"].append(self._label(repo, name))
                present.add(name)
                self._issue_event(repo, request.params["issue_number"], "labeled", request.identity, name)
        return issue["labels"]

    def _remove_label(self, request: Request) -> Any:
        repo = self._repo(request)
        issue = self._issue(repo, request.params["issue_number"])
        name = request.params["name"]
        if name not in {label["name"] for label in issue["labels"]}:
            raise GitHubAnswer(404, "Label does not exist")
        issue["labels"] = [label for label in issue["labels"] if label["name"] != name]
        self._issue_event(repo, request.params["issue_number"], "unlabeled", request.identity, name)
        return issue["labels"]

    # -- handlers: reactions ------------------------------------------------------------------------------

    def _react(self, key: tuple[str, int], request: Request) -> Any:
        existing = self.reactions.setdefault(key, [])
        for reaction in existing:
            if reaction["user"]["login"] == request.identity.login and reaction["content"] == request.body["content"]:
                return 200, reaction, {}
        reaction = self.spec.example("reaction")
        reaction_id = next(self._ids)
        reaction.update(
            {
                "id": reaction_id,
                "content": request.body["content"],
                "user": self._identity_user(request.identity),
                "created_at": iso(self.clock()),
                "node_id": base64.b64encode(f"08:Reaction{reaction_id}".encode()).decode(),
            }
        )
        existing.append(reaction)
        return 201, reaction, {}

    def _react_comment(self, request: Request) -> Any:
        return self._react(("comment", self._comment(request)["id"]), request)

    def _react_issue(self, request: Request) -> Any:
        repo = self._repo(request)
        return self._react(("issue", self._issue(repo, request.params["issue_number"])["id"]), request)

    def _react_review_comment(self, request: Request) -> Any:
        repo = self._repo(request)
        comment = self.review_comments.get(request.params["comment_id"])
        if comment is None or comment["_repo"] != repo.full_name:
            raise GitHubAnswer(404, "Not Found")
        return self._react(("review_comment", comment["id"]), request)

    # -- handlers: search ---------------------------------------------------------------------------------

    def _search_issues(self, request: Request) -> Any:
        try:
            terms = shlex.split(str(request.query["q"]))
        except ValueError as error:
            raise GitHubAnswer(422, f"Validation Failed: {error}") from None
        kinds: set[str] = set()
        filters: list[Callable[[Repo, dict[str, Any]], bool]] = []
        repos: list[str] = []
        words: list[str] = []
        for term in terms:
            negate = term.startswith("-")
            qualifier, sep, value = term.lstrip("-").partition(":")
            if not sep:
                words.append(term.lower())
                continue
            check: Callable[[Repo, dict[str, Any]], bool]
            if qualifier == "repo":
                repos.append(value)
                continue
            if qualifier in ("is", "type") and value in ("issue", "pr", "pull-request"):
                kinds.add("pr" if value in ("pr", "pull-request") else "issue")
                continue
            if qualifier in ("is", "state") and value in ("open", "closed"):
                check = lambda _r, i, v=value: i["state"] == v  # noqa: E731
            elif qualifier == "label":
                check = lambda _r, i, v=value: v in {label["name"] for label in i["labels"]}  # noqa: E731
            elif qualifier == "author":
                check = lambda _r, i, v=value: i["user"]["login"] == v  # noqa: E731
            elif qualifier == "in" and value in ("title", "body"):
                continue
            elif qualifier == "head":
                check = lambda r, i, v=value: (  # noqa: E731
                    i["number"] in r.pulls and r.pulls[i["number"]]["head"]["ref"] == v
                )
            else:
                self._violation(request.call, f"search qualifier {term!r} is not modelled by the fake")
                raise GitHubAnswer(422, "Validation Failed")
            filters.append((lambda c: lambda r, i: not c(r, i))(check) if negate else check)
        if not kinds:
            raise GitHubAnswer(422, "Query must include 'is:issue' or 'is:pull-request'")
        items: list[dict[str, Any]] = []
        for repo in self.repos.values():
            if repos and repo.full_name not in repos:
                continue
            for issue in repo.issues.values():
                kind = "pr" if "pull_request" in issue else "issue"
                text = f"{issue['title']} {issue['body'] or ''}".lower()
                if kind in kinds and all(f(repo, issue) for f in filters) and all(w in text for w in words):
                    items.append({**issue, "score": 1.0})
        items.sort(key=lambda i: i["created_at"], reverse=request.query.get("order", "desc") == "desc")
        status, page, headers = self._page(request, items)
        answer = {"total_count": len(items), "incomplete_results": False, "search_type": "lexical", "items": page}
        return status, answer, headers

    # -- handlers: pull requests --------------------------------------------------------------------------

    def _pull(self, request: Request) -> tuple[Repo, dict[str, Any]]:
        repo = self._repo(request)
        number = request.params["pull_number"]
        if number not in repo.pulls:
            raise GitHubAnswer(404, "Not Found")
        return repo, self._pull_out(repo, number)

    def _list_pulls(self, request: Request) -> Any:
        repo = self._repo(request)
        state = request.query.get("state", "open")
        head = request.query.get("head")
        base = request.query.get("base")
        items = [self._pull_out(repo, n) for n in sorted(repo.pulls, reverse=True)]
        items = [
            p
            for p in items
            if state in ("all", p["state"])
            and (head is None or p["head"]["label"] == head)
            and (base is None or p["base"]["ref"] == base)
        ]
        return self._page(request, items)

    def _create_pull(self, request: Request) -> Any:
        repo = self._repo(request)
        body = request.body
        head = body["head"]
        head_branch = head.split(":", 1)[1] if ":" in head else head
        if ":" in head and head.split(":", 1)[0] != repo.owner:
            raise GitHubAnswer(
                422, "Validation Failed", errors=[{"resource": "PullRequest", "field": "head", "code": "invalid"}]
            )
        if "title" not in body and "issue" not in body:
            raise GitHubAnswer(
                422,
                "Validation Failed",
                errors=[{"resource": "PullRequest", "field": "title", "code": "missing_field"}],
            )
        if self._branch_sha(repo, head_branch) is None:
            raise GitHubAnswer(
                422, "Validation Failed", errors=[{"resource": "PullRequest", "field": "head", "code": "invalid"}]
            )
        if self._branch_sha(repo, body["base"]) is None:
            raise GitHubAnswer(
                422, "Validation Failed", errors=[{"resource": "PullRequest", "field": "base", "code": "invalid"}]
            )
        for pull in repo.pulls.values():
            if pull["state"] == "open" and pull["head"]["ref"] == head_branch and pull["base"]["ref"] == body["base"]:
                raise GitHubAnswer(
                    422,
                    "Validation Failed",
                    errors=[
                        {
                            "resource": "PullRequest",
                            "code": "custom",
                            "message": f"A pull request already exists for {repo.owner}:{head_branch}.",
                        }
                    ],
                )
        pull = self._new_pull(
            repo,
            title=body["title"],
            head=head_branch,
            base=body["base"],
            body=body.get("body"),
            identity=request.identity,
            draft=bool(body.get("draft")),
        )
        return 201, self._pull_out(repo, pull["number"]), {"Location": pull["url"]}

    def _get_pull(self, request: Request) -> Any:
        return self._pull(request)[1]

    def _update_pull(self, request: Request) -> Any:
        repo, pull = self._pull(request)
        issue = repo.issues[pull["number"]]
        for key in ("title", "body"):
            if key in request.body:
                pull[key] = issue[key] = request.body[key]
        if "state" in request.body:
            self._set_state(pull, request.body["state"])
            self._set_state(issue, request.body["state"])
        if "base" in request.body:
            sha = self._branch_sha(repo, request.body["base"])
            if sha is None:
                raise GitHubAnswer(
                    422, "Validation Failed", errors=[{"resource": "PullRequest", "field": "base", "code": "invalid"}]
                )
            pull["base"] = self._branch_json(repo, request.body["base"], sha)
        pull["updated_at"] = issue["updated_at"] = iso(self.clock())
        return pull

    def _list_pull_files(self, request: Request) -> Any:
        repo, pull = self._pull(request)
        return self._page(request, repo.pull_files.get(pull["number"], []))

    def _list_pull_commits(self, request: Request) -> Any:
        repo, pull = self._pull(request)
        commits = repo.pull_commits.get(pull["number"])
        if commits is None:
            commits = [self._commit_json(repo, pull["head"]["sha"])]
        return self._page(request, commits)

    def _request_reviewers(self, request: Request) -> Any:
        repo, pull = self._pull(request)
        for login in request.body.get("reviewers", []):
            if login == pull["user"]["login"]:
                raise GitHubAnswer(422, "Review cannot be requested from pull request author.")
            if repo.permissions.get(login) in (None, "none"):
                raise GitHubAnswer(
                    422,
                    "Reviews may only be requested from collaborators. One or more of the "
                    "users or teams you specified is not a collaborator of the "
                    f"{repo.full_name} repository.",
                )
            if login not in {u["login"] for u in pull["requested_reviewers"]}:
                pull["requested_reviewers"].append(self._user(login))
        return 201, pull, {}

    def _review_json(
        self,
        repo: Repo,
        pull: dict[str, Any],
        review_id: int,
        identity: Identity,
        body: str,
        state: str,
        commit_id: str,
    ) -> dict[str, Any]:
        review = self.spec.example("pull-request-review")
        html = f"{pull['html_url']}#pullrequestreview-{review_id}"
        review.update(
            {
                "id": review_id,
                "node_id": base64.b64encode(f"017:PullRequestReview{review_id}".encode()).decode(),
                "user": self._identity_user(identity),
                "body": body,
                "state": state,
                "html_url": html,
                "pull_request_url": pull["url"],
                "commit_id": commit_id,
                "author_association": "NONE",
                "submitted_at": None if state == "PENDING" else iso(self.clock()),
                "_links": {"html": {"href": html}, "pull_request": {"href": pull["url"]}},
                "_repo": repo.full_name,
                "_number": pull["number"],
            }
        )
        if review["submitted_at"] is None:
            review.pop("submitted_at")
        return review

    def _create_review(self, request: Request) -> Any:
        repo, pull = self._pull(request)
        body = request.body or {}
        event = body.get("event")
        me = request.identity.login
        if event in ("APPROVE", "REQUEST_CHANGES") and pull["user"]["login"] == me:
            verb = "approve" if event == "APPROVE" else "request changes on"
            raise GitHubAnswer(422, "Unprocessable Entity", errors=[f"Can not {verb} your own pull request"])
        if event in ("REQUEST_CHANGES", "COMMENT") and not body.get("body") and not body.get("comments"):
            raise GitHubAnswer(422, "Unprocessable Entity", errors=[f"Review Body is required when using {event}"])
        if event is None and any(
            r["state"] == "PENDING" and r["user"]["login"] == me
            for r in self.pull_reviews(repo.full_name, pull["number"])
        ):
            raise GitHubAnswer(
                422, "Unprocessable Entity", errors=["User can only have one pending review per pull request"]
            )
        files = {f["filename"]: f for f in repo.pull_files.get(pull["number"], [])}
        commit_id = body.get("commit_id") or pull["head"]["sha"]
        comments = []
        for comment in body.get("comments", []):
            entry = files.get(comment["path"])
            if entry is None:
                raise GitHubAnswer(422, "Unprocessable Entity", errors=["Path could not be resolved"])
            lines = diff_lines(entry.get("patch"))
            if "line" in comment:
                side = comment.get("side", "RIGHT")
                if side not in ("LEFT", "RIGHT") or comment["line"] not in lines[side]:
                    raise GitHubAnswer(422, "Unprocessable Entity", errors=["Line could not be resolved"])
                if "start_line" in comment and (
                    comment["start_line"] not in lines.get(comment.get("start_side", side), {})
                    or comment["start_line"] >= comment["line"]
                ):
                    raise GitHubAnswer(422, "Unprocessable Entity", errors=["Start line could not be resolved"])
            elif "position" in comment:
                if comment["position"] not in lines["positions"]:
                    raise GitHubAnswer(422, "Unprocessable Entity", errors=["Position could not be resolved"])
            else:
                raise GitHubAnswer(422, "Unprocessable Entity", errors=["Line could not be resolved"])
            comment = dict(comment)
            if "line" in comment:
                comment["position"] = lines[comment.get("side", "RIGHT")][comment["line"]]
            else:
                comment["line"] = lines["positions"][comment["position"]]
            comments.append(comment)
        state = {"APPROVE": "APPROVED", "REQUEST_CHANGES": "CHANGES_REQUESTED", "COMMENT": "COMMENTED"}.get(
            event or "", "PENDING"
        )
        review_id = next(self._ids)
        review = self._review_json(repo, pull, review_id, request.identity, body.get("body", ""), state, commit_id)
        self.reviews[review_id] = review
        template = self.spec.example("pull-request-review-comment-items")[0]
        for comment in comments:
            comment_id = next(self._ids)
            item = copy.deepcopy(template)
            patch = files[comment["path"]].get("patch") or ""
            item.update(
                {
                    "id": comment_id,
                    "pull_request_review_id": review_id,
                    "path": comment["path"],
                    "body": comment["body"],
                    "commit_id": commit_id,
                    "original_commit_id": commit_id,
                    "user": self._identity_user(request.identity),
                    "diff_hunk": patch,
                    "line": comment.get("line"),
                    "original_line": comment.get("line"),
                    "side": comment.get("side", "RIGHT"),
                    "start_line": comment.get("start_line"),
                    "original_start_line": comment.get("start_line"),
                    "start_side": comment.get("start_side"),
                    "position": comment.get("position"),
                    "original_position": comment.get("position"),
                    "subject_type": "line",
                    "author_association": "NONE",
                    "created_at": iso(self.clock()),
                    "updated_at": iso(self.clock()),
                    "url": f"{self._api(repo)}/pulls/comments/{comment_id}",
                    "html_url": f"{pull['html_url']}#discussion_r{comment_id}",
                    "pull_request_url": pull["url"],
                    "_repo": repo.full_name,
                    "_number": pull["number"],
                    "_pending": state == "PENDING",
                }
            )
            item.pop("in_reply_to_id", None)
            item.pop("reactions", None)
            self.review_comments[comment_id] = item
        return self._public(review)

    def _list_reviews(self, request: Request) -> Any:
        repo, pull = self._pull(request)
        me = request.identity.login
        items = [
            r
            for r in self.pull_reviews(repo.full_name, pull["number"])
            if r["state"] != "PENDING" or r["user"]["login"] == me
        ]
        return self._page(request, items)

    def _update_review(self, request: Request) -> Any:
        repo, pull = self._pull(request)
        review = self.reviews.get(request.params["review_id"])
        if review is None or review["_repo"] != repo.full_name or review["_number"] != pull["number"]:
            raise GitHubAnswer(404, "Not Found")
        if review["user"]["login"] != request.identity.login:
            raise GitHubAnswer(403, "Resource not accessible by integration")
        review["body"] = request.body["body"]
        return self._public(review)

    def _list_review_comments(self, request: Request) -> Any:
        repo, pull = self._pull(request)
        items = [
            c
            for c in self.review_comments.values()
            if c["_repo"] == repo.full_name and c["_number"] == pull["number"] and not c["_pending"]
        ]
        return self._page(request, items)

    # -- handlers: git refs -------------------------------------------------------------------------------

    def _ref_json(self, repo: Repo, ref: str, sha: str) -> dict[str, Any]:
        answer = self.spec.example("git-ref")
        answer.update(
            {
                "ref": f"refs/{ref}",
                "url": f"{self._api(repo)}/git/refs/{ref}",
                "node_id": base64.b64encode(f"03:Ref{repo.id}:{ref}".encode()).decode(),
                "object": {"type": "commit", "sha": sha, "url": f"{self._api(repo)}/git/commits/{sha}"},
            }
        )
        return answer

    def _get_ref(self, request: Request) -> Any:
        repo = self._repo(request)
        ref = request.params["ref"]
        if not ref.startswith("heads/"):
            raise GitHubAnswer(404, "Not Found")
        sha = self._branch_sha(repo, ref.removeprefix("heads/"))
        if sha is None:
            raise GitHubAnswer(404, "Not Found")
        return self._ref_json(repo, ref, sha)

    def _create_ref(self, request: Request) -> Any:
        repo = self._repo(request)
        ref, sha = request.body["ref"], request.body["sha"]
        if not ref.startswith("refs/") or ref.count("/") < 2:
            raise GitHubAnswer(422, "Reference name must start with 'refs/' and have at least two slashes.")
        if not ref.startswith("refs/heads/"):
            raise GitHubAnswer(422, "The fake only models branches (refs/heads/...)")
        if repo.git_dir is not None:
            raise GitHubAnswer(422, "This repository is linked to a git remote; push to it instead")
        branch = ref.removeprefix("refs/heads/")
        if branch in repo.branches:
            raise GitHubAnswer(422, "Reference already exists")
        if sha not in repo.commits:
            raise GitHubAnswer(422, "Object does not exist")
        self.set_branch(repo.full_name, branch, sha)
        return 201, self._ref_json(repo, f"heads/{branch}", sha), {}

    def _update_ref(self, request: Request) -> Any:
        repo = self._repo(request)
        ref = request.params["ref"]
        branch = ref.removeprefix("heads/")
        if not ref.startswith("heads/") or branch not in repo.branches or repo.git_dir is not None:
            raise GitHubAnswer(422, "Reference does not exist")
        sha = request.body["sha"]
        if sha not in repo.commits:
            raise GitHubAnswer(422, "Object does not exist")
        repo.branches[branch] = sha
        return self._ref_json(repo, ref, sha)

    def _get_rate_limit(self, request: Request) -> Any:
        answer = self.spec.example("rate-limit-overview")
        reset = int(self.clock()) + 3600
        core = {
            "limit": 5000,
            "used": 5000 - self.rate_limit_remaining,
            "remaining": self.rate_limit_remaining,
            "reset": reset,
        }
        answer["resources"]["core"] = core
        answer["rate"] = core
        return answer

    # -- handlers: checks ---------------------------------------------------------------------------------

    def _create_check_run(self, request: Request) -> Any:
        repo = self._repo(request)
        run = self.spec.example("check-run")
        run_id = next(self._ids)
        run.update(
            {
                k: v
                for k, v in request.body.items()
                if k in ("name", "head_sha", "status", "conclusion", "details_url", "external_id")
            }
        )
        run.update(
            {
                "id": run_id,
                "url": f"{self._api(repo)}/check-runs/{run_id}",
                "html_url": f"https://github.com/{repo.full_name}/runs/{run_id}",
                "app": self._app_json(),
                "_repo": repo.full_name,
            }
        )
        run.setdefault("status", "queued")
        if "output" in request.body:
            run["output"].update({k: v for k, v in request.body["output"].items() if k in ("title", "summary", "text")})
        self.check_runs[run_id] = run
        return 201, self._public(run), {}

    def _update_check_run(self, request: Request) -> Any:
        repo = self._repo(request)
        run = self.check_runs.get(request.params["check_run_id"])
        if run is None or run["_repo"] != repo.full_name:
            raise GitHubAnswer(404, "Not Found")
        run.update(
            {
                k: v
                for k, v in request.body.items()
                if k in ("name", "status", "conclusion", "details_url", "external_id")
            }
        )
        if "output" in request.body:
            run["output"].update({k: v for k, v in request.body["output"].items() if k in ("title", "summary", "text")})
        return self._public(run)


class _Disconnect(Exception):
    pass


@dataclass
class Request:
    """What a handler sees: the call, who made it, and the validated, typed parameters."""

    call: Call
    identity: Identity
    params: dict[str, Any]
    query: dict[str, Any]
    body: Any
    fake: FakeGitHub


async def wait_for_calls(
    fake: FakeGitHub, method: str, path: str, *, count: int = 1, timeout: float = 5.0
) -> list[Call]:
    """Wait until `count` matching calls have arrived (for code that calls GitHub in the background)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while len(calls := fake.calls_to(method, path)) < count:
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"expected {count} × {method} {path}, got {len(calls)}: {fake.calls}")
        await asyncio.sleep(0.01)
    return calls
