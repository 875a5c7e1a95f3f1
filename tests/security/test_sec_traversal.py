"""A generated corpus of hostile paths: every one is refused, and nothing anywhere changes on disk."""

from __future__ import annotations

import os
import unicodedata
from pathlib import Path
from typing import Literal

import pytest

from equitr.errors import PathRefused
from equitr.sandbox.paths import resolve_in_checkout
from equitr.sandbox.policy import WritePolicy
from equitr.tools.base import ToolContext
from equitr.tools.file import FileParams
from equitr.tools.registry import Step, execute_sync
from tests.security.conftest import snapshot


def _corpus() -> list[tuple[str, str]]:
    """(path, mode) with mode `read` (refused even for reading) or `write` (refused for writing)."""
    cases: list[tuple[str, str]] = []
    for depth in range(1, 9):
        up = "../" * depth
        cases += [(f"{up}outside/secret.txt", "read"), (f"{up}outside/new.txt", "write")]
        cases += [(f"src/{up}x.txt", "write"), (f"./{up}etc/passwd", "read")]
    cases += [("a/../../x", "write"), ("src/../../outside/secret.txt", "read"), ("src/..", "read")]
    cases += [(p, "read") for p in ("/etc/passwd", "//etc/passwd", "/", "/tmp/x", "/proc/self/environ")]
    cases += [(p, "write") for p in ("/tmp/equitr-pwned", "/etc/cron.d/x")]
    cases += [(p, "read") for p in ("~", "~/.bashrc", "~root/.ssh/id_rsa")]
    cases += [(p, "read") for p in ("src/app.py\x00.txt", "\x00", "src\x00/../x", "..\\..\\outside\\secret.txt")]
    cases += [("", "read"), ("   ", "read")]
    # symlinks planted in the checkout (see the fixture below)
    cases += [
        ("link_file", "read"), ("link_file", "write"), ("link_dir/secret.txt", "read"),
        ("link_dir/new.txt", "write"), ("src/deep/link_parent/secret.txt", "read"), ("rel_link/secret.txt", "read"),
        ("chain1/secret.txt", "read"), ("root_link/etc/passwd", "read"), ("dangling", "write"),
        ("dangling_in", "write"), ("dangling/x", "write"), ("gitlink/hooks/pre-commit", "write"),
        ("gitlink/config", "write"), ("wflink/evil.yml", "write"), ("src/abs_link", "read"),
    ]  # fmt: skip
    git_names = [
        ".git", ".GIT", ".Git", ".git.", ".git ", ".git. . ", ".git...", ".g\u200bit", "\u200b.git", ".git\u200d",
        ".git\ufeff", ".git\u2060", ".\u00adgit", ".g\u034fit", "\uff0egit", ".\uff47\uff49\uff54", "\u2024git",
        "\ufe52git", "git~1", "GIT~1", ".git::$INDEX_ALLOCATION", ".gi\u200ct", ".git\u200e", ".git\u202e",
        unicodedata.normalize("NFD", ".GIT"),
    ]  # fmt: skip
    for name in git_names:
        cases += [(f"{name}/config", "write"), (f"{name}/hooks/pre-commit", "write")]
    cases += [(".git", "write"), ("sub/.git/config", "write"), ("src/.GIT/hooks/post-checkout", "write")]
    workflow_names = [
        ".github/workflows/x.yml", ".GitHub/Workflows/x.yml", ".github/workflows./x.yml",
        ".github/work\u200bflows/x.yml", ".github./workflows/x.yml", "\uff0egithub/\uff57orkflows/x.yml",
        ".github/WORKFLOWS/x.yml", ".github\u200b/workflows/x.yml", ".github/workflows", ".github /workflows/x",
        "sub/.github/workflows/x.yml", ".github/workflows/ci.yml", ".GITHUB/workflows /ci.yml",
        unicodedata.normalize("NFD", ".github/WORKFLOWS/ci.yml"), ".github/workflows\ufeff/ci.yml",
    ]  # fmt: skip
    cases += [(p, "write") for p in workflow_names]
    return cases


CORPUS = _corpus()


def test_corpus_is_large() -> None:
    assert len(CORPUS) >= 100
    assert len({p for p, _ in CORPUS}) >= 100


@pytest.fixture
def planted(checkout: Path, outside: Path) -> Path:
    (checkout / "link_file").symlink_to(outside / "secret.txt")
    (checkout / "link_dir").symlink_to(outside)
    (checkout / "src" / "deep").mkdir()
    (checkout / "src" / "deep" / "link_parent").symlink_to(outside)
    (checkout / "rel_link").symlink_to("../outside")
    (checkout / "chain2").symlink_to(outside)
    (checkout / "chain1").symlink_to("chain2")
    (checkout / "root_link").symlink_to("/")
    (checkout / "dangling").symlink_to(outside / "missing")
    (checkout / "dangling_in").symlink_to("missing-inside")
    (checkout / "gitlink").symlink_to(".git")
    (checkout / "wflink").symlink_to(".github/workflows")
    (checkout / "src" / "abs_link").symlink_to("/etc/passwd")
    return checkout


@pytest.mark.parametrize(("path", "mode"), CORPUS, ids=[f"{m}:{p!r}" for p, m in CORPUS])
def test_hostile_path_is_refused(planted: Path, tmp_path: Path, path: str, mode: str) -> None:
    before = snapshot(tmp_path)
    with pytest.raises(PathRefused) as refused:
        resolve_in_checkout(planted, path, for_write=mode == "write")
    assert refused.value.message  # a message the model can act on
    if not path:
        return  # the schema already refuses an empty path before any tool sees it
    ctx = ToolContext(root=planted, sandbox_mode="none")
    action: Literal["read", "write"] = "write" if mode == "write" else "read"
    params = FileParams(action=action, path=path, content="pwned\n" if action == "write" else None)
    result = execute_sync(Step(step=1, tool="file", parameters=params), ctx)
    assert not result.ok
    assert "do not touch" not in result.output
    if action == "write":
        edit = FileParams(action="edit", path=path, search="x", replace="pwned")
        assert not execute_sync(Step(step=2, tool="file", parameters=edit), ctx).ok
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("path", ["src/app.py", "./src/app.py", "src//app.py", "link_inside", ".github/README.md"])
def test_ordinary_paths_still_work(checkout: Path, path: str) -> None:
    (checkout / "link_inside").symlink_to("src/app.py")
    # `.github/**` is a CI path (equitr.sandbox.policy): writable once the repository allows it.
    policy = WritePolicy(allow_ci=(".github/README.md",))
    resolved = resolve_in_checkout(checkout, path, for_write=True, policy=policy)
    assert resolved.is_relative_to(checkout.resolve())


def test_symlink_swapped_after_check_cannot_redirect_a_write(checkout: Path, outside: Path) -> None:
    """The write replaces the link itself (rename over it) instead of following it."""
    target = resolve_in_checkout(checkout, "src/app.py", for_write=True)
    target.unlink()
    target.symlink_to(outside / "secret.txt")
    ctx = ToolContext(root=checkout, sandbox_mode="none")
    # The guard refuses now; and the low-level writer never follows a link at the final component.
    result = execute_sync(Step(step=1, tool="file", parameters=FileParams(action="write", path="src/app.py",
                                                                           content="x")), ctx)  # fmt: skip
    assert not result.ok
    assert (outside / "secret.txt").read_text() == "do not touch\n"
    assert os.path.islink(target)


def test_a_planted_fifo_is_refused_not_waited_on(checkout: Path) -> None:
    """Code under test can leave a FIFO named like a source file; reading it would block forever."""
    import threading

    from equitr.agent.repomap import build

    os.mkfifo(checkout / "src" / "zz.py")
    outcome: dict[str, object] = {}

    def read_both() -> None:
        step = Step(step=1, tool="file", parameters=FileParams(action="read", path="src/zz.py"))
        outcome["read"] = execute_sync(step, ToolContext(root=checkout, sandbox_mode="none"))
        outcome["map"] = build(checkout, task="zz")

    worker = threading.Thread(target=read_both, daemon=True)
    worker.start()
    worker.join(timeout=30)  # a hang guard, not a timing: a blocked open never returns at all
    assert not worker.is_alive(), "reading a FIFO blocked"
    read = outcome["read"]
    assert not read.ok and "not a regular file" in read.output  # type: ignore[attr-defined]
    assert "src/zz.py" in str(outcome["map"])  # listed by name, never opened
