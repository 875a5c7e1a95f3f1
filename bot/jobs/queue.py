"""The queue that carries job ids to workers: huey, on SQLite (embedded default) or Redis (scale-out).

Only ids travel through the queue; the job itself lives in the store (`equitr.jobs.store`). A message that the queue
loses (a worker killed mid-task takes its message with it) is recovered from the store by `sweep`, which
runs when a worker starts and then every minute.

Messages are JSON, never pickle: huey's default serializer unpickles what it reads, so anyone who could
write to Redis could run code in the worker. Each message carries a MAC (`equitr.jobs.seal`) and is validated
field by field against what equitr itself sends; anything else is logged and dropped, never run.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from huey import crontab
from huey.api import Huey
from huey.consumer import Consumer
from huey.registry import Message
from huey.serializer import Serializer
from huey.storage import RedisStorage, SqliteStorage

from equitr.errors import BadMessage
from equitr.jobs import seal
from equitr.sandbox.private import private_file

log = logging.getLogger(__name__)

MessageRow = tuple[str, tuple[object, ...]]  # SQL and its parameters

Executor = Callable[[int], None]
Notifier = Callable[[dict[str, Any]], None]
Sweeper = Callable[[], None]
Validator = Callable[[list[Any]], tuple[Any, ...]]

RUN_JOB = "equitr.run_job"
NOTIFY = "equitr.notify"
MAX_MESSAGE = 64 * 1024  # a notice is at most a comment body; anything larger was not sent by equitr
MAX_BODY = 60_000  # GitHub's comment limit is 65 536 characters
_REPO = re.compile(r"^[A-Za-z0-9_.-]{1,100}/[A-Za-z0-9_.-]{1,100}$")
_ONCE = re.compile(r"[a-z0-9-]{1,120}")
_PREFIX = b"equitr1."

# The functions the worker process runs; bound once by `bind` in processes that consume.
_bound: dict[str, Callable[..., None]] = {}


def _call(name: str, *args: Any) -> None:
    func = _bound.get(name)
    if func is None:
        # Raising makes huey log it; the store still holds the job, and the sweeper re-enqueues it.
        raise RuntimeError(f"no {name} bound in this process; is it a worker?")
    func(*args)


# -- messages ----------------------------------------------------------------------------------------


def _positive_int(value: Any) -> int:
    if type(value) is not int or not 0 < value < 2**63:
        raise BadMessage("a job id must be a positive integer")
    return value


def job_args(args: list[Any]) -> tuple[Any, ...]:
    if len(args) != 1:
        raise BadMessage("a job message carries exactly one job id")
    return (_positive_int(args[0]),)


def notice_args(args: list[Any]) -> tuple[Any, ...]:
    if len(args) != 1 or not isinstance(args[0], dict):
        raise BadMessage("a notice message carries exactly one notice object")
    notice = args[0]
    if set(notice) - {"once"} != {"repo", "number", "installation_id", "body"}:
        raise BadMessage("a notice has exactly repo, number, installation_id and body (and maybe once)")
    repo, number, installation, body = notice["repo"], notice["number"], notice["installation_id"], notice["body"]
    once = notice.get("once")  # the ID of its marker: posted once per issue (the refusal)
    if once is not None and (not isinstance(once, str) or not _ONCE.fullmatch(once)):
        raise BadMessage("a notice's once key must be a marker ID (letters, digits, dashes)")
    if not isinstance(repo, str) or not _REPO.match(repo):
        raise BadMessage("a notice's repo must be OWNER/NAME")
    _positive_int(number)
    if installation is not None:
        _positive_int(installation)
    if not isinstance(body, str) or len(body) > MAX_BODY:
        raise BadMessage("a notice's body must be text of at most 60 000 characters")
    checked = {"repo": repo, "number": number, "installation_id": installation, "body": body}
    return ({**checked, "once": once} if once is not None else checked,)


def no_args(args: list[Any]) -> tuple[Any, ...]:
    if args:
        raise BadMessage("this task takes no arguments")
    return ()


def _time(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadMessage("a time must be an ISO 8601 string")
    try:
        return dt.datetime.fromisoformat(value)
    except ValueError:
        raise BadMessage("a time must be an ISO 8601 string") from None


def _number(value: Any, name: str) -> int | float | None:
    if value is None or (type(value) in (int, float) and 0 <= value < 10**9):
        return value  # type: ignore[no-any-return]
    raise BadMessage(f"{name} must be a small non-negative number")


class JSONSerializer(Serializer):  # type: ignore[misc]
    """huey's messages as signed JSON: `equitr1.<hex HMAC-SHA256>.<JSON>`.

    Only the fields of huey's `Message` that equitr uses can be written or read; the task name must be one
    of equitr's and its arguments must pass that task's validator. Anything else raises `BadMessage`.
    """

    def __init__(self, key: bytes) -> None:
        super().__init__()
        self.key = key
        self.validators: dict[str, Validator] = {}

    def serialize(self, data: Any) -> bytes:
        if not isinstance(data, Message):
            raise TypeError(f"equitr's queue only carries task messages, not {type(data).__name__}")
        if data.on_complete or data.on_error or data.chord_config or data.kwargs:
            raise TypeError("equitr's queue messages carry positional arguments only")
        body = {
            "id": data.id,
            "name": data.name,
            "args": list(data.args),
            "eta": data.eta.isoformat() if data.eta is not None else None,
            "retries": data.retries,
            "retry_delay": data.retry_delay,
            "retry_backoff": data.retry_backoff,
            "priority": data.priority,
        }
        text = json.dumps(body, separators=(",", ":"), ensure_ascii=True).encode()
        return _PREFIX + seal.sign(self.key, text).encode() + b"." + text

    def deserialize(self, data: Any) -> Message:
        raw = bytes(data)
        if len(raw) > MAX_MESSAGE:
            raise BadMessage(f"{len(raw)} bytes is more than any message equitr sends")
        if not raw.startswith(_PREFIX):
            raise BadMessage("not an equitr message (wrong format)")
        mac, sep, text = raw[len(_PREFIX) :].partition(b".")
        if not sep or not seal.signed(self.key, text, mac.decode("ascii", "replace")):
            raise BadMessage("its MAC does not match (not written by equitr, or by a process with other credentials)")
        return self._message(text)

    def _message(self, text: bytes) -> Message:
        try:
            body = json.loads(text)
        except ValueError:
            raise BadMessage("not JSON") from None
        expected = {"id", "name", "args", "eta", "retries", "retry_delay", "retry_backoff", "priority"}
        if not isinstance(body, dict) or set(body) != expected:
            raise BadMessage("unexpected fields")
        name = body["name"]
        validate = self.validators.get(name) if isinstance(name, str) else None
        if validate is None or not isinstance(body["id"], str) or not isinstance(body["args"], list):
            raise BadMessage(f"unknown task {str(name)[:80]!r}")
        priority = body["priority"]
        if priority is not None and type(priority) is not int:
            raise BadMessage("priority must be an integer")
        return Message(
            id=body["id"][:64],
            name=name,
            eta=_time(body["eta"]),
            retries=_number(body["retries"], "retries"),
            retry_delay=_number(body["retry_delay"], "retry_delay"),
            priority=priority,
            args=validate(body["args"]),
            kwargs={},
            retry_backoff=_number(body["retry_backoff"], "retry_backoff"),
        )


class _Guarded(Huey):  # type: ignore[misc]
    """A huey that drops, with one log line, any message it cannot trust instead of running it."""

    def dequeue(self) -> Any:
        for _ in range(100):  # a flood of junk ends this call; the worker's next loop goes on
            data = self.storage.dequeue()
            if data is None:
                return None
            try:
                return self.deserialize_task(data)
            except BadMessage as exc:
                _dropped(data, exc)
        return None

    def _deserialize_all(self, messages: Any) -> list[Any]:
        out = []
        for data in messages:
            try:
                out.append(self.deserialize_task(data))
            except BadMessage as exc:
                _dropped(data, exc)
        return out


def _dropped(data: Any, exc: BadMessage) -> None:
    log.error("dropped a queue message that equitr did not write (%d bytes): %s", len(bytes(data)), exc)


class _Sqlite(SqliteStorage):  # type: ignore[misc]
    """huey's SQLite storage with the store's durability: with synchronous=OFF its connections would
    checkpoint the WAL into the database file without an fsync, so a power cut could lose stored jobs."""

    def __init__(self, *args: Any, synchronous: str = "FULL", **kwargs: Any) -> None:
        self._synchronous = synchronous
        super().__init__(*args, **kwargs)

    def _create_connection(self) -> Any:
        conn = super()._create_connection()
        conn.execute(f"PRAGMA synchronous={self._synchronous}")
        return conn


class Queue:
    def __init__(
        self, *, db: Path, redis_url: str | None, name: str = "equitr", sync: str = "full", key: bytes | None = None
    ) -> None:
        self.serializer = JSONSerializer(key if key is not None else seal.derive(seal.process_key(), "queue"))
        if redis_url:
            import redis

            from equitr.jobs.store.redis import REDIS_TIMEOUTS

            pool = redis.ConnectionPool.from_url(redis_url, **REDIS_TIMEOUTS)
            self.huey: Huey = _Guarded(
                name, results=False, serializer=self.serializer, storage_class=RedisStorage, connection_pool=pool
            )
        else:
            private_file(db)
            self.huey = _Guarded(
                name,
                results=False,
                serializer=self.serializer,
                storage_class=_Sqlite,
                filename=str(db),
                synchronous="NORMAL" if sync == "normal" else "FULL",
            )
        self._run_job = self._task(RUN_JOB, job_args)(lambda job_id: _call("run_job", job_id))
        self._notify = self._task(NOTIFY, notice_args, retries=3, retry_delay=10)(
            lambda notice: _call("notify", notice)
        )
        sweep = self.huey.periodic_task(crontab(minute="*"), name="equitr.sweep")(lambda: _call("sweep"))
        self.serializer.validators[self.huey._registry.task_to_string(sweep.task_class)] = no_args

    def _task(self, name: str, validate: Validator, **options: Any) -> Callable[[Callable[..., None]], Any]:
        def register(func: Callable[..., None]) -> Any:
            wrapper = self.huey.task(name=name, **options)(func)
            self.serializer.validators[self.huey._registry.task_to_string(wrapper.task_class)] = validate
            return wrapper

        return register

    def enqueue_job(self, job_id: int) -> None:
        self._run_job(job_id)

    def job_message_row(self, job_id: int, db: Path) -> MessageRow | None:
        """Job `job_id`'s message as the row huey's SQLite storage would insert, for a store on the file `db` to
        write in the transaction that stores the job (`SqliteStore.create(message=…)`): one commit and one
        fsync per delivery instead of two, and no job stored without its message (R11). None when this queue
        is not in that file (Redis, or another file): the caller enqueues after the commit."""
        storage = self.huey.storage
        if not isinstance(storage, SqliteStorage) or Path(storage.filename).resolve() != db.resolve():
            return None
        data = self.huey.serialize_task(self._run_job.s(job_id))
        return "INSERT INTO task (queue, data, priority) VALUES (?, ?, ?)", (storage.name, data, 0)

    def enqueue_job_later(self, job_id: int, delay_s: float) -> None:
        """The job's message, delivered to a worker in `delay_s` seconds (a rate limit's reset)."""
        self._run_job.schedule(args=(job_id,), delay=delay_s)

    def enqueue_notice(self, notice: dict[str, Any]) -> None:
        """A comment to post that is not a job (e.g. the polite refusal), delivered at least once."""
        self._notify(notice)

    def drain_notices(self) -> list[dict[str, Any]]:
        """In-process mode, for a process that runs its own work (`equitr replay`, the Action): every message
        waiting is taken off the queue, and the notices come back, in order, for the caller to post
        (`Runner.post_notice`). Job messages are dropped: such a process runs the jobs the Dispatcher answered
        with itself. Messages are read as a worker reads them, so one equitr did not write is dropped here too."""
        notices: list[dict[str, Any]] = []
        while (task := self.huey.dequeue()) is not None:
            if task.name == NOTIFY:
                notices.append(task.args[0])
        return notices

    def pending(self) -> int:
        return int(self.huey.pending_count())

    def close(self) -> None:
        close = getattr(self.huey.storage, "close", None)
        if close is not None:
            close()


def bind(*, run_job: Executor, notify: Notifier, sweep: Sweeper) -> None:
    _bound.update(run_job=run_job, notify=notify, sweep=sweep)


class _EmbeddedConsumer(Consumer):  # type: ignore[misc]
    """huey's consumer without its signal handlers: inside `equitr serve` uvicorn owns the signals."""

    def _set_signal_handlers(self) -> None:
        pass


class Workers:
    """Worker threads consuming the queue, in this process."""

    def __init__(self, queue: Queue, *, count: int) -> None:
        self.consumer = _EmbeddedConsumer(
            queue.huey, workers=count, worker_type="thread", periodic=True, max_delay=0.5, initial_delay=0.05
        )
        self._stopped = threading.Event()

    def start(self) -> None:
        self.consumer.start()

    def stop(self, *, graceful: bool = True) -> None:
        if not self._stopped.is_set():
            self._stopped.set()
            self.consumer.stop(graceful=graceful)

    def drain(self, drain: Callable[[float], Any], grace_s: float) -> None:
        """A graceful shutdown (SIGTERM: a deploy, not a crash): stop taking messages, let `drain` (the
        runner's) finish or hand back the running jobs within `grace_s`, then stop the threads."""
        self.consumer.stop_flag.set()  # no worker takes another message
        drain(grace_s)
        self.consumer.shutdown_timeout = 2.0
        self.stop(graceful=True)
