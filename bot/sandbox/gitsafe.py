"""equitr's own git calls: never run a program the repository (or code under test) controls.

Git runs programs named in configuration: hooks, fsmonitor, clean/smudge filters, textconv, external
diff, pager, editor, askpass, ssh command, credential helpers. We close every door:
- no system or global configuration (`GIT_CONFIG_NOSYSTEM`, `GIT_CONFIG_GLOBAL=/dev/null`), a clean
  environment with no secrets;
- command-line `-c` overrides, which beat repository configuration, for the keys that have a safe value;
- a check of the repository's own config files for the keys that cannot be overridden (per-driver filters
  and textconv, includes …): `git_in` refuses to run when one is present, `strip_dangerous_config` removes
  them (used on checkouts equitr created);
- `--no-ext-diff --no-textconv` on every command that can show a diff.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from equitr.errors import SandboxError
from equitr.sandbox.paths import protected_reason, real_parents
from equitr.sandbox.policy import DEFAULT_POLICY, WritePolicy

SAFE_OVERRIDES: tuple[str, ...] = (
    "core.hooksPath=/dev/null",
    "core.fsmonitor=false",
    "core.sshCommand=ssh -o BatchMode=yes",
    "core.pager=cat",
    "core.editor=false",
    "core.askPass=",
    "core.attributesFile=/dev/null",
    "credential.helper=",
    "diff.external=",
    "protocol.ext.allow=never",
    "commit.gpgSign=false",
    "tag.gpgSign=false",
    "log.showSignature=false",
    "submodule.recurse=false",
    # Never look inside submodules: status and diff would run git in `sub/.git`, whose config (filters)
    # code under test can write, since it sits in the writable checkout.
    "diff.ignoreSubmodules=all",
    "status.submoduleSummary=false",
    "color.ui=false",
    "advice.detachedHead=false",
    "init.defaultBranch=main",
)
_DIFF_COMMANDS = frozenset({"diff", "log", "show"})
# A worktree `.gitmodules` can set `submodule.X.ignore = none`, which beats `diff.ignoreSubmodules` from
# `-c`; only the command-line option beats it.
_SUBMODULE_COMMANDS = frozenset({"diff", "status"})

# Keys (lower-case, with `*` for a subsection) that make git run a program, pull in more configuration,
# or redirect where git talks to. Keys we override on the command line are listed too, so that the
# audit reports them, but they are not a reason to refuse (`NEUTRALISED`).
_DANGEROUS = [
    r"filter\..*",  # clean, smudge, process, and `required` (which fails once they are gone)
    r"diff\..*\.(textconv|command)",
    r"merge\..*\.driver",
    r"include\..*",
    r"includeif\..*",
    r"core\.(fsmonitor|hookspath|pager|editor|askpass|sshcommand|gitproxy|alternaterefscommand|worktree)",
    r"core\.attributesfile",
    r"diff\.external",
    r"sequence\.editor",
    r"pager\..*",
    r"gpg\.(.*\.)?program",
    r"credential\.(.*\.)?helper",
    r"remote\..*\.(uploadpack|receivepack|vcs|proxy)",
    r"uploadpack\.packobjectshook",
    r"url\..*\.(insteadof|pushinsteadof)",
    r"http\..*",
    r"protocol\..*",
    r"ssh\.variant",
]
_DANGEROUS_RE = re.compile("|".join(f"(?:{p})" for p in _DANGEROUS))
NEUTRALISED = frozenset(
    {"core.fsmonitor", "core.hookspath", "core.pager", "core.editor", "core.askpass", "core.sshcommand",
     "core.attributesfile", "diff.external"}
)  # fmt: skip


def is_dangerous_key(key: str) -> bool:
    return _DANGEROUS_RE.fullmatch(key.lower()) is not None


def git_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """A clean environment for git: no secrets, no user or system configuration, no prompts."""
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": "/nonexistent",
        "XDG_CONFIG_HOME": "/nonexistent",
        "LANG": "C.UTF-8",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": "/dev/null",
        "GIT_ATTR_NOSYSTEM": "1",
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_PROTOCOL_FROM_USER": "0",
        "GIT_NO_REPLACE_OBJECTS": "1",
    }
    env.update(extra or {})
    return env


def _config_files(git_dir: Path) -> list[Path]:
    return [p for p in (git_dir / "config", git_dir / "config.worktree") if p.exists()]


def read_config_keys(git_dir: Path) -> list[str]:
    """Every key set in the repository's own config files (includes are not followed, just listed)."""
    keys: list[str] = []
    for path in _config_files(git_dir):
        proc = subprocess.run(
            ["git", "config", "--file", str(path), "--no-includes", "--null", "--name-only", "--list"],
            capture_output=True,
            env=git_env(),
            check=False,
        )
        if proc.returncode != 0:
            raise SandboxError(f"Cannot read git configuration {path.name}: {proc.stderr.decode(errors='replace')}")
        keys += [k for k in proc.stdout.decode("utf-8", "replace").split("\0") if k]
    return keys


def audit_config(git_dir: Path) -> list[str]:
    """Keys in the repository's config that would make git run a program despite our overrides."""
    return sorted({k for k in read_config_keys(git_dir) if is_dangerous_key(k) and k.lower() not in NEUTRALISED})


def strip_dangerous_config(git_dir: Path) -> list[str]:
    """Remove every dangerous key (neutralised ones too) from the repository's config; return them."""
    removed: list[str] = []
    for path in _config_files(git_dir):
        for key in sorted({k for k in read_config_keys(git_dir) if is_dangerous_key(k)}):
            proc = subprocess.run(
                ["git", "config", "--file", str(path), "--unset-all", key],
                capture_output=True,
                env=git_env(),
                check=False,
            )
            if proc.returncode == 0:
                removed.append(key)
    return removed


def check_git_dir(root: Path) -> Path:
    """The checkout's `.git` must be a real directory inside it: no gitfile or symlink redirection."""
    git_dir = root / ".git"
    if git_dir.is_symlink() or not git_dir.is_dir():
        raise SandboxError(
            f"{root} has no `.git` directory (or it is a symlink or a gitfile); equitr only works in a plain clone."
        )
    return git_dir


@dataclass(frozen=True, slots=True)
class GitResult:
    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def git_argv(args: Sequence[str], *, git_dir: Path | None = None, work_tree: Path | None = None) -> list[str]:
    """`git` with the safe overrides, explicit locations, and no external diff or textconv."""
    argv = ["git"]
    for item in SAFE_OVERRIDES:
        argv += ["-c", item]
    if git_dir is not None:
        argv.append(f"--git-dir={git_dir}")
    if work_tree is not None:
        argv.append(f"--work-tree={work_tree}")
    args = list(args)
    if args and args[0] in _SUBMODULE_COMMANDS:
        args = [args[0], "--ignore-submodules=all", *args[1:]]
    if args and args[0] in _DIFF_COMMANDS:
        args = [args[0], "--no-ext-diff", "--no-textconv", *args[1:]]
    return argv + args


def run_git(
    args: Sequence[str],
    *,
    cwd: Path,
    git_dir: Path | None = None,
    work_tree: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 300.0,
    check: bool = True,
    redact: Sequence[str] = (),
) -> GitResult:
    """Run git with the safe setup. `redact` lists strings (tokens) scrubbed from any output we keep."""
    proc = subprocess.run(
        git_argv(args, git_dir=git_dir, work_tree=work_tree),
        cwd=cwd,
        env=git_env(env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    out, err = proc.stdout.decode("utf-8", "replace"), proc.stderr.decode("utf-8", "replace")
    for secret in redact:
        if secret:
            out, err = out.replace(secret, "***"), err.replace(secret, "***")
    result = GitResult(tuple(args), proc.returncode, out, err)
    if check and not result.ok:
        detail = "\n".join(part for part in (err.strip(), out.strip()) if part)
        raise SandboxError(f"git {args[0] if args else ''} failed: {detail}")
    return result


def git_in(root: Path, args: Sequence[str], *, check: bool = True, env: Mapping[str, str] | None = None) -> GitResult:
    """Run git in the checkout `root`, after refusing a config that could run a program."""
    git_dir = check_git_dir(root)
    if bad := audit_config(git_dir):
        raise SandboxError(
            f"Refusing to run git in {root.name}: its .git/config sets {', '.join(bad)}, which could run a "
            "program chosen by the repository.",
            hint="Remove these keys (`git config --unset-all KEY`) and try again.",
        )
    if args and args[0] == "add":
        args = _add_without_submodules(root, git_dir, list(args))
    return run_git(args, cwd=root, git_dir=git_dir, work_tree=root, check=check, env=env)


def stage(root: Path, paths: Iterable[str], *, policy: WritePolicy = DEFAULT_POLICY) -> list[str]:
    """Stage exactly `paths` (relative to `root`; changed, new or deleted), and nothing else: the change is
    what equitr's own tools wrote, never what tests left behind. Each file is hashed as it is on disk
    (`hash-object --no-filters`) and put in the index by mode and blob, so no `.gitattributes`,
    `.gitignore` or filter written into the worktree can alter or block it. A path that is not a regular
    file, or that lies under a symlink or a nested repository (only code under test can have made
    either), is refused. So is the whole change, before anything is staged, when one path is one the
    agent may not write (`.git`, `.github/workflows`, `policy`): whatever put it in `paths`, it is never
    committed. Returns the staged paths."""
    chosen = sorted(set(paths))
    for rel in chosen:
        parts = PurePosixPath(rel).parts
        why = protected_reason(parts) or (r.reason if (r := policy.refusal("/".join(parts))) else None)
        if why:
            raise SandboxError(
                f"Refusing to stage `{rel}`: {why}.",
                hint="Nothing was committed. The file tool refuses these paths; look at what wrote this one.",
            )
    for rel in chosen:
        path = root / rel
        if not real_parents(root, rel):
            raise SandboxError(
                f"Refusing to stage `{rel}`: a directory above it is a symlink or a nested git repository, "
                "made after the checkout.",
                hint="Look at what the tests create in the working tree; equitr will not commit through it.",
            )
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            git_in(root, ["update-index", "--force-remove", "--", rel])
            continue
        if not stat.S_ISREG(info.st_mode):
            raise SandboxError(f"Refusing to stage `{rel}`: it is no longer a regular file.")
        blob = git_in(root, ["hash-object", "-w", "--no-filters", "--", rel]).stdout.strip()
        mode = "100755" if info.st_mode & 0o111 else "100644"
        git_in(root, ["update-index", "--add", "--cacheinfo", mode, blob, rel])
    return chosen


# Who equitr's commits are by, author and committer alike: the agent's `git` tool, the change a fix job pushes
# and the branch `equitr run` hands back.
AUTHOR_NAME = "equitr"
AUTHOR_EMAIL = "equitr@users.noreply.github.com"
_IDENTITY = {
    "GIT_AUTHOR_NAME": AUTHOR_NAME, "GIT_AUTHOR_EMAIL": AUTHOR_EMAIL,
    "GIT_COMMITTER_NAME": AUTHOR_NAME, "GIT_COMMITTER_EMAIL": AUTHOR_EMAIL,
}  # fmt: skip


def commit_index(root: Path, message: str) -> bool:
    """Commit the index of the checkout `root` as it is (see `stage`), by equitr, without hooks; False
    when nothing is staged."""
    if git_in(root, ["diff", "--cached", "--quiet"], check=False).ok:
        return False
    git_in(root, ["commit", "--no-verify", "-q", "-m", message], env=_IDENTITY)
    return True


def _add_without_submodules(root: Path, git_dir: Path, args: list[str]) -> list[str]:
    """`git add` runs `git status` inside every submodule its pathspec covers, and that reads the
    submodule's own config, which code under test can plant in the writable checkout (a clean filter runs
    as equitr). No config key stops it, so each submodule is excluded from the pathspec instead; equitr
    never changes submodules anyway."""
    staged = run_git(["ls-files", "--stage", "-z"], cwd=root, git_dir=git_dir, work_tree=root).stdout
    links = [entry.split("\t", 1)[1] for entry in staged.split("\0") if entry.startswith("160000 ")]
    if not links:
        return args
    if "--" in args:
        at = args.index("--")
        options, paths = args[:at], args[at + 1 :]
    else:
        options, paths = args, []
    excluded = [f":(top,literal,exclude){link}" for link in links]
    return [*options, "--", *(paths or [":(top)"]), *excluded]
