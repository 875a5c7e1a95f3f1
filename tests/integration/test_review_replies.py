"""`equitr.review` with a worker whose comment JSON names a line no integer can hold: the comment is dropped
and counted, and the review still comes back (before, `int(1e400)` raised OverflowError out of the review)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import equitr
from equitr.config.settings import Settings
from equitr.sandbox import binaries
from tests.conftest import make_repo
from tests.fakes.scripted_model import ScriptedModel


async def test_a_comment_on_an_impossible_line_is_dropped_not_fatal(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    (repo / "mathutil.py").write_text((repo / "mathutil.py").read_text().replace("(len(values) + 1)", "len(values)"))
    diff = subprocess.run(["git", "diff"], cwd=repo, capture_output=True, text=True, check=True).stdout
    line = next(i for i, text in enumerate((repo / "mathutil.py").read_text().splitlines(), 1) if "len(values)" in text)
    # JSON numbers this large parse as float infinity.
    comments = '{"comments": [{"line": 1e400, "body": "far away"}, ' + json.dumps({"line": line, "body": "ok"}) + "]}"
    settings = Settings(
        EQUITR_WORKDIR=tmp_path / "work", EQUITR_SANDBOX="bwrap" if binaries.bwrap().path is not None else "none"
    )
    result = await equitr.review(
        diff, title="Fix mean", model="openai/gpt-4.1-mini", settings=settings,
        chat_model=ScriptedModel(["- Fixes the divisor.", comments]),
    )  # fmt: skip
    assert result.comments == (equitr.ReviewComment("mathutil.py", line, "ok"),)
    assert result.dropped == 1
