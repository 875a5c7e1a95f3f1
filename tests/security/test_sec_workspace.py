"""Workspaces against a real `git http-backend` on loopback that demands a token: the token works, and it
is nowhere on disk afterwards (mirror, checkout, config, remote URL) nor in any error message."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from equitr.errors import SandboxError
from equitr.sandbox.gitsafe import stage
from equitr.sandbox.workspace import Workspace
from tests.fakes.git_remote import GitRemote
from tests.security.conftest import git

TOKEN = "ghs_canaryTOKEN1234567890"


@pytest.fixture
def remote(tmp_path: Path) -> Iterator[tuple[str, Path, list[str]]]:
    """A bare repository served over smart HTTP on 127.0.0.1, with a token check."""
    work = tmp_path / "upstream"
    work.mkdir()
    git(work, "init", "-q")
    (work / "app.py").write_text("print('v1')\n")
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "v1")
    git(work, "tag", "v1")
    (work / "app.py").write_text("print('v2')\n")
    git(work, "commit", "-qam", "v2")
    with GitRemote(tmp_path / "served", token_ok=lambda token: token == TOKEN) as server:
        bare = server.add_bare("repo.git", work)
        yield server.url("repo.git"), bare, server.auth_headers


def _grep_tree(root: Path, needles: list[bytes]) -> list[str]:
    hits = []
    for dirpath, _, files in os.walk(root):
        for name in files:
            path = Path(dirpath, name)
            if path.is_symlink():
                continue
            data = path.read_bytes()
            hits += [f"{path}: {n!r}" for n in needles if n in data]
    return hits


async def test_clone_and_push_with_token_leave_no_trace(tmp_path: Path, remote: tuple[str, Path, list[str]]) -> None:
    url, bare, seen = remote
    ws = Workspace(tmp_path / "ws")
    basic = base64.b64encode(f"x-access-token:{TOKEN}".encode())
    needles = [TOKEN.encode(), basic]
    async with ws.checkout("octo/repo", url, token=TOKEN) as co:
        assert (co.root / "app.py").read_text() == "print('v2')\n"
        await co.create_branch_async("equitr/fix-1")
        (co.root / "app.py").write_text("print('v3')\n")
        stage(co.root, ["app.py"])
        sha = await co.commit_staged_async("equitr: v3")
        assert sha is not None
        assert await co.push_async(url, "equitr/fix-1", TOKEN) == sha
        (co.root / "app.py").write_text("print('v4')\n")
        stage(co.root, ["app.py"])
        co.commit_staged("equitr: v4")
        co.push(url, "equitr/fix-1", TOKEN)  # the lease is the sha we pushed before
        assert _grep_tree(co.root, needles) == []
        root = co.root
    assert not root.exists()  # cleaned up
    assert _grep_tree(tmp_path / "ws", needles) == []
    remote_head = git(bare, "rev-parse", "refs/heads/equitr/fix-1").strip()
    assert git(bare, "show", f"{remote_head}:app.py") == "print('v4')\n"
    assert any(h for h in seen) and not any(TOKEN in h for h in seen)  # sent only base64-encoded, as a header


async def test_mirror_is_reused_and_refs_checked_out(tmp_path: Path, remote: tuple[str, Path, list[str]]) -> None:
    url, _, seen = remote
    ws = Workspace(tmp_path / "ws")
    async with ws.checkout("octo/repo", url, ref="v1", token=TOKEN) as co:
        assert (co.root / "app.py").read_text() == "print('v1')\n"
    requests_first = len(seen)
    async with ws.checkout("octo/repo", url, ref="main", token=TOKEN) as co:
        assert (co.root / "app.py").read_text() == "print('v2')\n"
    assert len(seen) > requests_first  # fetched into the existing mirror
    assert len(list((tmp_path / "ws" / "mirrors").glob("*.git"))) == 1
    assert list((tmp_path / "ws" / "jobs").iterdir()) == []


async def test_wrong_token_fails_without_echoing_it(tmp_path: Path, remote: tuple[str, Path, list[str]]) -> None:
    url, _, _ = remote
    with pytest.raises(SandboxError) as failed:
        async with Workspace(tmp_path / "ws").checkout("o/r", url, token="wrong-tok"):
            pass
    assert "wrong-tok" not in str(failed.value)


async def test_push_rules(tmp_path: Path, remote: tuple[str, Path, list[str]]) -> None:
    url, bare, _ = remote
    async with Workspace(tmp_path / "ws").checkout("octo/repo", url, token=TOKEN) as co:
        with pytest.raises(SandboxError, match="only pushes"):
            co.push(url, "main", TOKEN)
        with pytest.raises(SandboxError, match="credentials"):
            co.push(url.replace("http://", f"http://x:{TOKEN}@"), "equitr/x", None)
        # someone else pushed to the branch meanwhile: our lease (must not exist) refuses to overwrite it
        git(bare, "branch", "equitr/taken", "main")
        co.create_branch("equitr/taken")
        (co.root / "new.txt").write_text("x\n")
        stage(co.root, ["new.txt"])
        co.commit_staged("mine")
        with pytest.raises(SandboxError, match=r"stale info|rejected"):
            co.push(url, "equitr/taken", TOKEN)
