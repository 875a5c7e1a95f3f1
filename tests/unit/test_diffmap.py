"""Which new-file lines a review comment may sit on (`work/diffmap`), on real `git diff` output.

The patches are made by git in a temporary repository and cut to the form GitHub's API gives per file
(`files[].patch`: from the first hunk on), so the tests read the same text the review job reads."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from equitr.handlers.diffmap import PatchLines, lines, numbered, since
from equitr.local.api import split_diff

GIT_ENV = {
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.com",
    "PATH": "/usr/bin:/bin",
}


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True, env=GIT_ENV
    ).stdout


def write(repo: Path, text_lines: list[str], name: str = "f.txt") -> None:
    (repo / name).write_text("".join(f"{line}\n" for line in text_lines))


class Repo:
    """One file's history in a throwaway repository: commit versions, ask for GitHub-style patches."""

    def __init__(self, root: Path) -> None:
        self.root = root
        git(root, "init", "-q", "-b", "main")

    def commit(self, text_lines: list[str]) -> str:
        write(self.root, text_lines)
        git(self.root, "add", "-A")
        git(self.root, "commit", "-q", "--allow-empty", "-m", "v")
        return git(self.root, "rev-parse", "HEAD").strip()

    def patch(self, old: str, new: str, *, context: int = 3) -> str:
        diff = git(self.root, "diff", f"-U{context}", old, new, "--", "f.txt")
        files = split_diff(diff)
        return files[0][1] if files else ""


def patch_between(old: list[str], new: list[str], *, context: int = 3) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        repo = Repo(Path(tmp))
        a, b = repo.commit(old), repo.commit(new)
        return repo.patch(a, b, context=context)


BEFORE = [f"line {n}" for n in range(1, 21)]


def test_an_edit_in_the_middle() -> None:
    after = BEFORE.copy()
    after[9] = "line 10 changed"  # new line 10
    after.insert(15, "inserted")  # new line 16
    patch = patch_between(BEFORE, after)
    got = lines(patch)
    assert got.added == {10, 16}
    # Three lines of context around each change; the hunks of both changes touch, so git makes one hunk.
    assert got.right == set(range(7, 20))


def test_a_deletion_adds_nothing_and_keeps_its_context() -> None:
    after = BEFORE[:5] + BEFORE[6:]  # "line 6" removed
    got = lines(patch_between(BEFORE, after))
    assert got.added == set()
    assert got.right == {3, 4, 5, 6, 7, 8}  # new numbering: "line 7" is now line 6


def test_a_new_file_is_all_added() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        repo = Repo(Path(tmp))
        git(repo.root, "commit", "-q", "--allow-empty", "-m", "empty")
        base = git(repo.root, "rev-parse", "HEAD").strip()
        head = repo.commit(["a", "b", "c"])
        got = lines(repo.patch(base, head))
    assert got == PatchLines(frozenset({1, 2, 3}), frozenset({1, 2, 3}))


def test_no_newline_at_end_of_file_is_not_a_line() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        repo = Repo(Path(tmp))
        (repo.root / "f.txt").write_text("a\nb")
        git(repo.root, "add", "-A")
        git(repo.root, "commit", "-q", "-m", "v1")
        (repo.root / "f.txt").write_text("a\nc")
        patch = git(repo.root, "diff", "--", "f.txt")
    assert "\\ No newline at end of file" in patch
    got = lines(split_diff(patch)[0][1])
    assert got == PatchLines(frozenset({1, 2}), frozenset({2}))
    view, cut = numbered(split_diff(patch)[0][1])
    assert "No newline" not in view and not cut


def test_no_patch_means_nowhere_to_comment() -> None:
    assert lines(None) == PatchLines(frozenset(), frozenset())
    assert lines("") == PatchLines(frozenset(), frozenset())
    assert numbered(None) == ("", False)


def test_numbered_puts_new_line_numbers_before_kept_and_added_lines() -> None:
    after = BEFORE.copy()
    after[9] = "line 10 changed"
    view, cut = numbered(patch_between(BEFORE, after, context=1))
    assert not cut
    assert view.splitlines() == [
        "@@ -9,3 +9,3 @@ line 8",  # git names the line before the hunk
        "   9  line 9",
        "     -line 10",
        "  10 +line 10 changed",
        "  11  line 11",
    ]


def test_numbered_is_clipped_and_says_so() -> None:
    patch = patch_between([], [f"x{n}" for n in range(50)])
    view, cut = numbered(patch, max_lines=10)
    assert cut and len(view.splitlines()) == 10
    assert numbered(patch, max_lines=1000)[1] is False


def test_since_keeps_only_lines_changed_after_the_last_review() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        repo = Repo(Path(tmp))
        base = repo.commit(BEFORE)
        first = BEFORE.copy()
        first[2] = "line 3 reviewed already"
        reviewed = repo.commit(first)
        second = first.copy()
        second[15] = "line 16 new since the review"
        head = repo.commit(second)
        whole = repo.patch(base, head)
        new = repo.patch(reviewed, head)
    got = since(whole, new)
    assert got.added == {16}
    assert got.right == {16}
    assert lines(whole).added == {3, 16}  # the control: the whole pull request changed both


# --- properties: whatever git makes, the map points at real lines of the new file -----------------------

TEXT_LINES = st.lists(st.sampled_from(["a", "b", "c", "", "  x = 1", "def f():", "return"]), max_size=25)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(old=TEXT_LINES, new=TEXT_LINES, context=st.integers(min_value=0, max_value=3))
def test_every_mapped_line_is_that_line_of_the_new_file(old: list[str], new: list[str], context: int) -> None:
    patch = patch_between(old, new, context=context)
    got = lines(patch)
    assert got.added <= got.right
    assert all(1 <= n <= len(new) for n in got.right)
    # The numbered view shows, for each line in the map, exactly that line of the new file.
    view, cut = numbered(patch, max_lines=10_000)
    assert not cut
    shown: dict[int, str] = {}
    for row in view.splitlines():
        if row.startswith("@@") or row.startswith("     -"):
            continue
        number, text = int(row[:4]), row[5:]
        shown[number] = text
        assert text[1:] == new[number - 1]
        assert (text[0] == "+") == (number in got.added)
    assert set(shown) == got.right
    # Added lines are exactly the '+' lines git wrote.
    assert len(got.added) == sum(1 for row in patch.splitlines() if row.startswith("+"))
