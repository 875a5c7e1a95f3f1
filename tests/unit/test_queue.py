"""The queue's wire format (signed JSON, validated field by field) and the Redis start-up checks."""

from __future__ import annotations

import json
import logging
import pickle
from pathlib import Path
from typing import Any

import pytest

from equitr.errors import BadMessage
from equitr.jobs import redisguard, seal
from equitr.jobs.model import NewJob
from equitr.jobs.queue import Queue
from equitr.jobs.store.sqlite import SqliteStore

KEY = seal.derive(b"k" * 32, "queue")
NOTICE = {"repo": "octo/repo", "number": 3, "installation_id": 7, "body": "Only maintainers can start equitr."}


@pytest.fixture
def queue(tmp_path: Path) -> Any:
    q = Queue(db=tmp_path / "q.db", redis_url=None, key=KEY)
    yield q
    q.close()


def raw_messages(q: Queue) -> list[bytes]:
    out = []
    while (data := q.huey.storage.dequeue()) is not None:
        out.append(bytes(data))
    return out


def test_messages_round_trip_as_signed_json(queue: Queue) -> None:
    queue.enqueue_job(42)
    queue.enqueue_notice(NOTICE)
    raw = raw_messages(queue)
    assert all(m.startswith(b"equitr1.") for m in raw)
    tasks = [queue.huey.deserialize_task(m) for m in raw]
    assert sorted((t.name.rsplit(".", 1)[-1], t.args) for t in tasks) == [("notify", (NOTICE,)), ("run_job", (42,))]
    body = json.loads(raw[0].split(b".", 2)[2])
    assert set(body) == {"id", "name", "args", "eta", "retries", "retry_delay", "retry_backoff", "priority"}


def test_a_notice_posted_once_carries_its_marker_id(queue: Queue) -> None:
    queue.enqueue_notice({**NOTICE, "once": "refusal-mallory"})
    (raw,) = raw_messages(queue)
    assert queue.huey.deserialize_task(raw).args == ({**NOTICE, "once": "refusal-mallory"},)


def signed(body: dict[str, Any], key: bytes = KEY) -> bytes:
    text = json.dumps(body).encode()
    return b"equitr1." + seal.sign(key, text).encode() + b"." + text


def message(name: str, args: list[Any], **extra: Any) -> dict[str, Any]:
    body = {"id": "m1", "name": f"equitr.jobs.queue.equitr.{name}", "args": args, "eta": None, "retries": 0,
            "retry_delay": 0, "retry_backoff": 0, "priority": None}  # fmt: skip
    return {**body, **extra}


class Boom:
    def __reduce__(self) -> tuple[Any, ...]:
        return (print, ("unpickled!",))


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (pickle.dumps(Boom()), "wrong format"),
        (pickle.dumps(message("run_job", [1])), "wrong format"),
        (json.dumps(message("run_job", [1])).encode(), "wrong format"),
        (signed(message("run_job", [1]), key=b"x" * 32), "MAC does not match"),
        (signed(message("run_job", [1]))[:-2] + b"2]", "MAC does not match"),
        (signed(message("run_job", ["1; rm -rf /"])), "positive integer"),
        (signed(message("run_job", [True])), "positive integer"),
        (signed(message("run_job", [-5])), "positive integer"),
        (signed(message("run_job", [1, 2])), "exactly one job id"),
        (signed(message("os.system", ["id"])), "unknown task"),
        (signed(message("notify", [{**NOTICE, "extra": 1}])), "exactly repo, number"),
        (signed(message("notify", [{**NOTICE, "repo": "../../etc"}])), "OWNER/NAME"),
        (signed(message("notify", [{**NOTICE, "body": "x" * 60_001}])), "at most 60 000"),
        (signed(message("notify", [{**NOTICE, "once": "x --> <img src=x>"}])), "marker ID"),
        (signed(message("notify", [{**NOTICE, "once": 5}])), "marker ID"),
        (signed(message("run_job", [1], kwargs={})), "unexpected fields"),
        (signed(message("run_job", [1], eta="tomorrow")), "ISO 8601"),
        (signed(message("sweep", [1])), "no arguments"),
        (b"equitr1." + b"0" * 100_000, "more than any message"),
    ],
)
def test_anything_equitr_did_not_write_is_refused(queue: Queue, data: bytes, why: str, capsys: Any) -> None:
    with pytest.raises(BadMessage, match=why):
        queue.serializer.deserialize(data)
    assert "unpickled!" not in capsys.readouterr().out


def test_a_bad_message_is_dropped_with_one_log_line_and_the_next_one_runs(
    queue: Queue, caplog: pytest.LogCaptureFixture
) -> None:
    queue.huey.storage.enqueue(pickle.dumps(Boom()), None)
    queue.enqueue_job(9)
    with caplog.at_level(logging.ERROR, logger="equitr.jobs.queue"):
        task = queue.huey.dequeue()
    assert task is not None and task.args == (9,)
    assert [r.getMessage() for r in caplog.records] == [
        f"dropped a queue message that equitr did not write ({len(pickle.dumps(Boom()))} bytes): "
        "not an equitr message (wrong format)"
    ]
    assert queue.huey.dequeue() is None


def test_in_process_mode_hands_back_the_notices_in_order_and_leaves_the_queue_empty(
    queue: Queue, caplog: pytest.LogCaptureFixture, capsys: Any
) -> None:
    """What `equitr replay` and the Action post themselves: the notices; the job ids they run from the
    Dispatcher's answer, so job messages go; junk is dropped as a worker drops it, never run."""
    once = {**NOTICE, "number": 4, "once": "refusal-mallory"}
    queue.enqueue_job(5)
    queue.enqueue_notice(NOTICE)
    queue.huey.storage.enqueue(pickle.dumps(Boom()), None)
    queue.enqueue_notice(once)
    with caplog.at_level(logging.ERROR, logger="equitr.jobs.queue"):
        assert queue.drain_notices() == [NOTICE, once]
    assert queue.pending() == 0 and queue.drain_notices() == []
    assert "dropped a queue message" in caplog.text and "unpickled!" not in capsys.readouterr().out


def test_the_queue_refuses_to_write_what_it_would_not_read(queue: Queue) -> None:
    with pytest.raises(TypeError):
        queue.huey.put("key", ("a", "tuple"))


# -- job records ---------------------------------------------------------------------------------------


def test_a_job_record_changed_in_the_store_is_refused_at_claim(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "jobs.db", key=b"j" * 32)
    new = NewJob(kind="fix", repo="o/r", number=1, requester="alice", delivery_id="d", args={"text": "x"})
    job = store.create(new, ["delivery:d"])
    assert job is not None and store.authentic(job)
    store._conn().execute("UPDATE jobs SET requester='mallory' WHERE id=?", (job.id,))
    assert store.claim(job.id, "me", 30) is None
    refused = store.get(job.id)
    assert refused is not None and refused.state == "failed" and refused.reason.startswith("refused:")
    # The same record under another deployment's key is refused too.
    other = SqliteStore(tmp_path / "jobs.db", key=b"o" * 32)
    again = other.create(NewJob(kind="ask", repo="o/r", number=2, requester="a", delivery_id="e"), ["delivery:e"])
    assert again is not None and store.claim(again.id, "me", 30) is None
    store.close()
    other.close()


# -- Redis start-up checks -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "status"),
    [
        ("redis://127.0.0.1:6379/0", "fail"),
        ("redis://equitr@127.0.0.1:6379/0", "fail"),
        ("redis://:s3cret@127.0.0.1:6379/0", "ok"),
        ("redis://equitr:s3cret@127.0.0.1:6379/0", "ok"),
        ("redis://127.0.0.1:6379/0?password=s3cret", "ok"),
        ("rediss://127.0.0.1:6380/0", "ok"),
        ("unix:///run/redis/redis.sock?db=0", "ok"),
    ],
)
def test_redis_without_a_password_is_refused(url: str, status: str) -> None:
    assert redisguard.check_url(url, insecure_ok=False).status == status


def test_the_opt_in_turns_the_refusal_into_a_warning_that_names_the_fix() -> None:
    refused = redisguard.check_url("redis://10.0.0.5:6379/0", insecure_ok=False)
    assert "requirepass" in refused.fix and "EQUITR_REDIS_INSECURE=1" in refused.fix
    allowed = redisguard.check_url("redis://10.0.0.5:6379/0", insecure_ok=True)
    assert allowed.status == "warn" and "EQUITR_REDIS_INSECURE=1" in allowed.message


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:pa%40ss@host:6379/0", "redis://***@host:6379/0"),
        ("redis://user:pass@host:6379/0", "redis://user:***@host:6379/0"),
        ("redis://host:6379/0?password=s3cr3t&ssl=1", "redis://host:6379/0?password=***&ssl=1"),
        ("redis://:pass@host:99999/0", "redis://***@host:99999/0"),
        ("redis://host:6379/0", "redis://host:6379/0"),
    ],
)
def test_urls_are_shown_without_their_password(url: str, shown: str) -> None:
    assert redisguard.display_url(url) == shown
    assert all(secret not in redisguard.display_url(url) for secret in redisguard.url_secrets(url))


def test_url_passwords_are_known_in_both_spellings() -> None:
    assert redisguard.url_secrets("redis://:pa%40ss@host/0") == ["pa%40ss", "pa@ss"]


def test_a_job_and_its_message_are_written_in_one_transaction_when_they_share_the_file(tmp_path: Path) -> None:
    """The dispatcher's one commit per delivery: the job and its queue message are durable together, and a
    message that cannot be written leaves no job behind (no job stored without its message, R11)."""
    db = tmp_path / "equitr.db"
    queue = Queue(db=db, redis_url=None, key=KEY)
    store = SqliteStore(db)
    try:
        new = NewJob(kind="help", repo="o/r", number=1, requester="alice", delivery_id="d1")
        job = store.create(new, ["delivery:d1"], message=queue.job_message_row)
        assert job is not None
        (task,) = [queue.huey.deserialize_task(m) for m in raw_messages(queue)]
        assert task.name.endswith("run_job") and task.args == (job.id,)

        elsewhere = SqliteStore(tmp_path / "other.db")  # a store on another file: the queue is not in it
        assert queue.job_message_row(1, tmp_path / "other.db") is None
        assert elsewhere.create(new, ["delivery:d1"], message=queue.job_message_row) is not None
        assert raw_messages(queue) == []

        def broken(job_id: int, path: Path) -> tuple[str, tuple[object, ...]]:
            return "INSERT INTO no_such_table VALUES (?)", (job_id,)

        again = NewJob(kind="help", repo="o/r", number=1, requester="alice", delivery_id="d2")
        with pytest.raises(Exception, match="no_such_table"):
            store.create(again, ["delivery:d2"], message=broken)
        assert [j.delivery_id for j in store.jobs(limit=None)] == ["d1"]  # rolled back with its message
        assert not store.seen("delivery:d2")  # so GitHub's redelivery is stored, not taken for a duplicate
    finally:
        queue.close()
        store.close()
