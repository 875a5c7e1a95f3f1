"""Durable job records and dedupe keys: SQLite (embedded default) or Redis (scale-out).

The store is the source of truth for jobs; the queue (huey) only carries job ids. A job is claimed with an
atomic compare-and-set and held with a lease that its runner renews, so a crashed runner's job is taken up
again (by lease expiry, or at once when its process is known dead) and no job runs twice at once.

Each job carries a MAC (`equitr.seal`) made when it is stored and checked when it is claimed: a job written
into the store by anyone else is refused, never run.

Every ending also leaves a *report* (an outbox row, in the same transaction as the end state): what the
issue must be told, kept until GitHub has taken it. `finish` writes it for the runner; the give-up branch of
`claim` writes one of its own, so a job that crashed three workers is reported too. (A refused, forged job is
not: its record names an issue no one asked equitr to write to.)

The store also keeps each job's PerformanceMonitor record (`equitr.monitor`; bounded, redacted, gone with its job
or after `RECORD_TTL_S`) and the metrics folded from them (`equitr.metrics`; each job added once).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from equitr import seal
from equitr.errors import StoreLost
from equitr.jobs import END_STATES, Job, NewJob, State, decode_args, encode_args, new_row
from equitr.monitor import JobRecord
from equitr.private import private_file

log = logging.getLogger(__name__)

DEDUPE_TTL_S = 45 * 24 * 3600  # GitHub redelivers for weeks at most; keep keys well past 30 days.
MAX_ATTEMPTS = 3
# A report written by `finish` is the runner's to deliver for this long; after that the sweeper may.
REPORT_HOLD_S = 60.0
# The monitor's job records (`equitr.monitor`) are kept this long, and go with their job when it is deleted.
RECORD_TTL_S = 90 * 24 * 3600


@dataclass(frozen=True, slots=True)
class PendingReport:
    """An ending not yet reported on GitHub: the report (JSON, see `equitr.endings`) and how often it failed."""

    job_id: int
    report: str
    tries: int = 0
    next_at: float = 0.0


class JobStore(Protocol):
    def create(self, job: NewJob, keys: Sequence[str]) -> Job | None: ...
    def seen(self, key: str) -> bool: ...
    def remember(self, key: str) -> bool: ...
    def get(self, job_id: int) -> Job | None: ...
    def jobs(self, *, limit: int | None = 100, repo: str | None = None, number: int | None = None) -> list[Job]: ...
    def claim(self, job_id: int, owner: str, lease_s: float) -> Job | None: ...
    def heartbeat(self, job_id: int, owner: str, lease_s: float) -> Job | None: ...
    def finish(
        self, job_id: int, owner: str, state: State, reason: str = "", cost_usd: float = 0.0, *, report: str = ""
    ) -> bool: ...
    def reports_due(self, now: float, limit: int = 20) -> list[PendingReport]: ...
    def take_report(self, job_id: int, seen_next_at: float, until: float) -> bool: ...
    def report_failed(self, job_id: int, tries: int, next_at: float) -> None: ...
    def report_done(self, job_id: int) -> None: ...
    def request_cancel(self, job_id: int) -> Job | None: ...
    def requeue(self, job_id: int, owner: str) -> bool: ...
    def release(self, job_id: int, owner: str, *, hold_until: float = 0.0) -> bool: ...
    def active(self) -> list[Job]: ...
    def record_installation(self, installation_id: int, account: str, action: str, repos: list[str]) -> None: ...
    def installations(self) -> list[dict[str, Any]]: ...
    def prune(self, now: float | None = None) -> int: ...
    def save_record(self, job_id: int, record: JobRecord) -> None: ...
    def record(self, job_id: int) -> JobRecord | None: ...
    def records(
        self, *, since: float, repo: str | None = None, limit: int = 1000
    ) -> list[tuple[Job, JobRecord]]: ...
    def add_metrics(self, job_id: int, inc: Mapping[str, float], set_to: Mapping[str, float]) -> bool: ...
    def metric_values(self) -> dict[str, float]: ...
    def authentic(self, job: Job) -> bool: ...
    def check(self) -> None: ...
    def close(self) -> None: ...


# -- owners and liveness ---------------------------------------------------------------------------


def process_owner() -> str:
    """`host:pid:starttime` — pid alone is reused; the kernel start time makes it unique per boot."""
    return f"{socket.gethostname()}:{os.getpid()}:{_start_time(os.getpid())}"


def owner_is_dead(owner: str) -> bool:
    """True only when we can tell for sure: same host and that process no longer exists."""
    host, _, rest = owner.partition(":")
    pid_text, _, start = rest.partition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return start != _start_time(pid)
    return _start_time(pid) != start or not start


def _start_time(pid: int) -> str:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    # Field 22 (starttime); the command name in field 2 may contain spaces, so split after ')'.
    return stat.rsplit(")", 1)[-1].split()[19]


def is_stale(job: Job, now: float, *, queued_grace_s: float = 30.0) -> bool:
    """A job the queue may have lost: running with an expired lease or a dead owner, or long queued."""
    if job.state == "running":
        return job.lease_until < now or owner_is_dead(job.owner)
    return job.state == "queued" and job.updated_at < now - queued_grace_s


# -- SQLite ----------------------------------------------------------------------------------------

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL, repo TEXT NOT NULL, number INTEGER NOT NULL, requester TEXT NOT NULL,
    delivery_id TEXT NOT NULL, state TEXT NOT NULL, installation_id INTEGER, comment_id INTEGER,
    args TEXT NOT NULL DEFAULT '{}', reason TEXT NOT NULL DEFAULT '', cost_usd REAL NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0, cancel_requested INTEGER NOT NULL DEFAULT 0,
    owner TEXT NOT NULL DEFAULT '', lease_until REAL NOT NULL DEFAULT 0,
    created_at REAL NOT NULL, updated_at REAL NOT NULL, started_at REAL, finished_at REAL,
    mac TEXT NOT NULL DEFAULT '',
    uid TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS jobs_by_target ON jobs (repo, number);
CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs (state);
CREATE TABLE IF NOT EXISTS dedupe (key TEXT PRIMARY KEY, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (
    job_id INTEGER PRIMARY KEY, report TEXT NOT NULL, tries INTEGER NOT NULL DEFAULT 0,
    next_at REAL NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS health (id INTEGER PRIMARY KEY, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS installations (
    id INTEGER PRIMARY KEY, account TEXT NOT NULL, action TEXT NOT NULL, repos TEXT NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS job_records (job_id INTEGER PRIMARY KEY, json TEXT NOT NULL, updated_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS job_records_by_time ON job_records (updated_at);
CREATE TABLE IF NOT EXISTS metrics (series TEXT PRIMARY KEY, value REAL NOT NULL);
CREATE TABLE IF NOT EXISTS metrics_folded (job_id INTEGER PRIMARY KEY, at REAL NOT NULL);
CREATE TRIGGER IF NOT EXISTS job_records_go_with_their_job AFTER DELETE ON jobs
BEGIN DELETE FROM job_records WHERE job_id = OLD.id; END;
"""

_COLUMNS = (
    "id, kind, repo, number, requester, delivery_id, state, installation_id, comment_id, args, reason, "
    "cost_usd, attempts, cancel_requested, owner, lease_until, created_at, updated_at, started_at, finished_at, mac, "
    "uid"
)

_REFUSED = (
    "refused: this job's record is not authenticated (forged, or stored by a process with other credentials), "
    "so it was not run. Post the command again."
)


def _job_key(key: bytes | None) -> bytes:
    return key if key is not None else seal.derive(seal.process_key(), "job")


def _log_refused(job_id: int, job: Job | None) -> None:
    what = f" (kind {job.kind!r}, repo {job.repo!r}, requester {job.requester!r})" if job is not None else ""
    log.critical(
        "job %s refused and not run: its record fails authentication%s. Someone other than equitr wrote to "
        "the job store, or processes sharing it run with different credentials.",
        job_id,
        what,
    )


def _parsed(parse: Any, raw: Any) -> Job | None:
    """A stored record as a Job, or None when it is not even well-formed (then it is refused too)."""
    try:
        job: Job = parse(raw)
        return job
    except (KeyError, TypeError, ValueError):
        return None


class SqliteStore:
    """Jobs in an SQLite file (WAL; synchronous=FULL by default, so a committed job survives power loss).
    The file is private to equitr's user (0600): it holds issue text and job arguments."""

    def __init__(self, path: Path | str, *, sync: str = "full", key: bytes | None = None) -> None:
        self.path = str(path)
        self.sync = "NORMAL" if sync == "normal" else "FULL"
        self.key = _job_key(key)
        if self.path != ":memory:":
            private_file(Path(self.path))
        self._local = threading.local()
        self._conn().executescript(_SCHEMA)
        self._migrate()

    def _migrate(self) -> None:
        def missing(db: sqlite3.Connection, column: str) -> bool:
            return column not in {row[1] for row in db.execute("PRAGMA table_info(jobs)")}

        # Stores from before job records were authenticated, and from before jobs had a uid (old jobs keep ''
        # and their id as the ID of their markers).
        for column in ("mac", "uid"):
            if missing(self._conn(), column):
                with self._tx() as db:
                    if missing(db, column):
                        db.execute(f"ALTER TABLE jobs ADD COLUMN {column} TEXT NOT NULL DEFAULT ''")
        self._conn().execute("CREATE INDEX IF NOT EXISTS jobs_by_uid ON jobs (uid)")

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={self.sync}")
            conn.execute("PRAGMA busy_timeout=30000")
            self._local.conn = conn
        return conn

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def authentic(self, job: Job) -> bool:
        return seal.job_ok(self.key, job, job.mac)

    def check(self) -> None:
        """A real write, as a stored job makes one: a full disk, a read-only file system or a lock held too long
        fail here (and `/healthz` says so) instead of only in the deliveries that get 503."""
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO health (id, at) VALUES (1, ?)", (time.time(),))

    def create(self, job: NewJob, keys: Sequence[str]) -> Job | None:
        now = time.time()
        mac = seal.job_mac(self.key, job)
        with self._tx() as db:
            for key in keys:
                if db.execute("SELECT 1 FROM dedupe WHERE key = ?", (key,)).fetchone():
                    return None
            cur = db.execute(
                "INSERT INTO jobs (kind, repo, number, requester, delivery_id, state, installation_id, "
                "comment_id, args, created_at, updated_at, mac, uid) "
                "VALUES (?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?)",
                (
                    job.kind,
                    job.repo,
                    job.number,
                    job.requester,
                    job.delivery_id,
                    job.installation_id,
                    job.comment_id,
                    encode_args(job.args),
                    now,
                    now,
                    mac,
                    job.uid,
                ),
            )
            db.executemany("INSERT INTO dedupe (key, created_at) VALUES (?, ?)", [(k, now) for k in keys])
            job_id = cur.lastrowid
        assert job_id is not None
        return new_row(job, job_id, now, mac=mac)

    def adopt(self, job: Job) -> Job | None:
        """Store an ended job recorded elsewhere (the Action's history, `equitr.history`), keeping its id when it
        is free. None when a job with its uid is already here. It has no MAC: it is never claimed or run."""
        with self._tx() as db:
            if job.state not in END_STATES or not job.uid:
                return None
            if db.execute("SELECT 1 FROM jobs WHERE uid = ?", (job.uid,)).fetchone():
                return None
            taken = db.execute("SELECT 1 FROM jobs WHERE id = ?", (job.id,)).fetchone() is not None
            cur = db.execute(
                "INSERT INTO jobs (id, kind, repo, number, requester, delivery_id, state, comment_id, args, reason, "
                "cost_usd, created_at, updated_at, started_at, finished_at, uid) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    None if taken or job.id <= 0 else job.id,
                    job.kind,
                    job.repo,
                    job.number,
                    job.requester,
                    job.delivery_id,
                    job.state,
                    job.comment_id,
                    encode_args(job.args),
                    job.reason,
                    job.cost_usd,
                    job.created_at,
                    job.updated_at,
                    job.started_at,
                    job.finished_at,
                    job.uid,
                ),
            )
            job_id = cur.lastrowid
        assert job_id is not None
        return job.with_(id=job_id, mac="")

    def seen(self, key: str) -> bool:
        return self._conn().execute("SELECT 1 FROM dedupe WHERE key = ?", (key,)).fetchone() is not None

    def remember(self, key: str) -> bool:
        with self._tx() as db:
            cur = db.execute("INSERT OR IGNORE INTO dedupe (key, created_at) VALUES (?, ?)", (key, time.time()))
            return cur.rowcount == 1

    def get(self, job_id: int) -> Job | None:
        row = self._conn().execute(f"SELECT {_COLUMNS} FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return _row_to_job(row) if row else None

    def jobs(self, *, limit: int | None = 100, repo: str | None = None, number: int | None = None) -> list[Job]:
        """Newest first; `limit=None` for all of them."""
        where: list[str] = []
        params: list[object] = []
        if repo is not None:
            where.append("repo = ?")
            params.append(repo)
        if number is not None:
            where.append("number = ?")
            params.append(number)
        sql = f"SELECT {_COLUMNS} FROM jobs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC LIMIT ?"
        rows = self._conn().execute(sql, (*params, -1 if limit is None else limit)).fetchall()
        return [_row_to_job(r) for r in rows]

    def claim(self, job_id: int, owner: str, lease_s: float) -> Job | None:
        now = time.time()
        with self._tx() as db:
            row = db.execute(f"SELECT {_COLUMNS} FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None or row[6] != "queued":
                return None
            found = _parsed(_row_to_job, row)
            if found is None or not self.authentic(found):
                db.execute(
                    "UPDATE jobs SET state='failed', reason=?, updated_at=?, finished_at=? WHERE id=?",
                    (_REFUSED, now, now, job_id),
                )
                _log_refused(job_id, found)
                return None
            if found.attempts >= MAX_ATTEMPTS:
                db.execute(
                    "UPDATE jobs SET state='failed', reason=?, updated_at=?, finished_at=? WHERE id=?",
                    (_GAVE_UP, now, now, job_id),
                )
                db.execute(_SQL_PUT_REPORT, (job_id, _GAVE_UP_REPORT, now))
                return None
            db.execute(
                "UPDATE jobs SET state='running', owner=?, lease_until=?, attempts=attempts+1, "
                "started_at=COALESCE(started_at, ?), updated_at=? WHERE id=?",
                (owner, now + lease_s, now, now, job_id),
            )
        return self.get(job_id)

    def heartbeat(self, job_id: int, owner: str, lease_s: float) -> Job | None:
        now = time.time()
        with self._tx() as db:
            cur = db.execute(
                "UPDATE jobs SET lease_until=?, updated_at=? WHERE id=? AND owner=? AND state='running'",
                (now + lease_s, now, job_id, owner),
            )
            if cur.rowcount != 1:
                return None
        return self.get(job_id)

    def finish(
        self, job_id: int, owner: str, state: State, reason: str = "", cost_usd: float = 0.0, *, report: str = ""
    ) -> bool:
        now = time.time()
        with self._tx() as db:
            cur = db.execute(
                "UPDATE jobs SET state=?, reason=?, cost_usd=?, owner='', lease_until=0, updated_at=?, "
                "finished_at=? WHERE id=? AND owner=? AND state='running'",
                (state, reason, cost_usd, now, now, job_id, owner),
            )
            if cur.rowcount == 1 and report:
                db.execute(_SQL_PUT_REPORT, (job_id, report, now + REPORT_HOLD_S))
            return cur.rowcount == 1

    def reports_due(self, now: float, limit: int = 20) -> list[PendingReport]:
        rows = (
            self._conn()
            .execute(
                "SELECT job_id, report, tries, next_at FROM outbox WHERE next_at <= ? ORDER BY next_at LIMIT ?",
                (now, limit),
            )
            .fetchall()
        )
        return [PendingReport(*row) for row in rows]

    def take_report(self, job_id: int, seen_next_at: float, until: float) -> bool:
        """Hold a due report for one deliverer (compare-and-set on its time), so that two never post it."""
        with self._tx() as db:
            cur = db.execute("UPDATE outbox SET next_at=? WHERE job_id=? AND next_at=?", (until, job_id, seen_next_at))
            return cur.rowcount == 1

    def report_failed(self, job_id: int, tries: int, next_at: float) -> None:
        with self._tx() as db:
            db.execute("UPDATE outbox SET tries=?, next_at=? WHERE job_id=?", (tries, next_at, job_id))

    def report_done(self, job_id: int) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM outbox WHERE job_id=?", (job_id,))

    def request_cancel(self, job_id: int) -> Job | None:
        now = time.time()
        with self._tx() as db:
            db.execute(
                "UPDATE jobs SET state='cancelled', reason='cancelled before it started', updated_at=?, "
                "finished_at=? WHERE id=? AND state='queued'",
                (now, now, job_id),
            )
            db.execute("UPDATE jobs SET cancel_requested=1, updated_at=? WHERE id=? AND state='running'", (now, job_id))
        return self.get(job_id)

    def requeue(self, job_id: int, owner: str) -> bool:
        now = time.time()
        with self._tx() as db:
            cur = db.execute(
                "UPDATE jobs SET state='queued', owner='', lease_until=0, updated_at=? "
                "WHERE id=? AND state IN ('running', 'queued') AND owner=?",
                (now, job_id, owner),
            )
            return cur.rowcount == 1

    def release(self, job_id: int, owner: str, *, hold_until: float = 0.0) -> bool:
        """Hand a running job back to the queue (at shutdown, or parked until a rate limit resets): `queued`
        again, and its attempt not counted (a deploy is not a crash, so three restarts never make a job give
        up). The sweeper leaves it alone until `hold_until` (its message is scheduled for then)."""
        now = max(time.time(), hold_until)
        with self._tx() as db:
            cur = db.execute(
                "UPDATE jobs SET state='queued', owner='', lease_until=0, attempts=MAX(attempts-1, 0), "
                "updated_at=? WHERE id=? AND state='running' AND owner=?",
                (now, job_id, owner),
            )
            return cur.rowcount == 1

    def active(self) -> list[Job]:
        rows = (
            self._conn()
            .execute(f"SELECT {_COLUMNS} FROM jobs WHERE state IN ('queued', 'running') ORDER BY id")
            .fetchall()
        )
        return [_row_to_job(r) for r in rows]

    def record_installation(self, installation_id: int, account: str, action: str, repos: list[str]) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO installations (id, account, action, repos, updated_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET account=excluded.account, action=excluded.action, "
                "repos=excluded.repos, updated_at=excluded.updated_at",
                (installation_id, account, action, json.dumps(repos), time.time()),
            )

    def installations(self) -> list[dict[str, Any]]:
        rows = self._conn().execute("SELECT id, account, action, repos, updated_at FROM installations").fetchall()
        return [
            {"id": r[0], "account": r[1], "action": r[2], "repos": json.loads(r[3]), "updated_at": r[4]} for r in rows
        ]

    def prune(self, now: float | None = None) -> int:
        now = time.time() if now is None else now
        with self._tx() as db:
            db.execute(
                "DELETE FROM job_records WHERE updated_at < ? OR job_id NOT IN (SELECT id FROM jobs)",
                (now - RECORD_TTL_S,),
            )
            db.execute("DELETE FROM metrics_folded WHERE at < ?", (now - RECORD_TTL_S,))
            return db.execute("DELETE FROM dedupe WHERE created_at < ?", (now - DEDUPE_TTL_S,)).rowcount

    # -- the monitor's records (equitr.monitor) --

    def save_record(self, job_id: int, record: JobRecord) -> None:
        text = record.to_json()  # bounded and redacted
        with self._tx() as db:
            db.execute(
                "INSERT INTO job_records (job_id, json, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT(job_id) DO UPDATE SET json=excluded.json, updated_at=excluded.updated_at",
                (job_id, text, time.time()),
            )

    def record(self, job_id: int) -> JobRecord | None:
        row = self._conn().execute("SELECT json FROM job_records WHERE job_id = ?", (job_id,)).fetchone()
        return _parsed_record(row[0]) if row else None

    def add_metrics(self, job_id: int, inc: Mapping[str, float], set_to: Mapping[str, float]) -> bool:
        """Add a job's share to the stored metrics (`equitr.metrics`), once per job: False when already added."""
        with self._tx() as db:
            cur = db.execute("INSERT OR IGNORE INTO metrics_folded (job_id, at) VALUES (?, ?)", (job_id, time.time()))
            if cur.rowcount != 1:
                return False
            db.executemany(
                "INSERT INTO metrics (series, value) VALUES (?, ?) "
                "ON CONFLICT(series) DO UPDATE SET value = value + excluded.value",
                list(inc.items()),
            )
            db.executemany(
                "INSERT INTO metrics (series, value) VALUES (?, ?) "
                "ON CONFLICT(series) DO UPDATE SET value = excluded.value",
                list(set_to.items()),
            )
        return True

    def metric_values(self) -> dict[str, float]:
        return {str(k): float(v) for k, v in self._conn().execute("SELECT series, value FROM metrics")}

    def records(self, *, since: float, repo: str | None = None, limit: int = 1000) -> list[tuple[Job, JobRecord]]:
        """Jobs created at or after `since` that have a record, with it; newest first."""
        cols = ", ".join(f"j.{c.strip()}" for c in _COLUMNS.split(","))
        sql = f"SELECT {cols}, r.json FROM job_records r JOIN jobs j ON j.id = r.job_id WHERE j.created_at >= ?"
        params: list[object] = [since]
        if repo is not None:
            sql += " AND j.repo = ?"
            params.append(repo)
        rows = self._conn().execute(sql + " ORDER BY j.id DESC LIMIT ?", (*params, limit)).fetchall()
        out: list[tuple[Job, JobRecord]] = []
        for row in rows:
            record = _parsed_record(row[-1])
            if record is not None:
                out.append((_row_to_job(row[:-1]), record))
        return out


def gave_up(job: Job) -> bool:
    """Ended by the claim's give-up branch (its runners kept dying): no runner ended it."""
    return job.state == "failed" and job.reason == _GAVE_UP


def _parsed_record(raw: str | bytes) -> JobRecord | None:
    """A stored record, or None (logged) when it cannot be read: one bad row never breaks a listing."""
    try:
        return JobRecord.from_json(raw)
    except (KeyError, TypeError, ValueError) as exc:
        log.warning("a stored job record could not be read (%s); it is skipped", type(exc).__name__)
        return None


_GAVE_UP = (
    f"gave up after {MAX_ATTEMPTS} attempts: the worker stopped unexpectedly each time. "
    "Check the worker's logs, then `/equitr retry`."
)
# The give-up branch's report: no bodies (the store writes no Markdown); `equitr.endings` renders them.
_GAVE_UP_REPORT = json.dumps({"state": "failed", "reason": _GAVE_UP, "lost": True})
_SQL_PUT_REPORT = (
    "INSERT INTO outbox (job_id, report, tries, next_at) VALUES (?, ?, 0, ?) "
    "ON CONFLICT(job_id) DO UPDATE SET report=excluded.report, tries=0, next_at=excluded.next_at"
)


def _row_to_job(row: tuple[Any, ...]) -> Job:
    (
        job_id,
        kind,
        repo,
        number,
        requester,
        delivery_id,
        state,
        installation_id,
        comment_id,
        args,
        reason,
        cost_usd,
        attempts,
        cancel_requested,
        owner,
        lease_until,
        created_at,
        updated_at,
        started_at,
        finished_at,
        mac,
        uid,
    ) = row
    return Job(
        id=job_id,
        kind=kind,
        repo=repo,
        number=number,
        requester=requester,
        delivery_id=delivery_id,
        state=state,
        installation_id=installation_id,
        comment_id=comment_id,
        args=decode_args(args),
        reason=reason,
        cost_usd=cost_usd,
        attempts=attempts,
        cancel_requested=bool(cancel_requested),
        owner=owner,
        lease_until=lease_until,
        created_at=created_at,
        updated_at=updated_at,
        started_at=started_at,
        finished_at=finished_at,
        mac=mac or "",
        uid=uid or "",
    )


# -- Redis -----------------------------------------------------------------------------------------

# A Redis that stops answering (frozen, partitioned) fails a call within seconds instead of never: the webhook
# answers 503 (GitHub redelivers) and `/healthz` says so. Longer than huey's 1 s blocking pop.
REDIS_TIMEOUTS: dict[str, Any] = {"socket_timeout": 3.0, "socket_connect_timeout": 2.0, "health_check_interval": 30}

# Each job is one JSON document; every state change is a Lua script, so it is atomic across workers.
_LUA_CREATE = """
if redis.call('GET', ARGV[1] .. 'epoch') ~= ARGV[4] then return -1 end
for i, key in ipairs(KEYS) do
  if i > 1 and redis.call('EXISTS', key) == 1 then return 0 end
end
local id = redis.call('INCR', ARGV[1] .. 'seq')
local job = cjson.decode(ARGV[2])
job['id'] = id
redis.call('SET', ARGV[1] .. 'job:' .. id, cjson.encode(job))
redis.call('ZADD', KEYS[1], id, id)
redis.call('SADD', ARGV[1] .. 'active', id)
for i, key in ipairs(KEYS) do
  if i > 1 then redis.call('SET', key, id, 'EX', ARGV[3]) end
end
return id
"""

_LUA_UPDATE = """
local raw = redis.call('GET', KEYS[1])
if not raw then return nil end
local job = cjson.decode(raw)
local op, owner, now = ARGV[1], ARGV[2], tonumber(ARGV[3])
if op == 'claim' then
  if job['state'] ~= 'queued' then return nil end
  if job['attempts'] >= tonumber(ARGV[5]) then
    job['state'] = 'failed'; job['reason'] = ARGV[6]; job['finished_at'] = now; job['updated_at'] = now
    redis.call('SET', KEYS[1], cjson.encode(job)); redis.call('SREM', KEYS[2], job['id'])
    redis.call('HSET', KEYS[3], job['id'], ARGV[7]); redis.call('ZADD', KEYS[4], now, job['id'])
    return nil
  end
  job['state'] = 'running'; job['owner'] = owner; job['lease_until'] = now + tonumber(ARGV[4])
  job['attempts'] = job['attempts'] + 1
  if job['started_at'] == cjson.null then job['started_at'] = now end
elseif op == 'heartbeat' then
  if job['state'] ~= 'running' or job['owner'] ~= owner then return nil end
  job['lease_until'] = now + tonumber(ARGV[4])
elseif op == 'finish' then
  if job['state'] ~= 'running' or job['owner'] ~= owner then return nil end
  job['state'] = ARGV[4]; job['reason'] = ARGV[5]; job['cost_usd'] = tonumber(ARGV[6])
  job['owner'] = ''; job['lease_until'] = 0; job['finished_at'] = now
  redis.call('SREM', KEYS[2], job['id'])
  if ARGV[7] and ARGV[7] ~= '' then
    redis.call('HSET', KEYS[3], job['id'], ARGV[7]); redis.call('ZADD', KEYS[4], now + tonumber(ARGV[8]), job['id'])
  end
elseif op == 'cancel' then
  if job['state'] == 'queued' then
    job['state'] = 'cancelled'; job['reason'] = 'cancelled before it started'; job['finished_at'] = now
    redis.call('SREM', KEYS[2], job['id'])
  elseif job['state'] == 'running' then
    job['cancel_requested'] = true
  end
elseif op == 'requeue' then
  if (job['state'] ~= 'running' and job['state'] ~= 'queued') or job['owner'] ~= owner then return nil end
  job['state'] = 'queued'; job['owner'] = ''; job['lease_until'] = 0
elseif op == 'release' then
  if job['state'] ~= 'running' or job['owner'] ~= owner then return nil end
  job['state'] = 'queued'; job['owner'] = ''; job['lease_until'] = 0
  job['attempts'] = math.max(job['attempts'] - 1, 0)
  now = math.max(now, tonumber(ARGV[4]))
end
job['updated_at'] = now
local out = cjson.encode(job)
redis.call('SET', KEYS[1], out)
return out
"""


# A job's share of the metrics, added once: the marker key says it was.
_LUA_ADD_METRICS = """
if not redis.call('SET', KEYS[2], 1, 'NX', 'EX', ARGV[1]) then return 0 end
local n = tonumber(ARGV[2])
for i = 1, n do redis.call('HINCRBYFLOAT', KEYS[1], ARGV[1 + 2 * i], ARGV[2 + 2 * i]) end
for i = 3 + 2 * n, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
return 1
"""

_LUA_TAKE_REPORT = """
local at = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not at or tonumber(at) ~= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
return 1
"""


class RedisStore:
    """Jobs in Redis, for several `equitr worker` machines sharing one queue.

    An epoch key, written once, tells whether Redis lost its data while equitr ran (a restart without
    persistence, an eviction, a flush): then storing a job fails (the webhook answers 503) and `/healthz`
    says so, instead of job ids silently starting again at 1.
    """

    def __init__(self, url: str, *, prefix: str = "equitr:", key: bytes | None = None) -> None:
        import redis

        self.prefix = prefix
        self.key = _job_key(key)
        self.redis = redis.Redis.from_url(url, **REDIS_TIMEOUTS)
        self._create = self.redis.register_script(_LUA_CREATE)
        self._update = self.redis.register_script(_LUA_UPDATE)
        self._take = self.redis.register_script(_LUA_TAKE_REPORT)
        self._add_metrics = self.redis.register_script(_LUA_ADD_METRICS)
        self.redis.set(f"{prefix}epoch", secrets.token_hex(16), nx=True)
        epoch = self.redis.get(f"{prefix}epoch")
        self.epoch = epoch.decode() if isinstance(epoch, bytes) else str(epoch)

    def authentic(self, job: Job) -> bool:
        return seal.job_ok(self.key, job, job.mac)

    def _lost(self) -> bool:
        now = self.redis.get(f"{self.prefix}epoch")
        if now is not None and now.decode() == self.epoch:
            return False
        log.critical(
            "Redis lost equitr's data while equitr was running (its store epoch is gone): queued jobs, dedupe "
            "keys and the job-id sequence are lost. New deliveries are refused with 503. Fix Redis persistence "
            "(appendonly yes, maxmemory-policy noeviction; see docs/queue.md), then restart every equitr process."
        )
        return True

    def check(self) -> None:
        if self._lost():
            raise StoreLost("Redis lost equitr's job store while equitr was running; restart equitr.")
        # A write, as a stored job makes one: Redis refuses them when it is out of memory or cannot persist.
        self.redis.set(f"{self.prefix}health", str(time.time()), ex=60)

    def close(self) -> None:
        self.redis.close()

    def _key(self, job_id: int) -> str:
        return f"{self.prefix}job:{job_id}"

    def create(self, job: NewJob, keys: Sequence[str]) -> Job | None:
        now = time.time()
        mac = seal.job_mac(self.key, job)
        doc = _job_doc(new_row(job, 0, now, mac=mac))
        job_id = int(
            self._create(
                keys=[f"{self.prefix}jobs", *(f"{self.prefix}dedupe:{k}" for k in keys)],
                args=[self.prefix, json.dumps(doc), DEDUPE_TTL_S, self.epoch],
            )
        )
        if job_id < 0:
            self.check()
            raise StoreLost("Redis lost equitr's job store while equitr was running; restart equitr.")
        return new_row(job, job_id, now, mac=mac) if job_id else None

    def seen(self, key: str) -> bool:
        return bool(self.redis.exists(f"{self.prefix}dedupe:{key}"))

    def remember(self, key: str) -> bool:
        return bool(self.redis.set(f"{self.prefix}dedupe:{key}", 1, nx=True, ex=DEDUPE_TTL_S))

    def get(self, job_id: int) -> Job | None:
        raw = self.redis.get(self._key(job_id))
        return _doc_to_job(raw) if raw else None

    def jobs(self, *, limit: int | None = 100, repo: str | None = None, number: int | None = None) -> list[Job]:
        out: list[Job] = []
        # Newest first, a page of documents per round trip; filters are applied here, which is fine at the
        # scale of a job list.
        page, start = 200, 0
        while limit is None or len(out) < limit:
            ids = self.redis.zrevrange(f"{self.prefix}jobs", start, start + page - 1)
            if not ids:
                break
            start += page
            for raw in self.redis.mget([self._key(int(i)) for i in ids]):
                if raw is None:
                    continue
                job = _doc_to_job(raw)
                if (repo is None or job.repo == repo) and (number is None or job.number == number):
                    out.append(job)
        return out if limit is None else out[:limit]

    def _keys(self, job_id: int) -> list[str]:
        return [self._key(job_id), f"{self.prefix}active", f"{self.prefix}outbox", f"{self.prefix}outbox:due"]

    def _op(self, job_id: int, op: str, owner: str, *extra: Any) -> Job | None:
        raw = self._update(keys=self._keys(job_id), args=[op, owner, time.time(), *extra])
        return _doc_to_job(raw) if raw else None

    def claim(self, job_id: int, owner: str, lease_s: float) -> Job | None:
        keys = self._keys(job_id)
        args = ["claim", owner, time.time(), lease_s, MAX_ATTEMPTS, _GAVE_UP, _GAVE_UP_REPORT]
        raw = self._update(keys=keys, args=args)
        if not raw:
            return None
        job = _parsed(_doc_to_job, raw)
        if job is None or not self.authentic(job):
            self._update(keys=keys, args=["finish", owner, time.time(), "failed", _REFUSED, 0])
            _log_refused(job_id, job)
            return None
        return job

    def heartbeat(self, job_id: int, owner: str, lease_s: float) -> Job | None:
        return self._op(job_id, "heartbeat", owner, lease_s)

    def finish(
        self, job_id: int, owner: str, state: State, reason: str = "", cost_usd: float = 0.0, *, report: str = ""
    ) -> bool:
        assert state in END_STATES
        return self._op(job_id, "finish", owner, state, reason, cost_usd, report, REPORT_HOLD_S) is not None

    # The outbox: a hash job id → report, a sorted set job id → when to try next, and a try counter.
    def reports_due(self, now: float, limit: int = 20) -> list[PendingReport]:
        ids = self.redis.zrangebyscore(f"{self.prefix}outbox:due", "-inf", now, start=0, num=limit, withscores=True)
        out: list[PendingReport] = []
        for raw_id, score in ids:
            job_id = int(raw_id)
            report = self.redis.hget(f"{self.prefix}outbox", str(job_id))
            if report is None:
                continue
            tries = int(self.redis.hget(f"{self.prefix}outbox:tries", str(job_id)) or 0)
            out.append(PendingReport(job_id, report.decode() if isinstance(report, bytes) else report, tries, score))
        return out

    def take_report(self, job_id: int, seen_next_at: float, until: float) -> bool:
        return bool(self._take(keys=[f"{self.prefix}outbox:due"], args=[str(job_id), repr(seen_next_at), repr(until)]))

    def report_failed(self, job_id: int, tries: int, next_at: float) -> None:
        if self.redis.hexists(f"{self.prefix}outbox", str(job_id)):
            self.redis.hset(f"{self.prefix}outbox:tries", str(job_id), tries)
            self.redis.zadd(f"{self.prefix}outbox:due", {str(job_id): next_at})

    def report_done(self, job_id: int) -> None:
        pipe = self.redis.pipeline()
        for key in ("outbox", "outbox:tries"):
            pipe.hdel(f"{self.prefix}{key}", str(job_id))
        pipe.zrem(f"{self.prefix}outbox:due", str(job_id))
        pipe.execute()

    def request_cancel(self, job_id: int) -> Job | None:
        return self._op(job_id, "cancel", "")

    def requeue(self, job_id: int, owner: str) -> bool:
        return self._op(job_id, "requeue", owner) is not None

    def release(self, job_id: int, owner: str, *, hold_until: float = 0.0) -> bool:
        return self._op(job_id, "release", owner, hold_until) is not None

    def active(self) -> list[Job]:
        ids = sorted(int(i) for i in self.redis.smembers(f"{self.prefix}active"))
        if not ids:
            return []
        # One round trip (a scrape of /metrics and every /healthz read this).
        return [_doc_to_job(raw) for raw in self.redis.mget([self._key(i) for i in ids]) if raw]

    def record_installation(self, installation_id: int, account: str, action: str, repos: list[str]) -> None:
        doc = {"id": installation_id, "account": account, "action": action, "repos": repos, "updated_at": time.time()}
        self.redis.hset(f"{self.prefix}installations", str(installation_id), json.dumps(doc))

    def installations(self) -> list[dict[str, Any]]:
        return [json.loads(v) for v in self.redis.hvals(f"{self.prefix}installations")]

    def prune(self, now: float | None = None) -> int:
        # Redis expires dedupe keys and job records by itself (EX on every key); the sweeper's minute is a
        # good time to notice that Redis lost everything, and to drop the index entries of expired records.
        self._lost()
        cutoff = (time.time() if now is None else now) - RECORD_TTL_S
        self.redis.zremrangebyscore(f"{self.prefix}records:at", "-inf", cutoff)
        return 0

    # -- the monitor's records (equitr.monitor): `{prefix}record:{id}` (expiring), indexed by job id --

    def _record_key(self, job_id: int) -> str:
        return f"{self.prefix}record:{job_id}"

    def save_record(self, job_id: int, record: JobRecord) -> None:
        text = record.to_json()  # bounded and redacted
        pipe = self.redis.pipeline()
        pipe.set(self._record_key(job_id), text, ex=RECORD_TTL_S)
        pipe.zadd(f"{self.prefix}records", {str(job_id): job_id})
        pipe.zadd(f"{self.prefix}records:at", {str(job_id): time.time()})
        pipe.execute()

    def record(self, job_id: int) -> JobRecord | None:
        raw = self.redis.get(self._record_key(job_id))
        return _parsed_record(raw) if raw else None

    def add_metrics(self, job_id: int, inc: Mapping[str, float], set_to: Mapping[str, float]) -> bool:
        """Add a job's share to the stored metrics (`equitr.metrics`), once per job: False when already added."""
        args: list[Any] = [RECORD_TTL_S, len(inc)]
        for key, value in [*inc.items(), *set_to.items()]:
            args += [key, repr(float(value))]
        keys = [f"{self.prefix}metrics", f"{self.prefix}metrics:folded:{job_id}"]
        return bool(self._add_metrics(keys=keys, args=args))

    def metric_values(self) -> dict[str, float]:
        raw = self.redis.hgetall(f"{self.prefix}metrics")
        return {(k.decode() if isinstance(k, bytes) else str(k)): float(v) for k, v in raw.items()}

    def records(self, *, since: float, repo: str | None = None, limit: int = 1000) -> list[tuple[Job, JobRecord]]:
        """Jobs created at or after `since` that have a record, with it; newest first."""
        out: list[tuple[Job, JobRecord]] = []
        page, start = 200, 0
        while len(out) < limit:
            ids = [int(i) for i in self.redis.zrevrange(f"{self.prefix}records", start, start + page - 1)]
            if not ids:
                break
            start += page
            jobs = self.redis.mget([self._key(i) for i in ids])
            raws = self.redis.mget([self._record_key(i) for i in ids])
            gone = [str(i) for i, raw_job, raw in zip(ids, jobs, raws, strict=True) if raw_job is None or raw is None]
            if gone:  # expired records, or jobs deleted: their index entries go too
                self.redis.zrem(f"{self.prefix}records", *gone)
                self.redis.zrem(f"{self.prefix}records:at", *gone)
                start -= len(gone)
            older = 0
            for raw_job, raw in zip(jobs, raws, strict=True):
                if raw_job is None or raw is None:
                    continue
                job = _doc_to_job(raw_job)
                if job.created_at < since:
                    older += 1
                    continue
                record = _parsed_record(raw)
                if record is not None and (repo is None or job.repo == repo):
                    out.append((job, record))
            if older == len(ids):  # ids grow with time: a page entirely before `since` ends the walk
                break
        return out[:limit]


def _job_doc(job: Job) -> dict[str, Any]:
    doc = job.to_dict()
    doc["owner"] = job.owner
    doc["lease_until"] = job.lease_until
    doc["mac"] = job.mac
    # Lua's cjson turns an empty table into an object or array ambiguously; keep args as a string.
    doc["args"] = encode_args(job.args)
    return doc


def _doc_to_job(raw: bytes | str) -> Job:
    doc = json.loads(raw)
    return Job(
        id=int(doc["id"]),
        kind=doc["kind"],
        repo=doc["repo"],
        number=int(doc["number"]),
        requester=doc["requester"],
        delivery_id=doc["delivery_id"],
        state=doc["state"],
        installation_id=_int_or_none(doc.get("installation_id")),
        comment_id=_int_or_none(doc.get("comment_id")),
        args=decode_args(doc.get("args")),
        reason=doc.get("reason") or "",
        cost_usd=float(doc.get("cost_usd") or 0),
        attempts=int(doc.get("attempts") or 0),
        cancel_requested=bool(doc.get("cancel_requested")),
        owner=doc.get("owner") or "",
        lease_until=float(doc.get("lease_until") or 0),
        created_at=float(doc["created_at"]),
        updated_at=float(doc["updated_at"]),
        started_at=_float_or_none(doc.get("started_at")),
        finished_at=_float_or_none(doc.get("finished_at")),
        mac=str(doc.get("mac") or ""),
        uid=str(doc.get("uid") or ""),
    )


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


def _float_or_none(value: Any) -> float | None:
    return None if value is None else float(value)


def open_store(*, db: Path, redis_url: str | None, sync: str = "full", key: bytes | None = None) -> JobStore:
    """`key` authenticates job records (`equitr.seal`); without one, this process's own random key."""
    return RedisStore(redis_url, key=key) if redis_url else SqliteStore(db, sync=sync, key=key)
