"""`/equitr explain <path>` end to end: a signed webhook into the real app, the real runner and checkout, the
fake GitHub and a scripted model. The command is one handler module and one row of the command table."""

from __future__ import annotations

from pathlib import Path

import pytest

from equitr.errors import ValidationError
from equitr.handlers.explain import MAX_LINES, clip, read_shown
from equitr.models.types import Message
from tests.integration.test_github_e2e import REPO, World, comment, ref, run_job, world

__all__ = ["world"]  # the fixture used below


def posted(w: World, job_id: int, kind: str) -> str:
    mark = f"<!-- equitr:{kind}:{ref(w, job_id)} -->"
    (found,) = [c["body"] for c in w.fake.issue_comments(REPO, 1) if mark in c["body"]]
    return str(found)


async def test_explain_answers_with_the_file_explained_and_the_cost(world: World) -> None:
    w = world
    w.model.cost_per_call = 0.0123

    def explanation(messages: list[Message]) -> str:
        shown = messages[-1].content
        assert "mathutil.py" in shown and "def mean" in shown  # the model is shown the file itself
        return "`mathutil.py` holds `mean()`, which divides by `len(values) + 1` (line 11)."

    w.model.script.append(explanation)
    _, reply = await comment(w, "/equitr explain mathutil.py")
    outcome = await run_job(w, reply)
    assert outcome.state == "done", outcome
    body = posted(w, reply["jobs"][0], "answer")
    assert "> mathutil.py" in body and "divides by `len(values) + 1`" in body
    assert "<summary>Cost</summary>" in body and "0.0123" in body
    assert [model for model, _ in w.model.seen] == ["openai/gpt-4.1-mini"]  # one call, to the supervisor
    job = w.services.store.get(reply["jobs"][0])
    assert job is not None and job.cost_usd == pytest.approx(0.0123)


@pytest.mark.parametrize(
    ("path", "said"),
    [
        ("mathutill.py", "There is no file `mathutill.py` on the default branch. Did you mean `mathutil.py`"),
        ("../../etc/passwd", "`..` is not allowed"),
        ("/etc/passwd", "absolute paths are not allowed"),
        (".env", "usually hold secrets"),
        (".git/config", "usually hold secrets"),
        ("deploy/server.pem", "usually hold secrets"),
    ],
)
async def test_a_bad_path_gets_an_error_comment_and_no_model_call(world: World, path: str, said: str) -> None:
    w = world
    _, reply = await comment(w, f"/equitr explain {path}")
    outcome = await run_job(w, reply)
    assert outcome.state == "failed"
    error = posted(w, reply["jobs"][0], "error")
    assert said in error and "/equitr explain src/app.py" in error
    assert "Traceback" not in error
    assert w.model.seen == []


async def test_explain_without_a_path_says_what_it_needs(world: World) -> None:
    w = world
    status, answer = await comment(w, "/equitr explain")
    assert (status, answer["status"]) == (200, "replied")
    assert w.services.store.jobs() == []


async def test_an_unauthorised_commenter_cannot_explain(world: World) -> None:
    w = world
    w.fake.set_permission(REPO, "eve", "read")
    status, answer = await comment(w, "/equitr explain mathutil.py", login="eve")
    assert (status, answer["status"]) == (200, "not authorised")
    assert w.services.store.jobs() == [] and w.model.seen == []


async def test_help_lists_explain(world: World) -> None:
    w = world
    _, reply = await comment(w, "/equitr help")
    outcome = await run_job(w, reply)
    assert outcome.state == "done"
    assert "`/equitr explain <path>` — explain what one file of the repository does" in posted(
        w, reply["jobs"][0], "answer"
    )


def test_a_long_file_is_clipped_and_says_so() -> None:
    shown = clip("big.py", "\n".join(f"x = {n}" for n in range(MAX_LINES * 2)))
    assert shown.clipped and (shown.lines, shown.total_lines) == (MAX_LINES, MAX_LINES * 2)
    assert shown.text.splitlines()[-1].endswith(f"x = {MAX_LINES - 1}")
    wide = clip("wide.py", "\n".join("y" * 5_000 for _ in range(10)))
    assert wide.clipped and len(wide.text) <= 24_000



def test_a_symlink_is_followed_only_inside_the_checkout_and_never_to_a_secret(tmp_path: Path) -> None:
    root, outside = tmp_path / "repo", tmp_path / "outside.txt"
    root.mkdir()
    outside.write_text("host file")
    (root / ".env").write_text("TOKEN=x")
    (root / "app.py").write_text("print('hi')\n")
    (root / "to_env").symlink_to(".env")
    (root / "to_outside").symlink_to(outside)
    (root / "to_app").symlink_to("app.py")
    for link, said in (("to_env", "usually hold secrets"), ("to_outside", "refused")):
        with pytest.raises(ValidationError, match=said):
            read_shown(root, link, files=list)
    assert "print('hi')" in read_shown(root, "to_app", files=list).text
