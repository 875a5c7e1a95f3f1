"""Job records (`equitr.action.history`), who wrote a comment (`Identity.wrote`), and the store's side of both: uids,
adopting recorded jobs, and stores made before jobs had a uid."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from equitr.action import history
from equitr.events.decisions import Identity
from equitr.github import comments
from equitr.jobs.model import Job, NewJob
from equitr.jobs.store.sqlite import SqliteStore


def job(**changes: object) -> Job:
    base = Job(
        id=3,
        kind="ask",
        repo="o/r",
        number=7,
        requester="alice",
        delivery_id="d",
        state="done",
        args={"text": "why?", "budget_usd": 2.0, "issue_body": "long", "secret_flag": True},
        reason="answered",
        cost_usd=0.0123456789,
        created_at=1_700_000_000.5,
        updated_at=1_700_000_010.0,
        finished_at=1_700_000_010.0,
        comment_id=99,
        uid="0123456789abcdef",
    )
    return base.with_(**changes)


def test_a_record_round_trips_what_status_cost_and_retry_need() -> None:
    (back,) = history.records("an answer\n" + history.record(job()))
    assert (back.id, back.uid, back.kind, back.state, back.number, back.comment_id) == (
        3,
        "0123456789abcdef",
        "ask",
        "done",
        7,
        99,
    )
    assert back.args == {"text": "why?", "budget_usd": 2.0}  # the issue body is read anew; unknown keys dropped
    assert back.cost_usd == 0.012346 and back.created_at == 1_700_000_000.5


@given(st.text())
def test_no_text_can_end_the_hidden_comment_or_break_the_record(text: str) -> None:
    mark = history.record(job(reason=text, args={"text": text}))
    inner = mark.removeprefix("<!-- ").removesuffix(" -->")
    assert "-->" not in inner and "<" not in inner and ">" not in inner and "--" not in inner
    (back,) = history.records(mark)
    assert back.uid == "0123456789abcdef"


def test_records_of_running_jobs_or_bad_shapes_are_ignored() -> None:
    assert history.records(history.record(job(state="running"))) == []
    assert history.records('<!-- equitr-job {"uid": "x"} -->') == []
    assert history.records('<!-- equitr-job {"uid": "../../x", "state": "done"} -->') == []
    assert history.records("<!-- equitr-job not json -->") == []


def test_with_record_replaces_the_jobs_own_record_and_keeps_others() -> None:
    other = history.record(job(uid="ffffffffffffffff", id=4))
    body = "text\n" + other + "\n" + history.record(job(state="failed"))
    updated = history.with_record(body, job(state="done"))
    assert [(j.uid, j.state) for j in history.records(updated)] == [
        ("ffffffffffffffff", "done"),
        ("0123456789abcdef", "done"),
    ]
    assert updated.startswith("text\n")
    # A later edit of the comment (a new review summary) keeps the records already in it.
    again = comments.keep_job_records(updated, "<!-- equitr:review-summary:7 -->\nnew summary")
    assert {j.uid for j in history.records(again)} == {"ffffffffffffffff", "0123456789abcdef"}


def test_identity_trusts_its_app_or_its_logins_only() -> None:
    app = Identity(app_id=42, logins=frozenset({"equitr[bot]"}))
    assert app.wrote({"user": {"login": "someone[bot]"}, "performed_via_github_app": {"id": 42}})
    assert app.wrote({"user": {"login": "Equitr[bot]"}})
    assert not app.wrote({"user": {"login": "mallory"}, "performed_via_github_app": {"id": 7}})
    assert not app.wrote({"user": None, "performed_via_github_app": None})
    token = Identity(logins=frozenset({"github-actions[bot]"}))
    assert token.wrote({"user": {"login": "github-actions[bot]"}})
    assert not token.wrote({"user": {"login": "mallory"}, "performed_via_github_app": {"id": 42}})


def test_jobs_get_distinct_uids_and_the_store_keeps_them(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db")
    a = store.create(NewJob("help", "o/r", 1, "a", "d1"), ["delivery:d1"])
    b = store.create(NewJob("help", "o/r", 1, "a", "d2"), ["delivery:d2"])
    assert a is not None and b is not None and a.uid != b.uid and len(a.uid) == 16
    assert [j.ref for j in store.jobs()] == [b.uid, a.uid]


def test_adopt_keeps_a_free_id_renumbers_a_taken_one_and_ignores_a_known_uid(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db")
    assert store.adopt(job(id=5)) is not None
    taken = store.adopt(job(id=5, uid="aaaaaaaaaaaaaaaa"))
    assert taken is not None and taken.id == 6
    assert store.adopt(job(id=9)) is None  # the same uid again
    new = store.create(NewJob("help", "o/r", 7, "a", "d"), ["delivery:d"])
    assert new is not None and new.id == 7  # numbering goes on after the history
    assert [j.id for j in store.jobs(limit=None)] == [7, 6, 5]


def test_a_store_from_before_uids_gets_the_column(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    with sqlite3.connect(db) as conn:
        conn.execute(
            "CREATE TABLE jobs (id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, repo TEXT NOT NULL, "
            "number INTEGER NOT NULL, requester TEXT NOT NULL, delivery_id TEXT NOT NULL, state TEXT NOT NULL, "
            "installation_id INTEGER, comment_id INTEGER, args TEXT NOT NULL DEFAULT '{}', reason TEXT NOT NULL "
            "DEFAULT '', cost_usd REAL NOT NULL DEFAULT 0, attempts INTEGER NOT NULL DEFAULT 0, cancel_requested "
            "INTEGER NOT NULL DEFAULT 0, owner TEXT NOT NULL DEFAULT '', lease_until REAL NOT NULL DEFAULT 0, "
            "created_at REAL NOT NULL, updated_at REAL NOT NULL, started_at REAL, finished_at REAL)"
        )
        conn.execute(
            "INSERT INTO jobs (kind, repo, number, requester, delivery_id, state, created_at, updated_at) "
            "VALUES ('fix', 'o/r', 1, 'a', 'd', 'done', 1, 1)"
        )
    store = SqliteStore(db)
    (old,) = store.jobs()
    assert old.uid == "" and old.ref == "1"  # its comments keep the marker they were written with
    new = store.create(NewJob("help", "o/r", 1, "a", "d2"), ["delivery:d2"])
    assert new is not None and new.uid and store.get(new.id).uid == new.uid  # type: ignore[union-attr]
