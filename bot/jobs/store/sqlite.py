"""Jobs in an SQLite file: the embedded default store (WAL; `synchronous=FULL` unless asked otherwise)."""

from __future__ import annotations

import json
import math
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from equitr.jobs import seal
from equitr.jobs.model import END_STATES, Job, NewJob, State, encode_args, new_row
from equitr.jobs.store import rules
from equitr.jobs.store.query import JobChoices, JobQuery, JobsFound, choices_of
from equitr.jobs.store.rows import job_from, parsed, parsed_record
from equitr.monitor.records import JobRecord
from equitr.sandbox.private import private_file

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
CREATE INDEX IF NOT EXISTS jobs_by_repo ON jobs (repo COLLATE NOCASE);
CREATE INDEX IF NOT EXISTS jobs_by_kind ON jobs (kind, repo COLLATE NOCASE);
CREATE INDEX IF NOT EXISTS jobs_by_created ON jobs (created_at);
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

_NAMES = tuple(name.strip() for name in _COLUMNS.split(","))
_SQL_PUT_REPORT = (
    "INSERT INTO outbox (job_id, report, tries, next_at) VALUES (?, ?, 0, ?) "
    "ON CONFLICT(job_id) DO UPDATE SET report=excluded.report, tries=0, next_at=excluded.next_at"
)


# One writer lock per database file and process. SQLite lets one transaction write at a time; threads that find
# the file locked wait in its busy handler, which sleeps in growing steps (up to 100 ms) and lets late comers
# through first: under 50 concurrent deliveries that made a p99 of 0.6–0.8 s. In a queue on this lock, threads
# take turns as they came; other processes on the file still meet the busy handler.
_WRITERS: dict[str, threading.RLock] = {}
_WRITERS_LOCK = threading.Lock()


def _writer(path: str) -> threading.RLock:
    with _WRITERS_LOCK:
        return _WRITERS.setdefault(path, threading.RLock())


class SqliteStore:
    """Jobs in an SQLite file (WAL; synchronous=FULL by default, so a committed job survives power loss).
    The file is private to equitr's user (0600): it holds issue text and job arguments."""

    def __init__(self, path: Path | str, *, sync: str = "full", key: bytes | None = None) -> None:
        self.path = str(path)
        self.sync = "NORMAL" if sync == "normal" else "FULL"
        self.key = rules.job_key(key)
        if self.path != ":memory:":
            private_file(Path(self.path))
        self._local = threading.local()
        self._writing = _writer(str(Path(self.path).resolve()) if self.path != ":memory:" else f":memory:{id(self)}")
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
        with self._writing:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _one_row(self, sql: str, params: tuple[object, ...]) -> bool:
        """One write in its own transaction: whether it changed exactly one row (the compare-and-set held)."""
        with self._tx() as db:
            return db.execute(sql, params).rowcount == 1

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

    def create(self, job: NewJob, keys: Sequence[str], *, message: rules.MessageFor | None = None) -> Job | None:
        """Store `job` unless one of its dedupe `keys` is known; with `message`, its queue message too, in the
        same transaction (one commit: the job and its message are durable together)."""
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
            row = message(job_id, Path(self.path)) if message is not None else None
            if row is not None:
                db.execute(*row)
        return new_row(job, job_id, now, mac=mac)

    def adopt(self, job: Job) -> Job | None:
        """Store an ended job recorded elsewhere (the Action's history, `equitr.action.history`), keeping its id when it
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
        return self._one_row("INSERT OR IGNORE INTO dedupe (key, created_at) VALUES (?, ?)", (key, time.time()))

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

    def find_jobs(self, query: JobQuery) -> JobsFound:
        """A page of the jobs `query` matches, newest first, and how many it matches: indexed SQL (jobs_by_repo,
        jobs_by_kind, jobs_by_state, jobs_by_created), never a read of every job."""
        where, params = _where(query)
        if where is None:
            return JobsFound([], 0)
        conn = self._conn()
        conn.execute("BEGIN")  # the page and its count from one snapshot
        try:
            total = int(conn.execute(f"SELECT COUNT(*) FROM jobs{where}", params).fetchone()[0])
            order = "id"
            if math.isfinite(query.since) or math.isfinite(query.until):
                # Walking the jobs newest first finds a page of a wide range at once, but crosses most of the
                # store for a narrow one: then `+id` leaves the order to a sort, and SQLite reads just the range
                # through jobs_by_created. For the walk, `+created_at` keeps SQLite off that index. Which one:
                # the rows each would read (the walk's as if the matches were spread evenly).
                newest = int(conn.execute("SELECT COALESCE(MAX(id), 0) FROM jobs").fetchone()[0])
                if (query.offset + query.limit) * newest > total * total:
                    order = "+id"
                else:
                    where, params = _where(query, created="+created_at")
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM jobs{where} ORDER BY {order} DESC LIMIT ? OFFSET ?",
                (*params, max(0, query.limit), max(0, query.offset)),
            ).fetchall()
        finally:
            conn.execute("COMMIT")
        return JobsFound([job for job in map(_row_to_job, rows) if query.admits(job)], total)

    def job_choices(self, visible: frozenset[str] | None) -> JobChoices:
        """The repositories and kinds with jobs, among those `visible` (None: all): a skip through the indexes,
        one step per distinct value."""
        conn = self._conn()
        names = {str(r[0]).lower(): str(r[0]) for r in conn.execute(_SQL_DISTINCT_REPOS)}
        if visible is not None:
            names = {low: name for low, name in names.items() if low in visible}
        kinds = {str(r[0]) for r in conn.execute(_SQL_DISTINCT_KINDS)}
        if visible is not None:
            wanted = json.dumps(sorted(names))
            kinds = {k for k in kinds if conn.execute(_SQL_KIND_IN_REPOS, (k, wanted)).fetchone() is not None}
        return choices_of(names, kinds)

    def claim(self, job_id: int, owner: str, lease_s: float) -> Job | None:
        now = time.time()
        with self._tx() as db:
            row = db.execute(f"SELECT {_COLUMNS} FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None or row[6] != "queued":
                return None
            found = parsed(_row_to_job, row)
            if found is None or not self.authentic(found):
                db.execute(
                    "UPDATE jobs SET state='failed', reason=?, updated_at=?, finished_at=? WHERE id=?",
                    (rules.REFUSED, now, now, job_id),
                )
                rules.log_refused(job_id, found)
                return None
            if found.attempts >= rules.MAX_ATTEMPTS:
                db.execute(
                    "UPDATE jobs SET state='failed', reason=?, updated_at=?, finished_at=? WHERE id=?",
                    (rules.GAVE_UP, now, now, job_id),
                )
                db.execute(_SQL_PUT_REPORT, (job_id, rules.GAVE_UP_REPORT, now))
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
                "UPDATE jobs SET state=?, reason=?, cost_usd=cost_usd+?, owner='', lease_until=0, updated_at=?, "
                "finished_at=? WHERE id=? AND owner=? AND state='running'",
                (state, reason, cost_usd, now, now, job_id, owner),
            )
            if cur.rowcount == 1 and report:
                db.execute(_SQL_PUT_REPORT, (job_id, report, now + rules.REPORT_HOLD_S))
            return cur.rowcount == 1

    def reports_due(self, now: float, limit: int = 20) -> list[rules.PendingReport]:
        rows = (
            self._conn()
            .execute(
                "SELECT job_id, report, tries, next_at FROM outbox WHERE next_at <= ? ORDER BY next_at LIMIT ?",
                (now, limit),
            )
            .fetchall()
        )
        return [rules.PendingReport(*row) for row in rows]

    def take_report(self, job_id: int, seen_next_at: float, until: float) -> bool:
        """Hold a due report for one deliverer (compare-and-set on its time), so that two never post it."""
        return self._one_row("UPDATE outbox SET next_at=? WHERE job_id=? AND next_at=?", (until, job_id, seen_next_at))

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
        return self._one_row(
            "UPDATE jobs SET state='queued', owner='', lease_until=0, updated_at=? "
            "WHERE id=? AND state IN ('running', 'queued') AND owner=?",
            (time.time(), job_id, owner),
        )

    def release(self, job_id: int, owner: str, *, hold_until: float = 0.0, cost_usd: float = 0.0) -> bool:
        """Hand a running job back to the queue (at shutdown, or parked until a rate limit resets): `queued`
        again, and its attempt not counted (a deploy is not a crash, so three restarts never make a job give
        up). The sweeper leaves it alone until `hold_until` (its message is scheduled for then). `cost_usd`,
        what the attempt paid for models, is added to the job's cost: the next attempt does not pay it back."""
        return self._one_row(
            "UPDATE jobs SET state='queued', owner='', lease_until=0, attempts=MAX(attempts-1, 0), "
            "cost_usd=cost_usd+?, updated_at=? WHERE id=? AND state='running' AND owner=?",
            (cost_usd, max(time.time(), hold_until), job_id, owner),
        )

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
                (now - rules.RECORD_TTL_S,),
            )
            db.execute("DELETE FROM metrics_folded WHERE at < ?", (now - rules.RECORD_TTL_S,))
            return db.execute("DELETE FROM dedupe WHERE created_at < ?", (now - rules.DEDUPE_TTL_S,)).rowcount

    # -- the monitor's records (equitr.monitor.records) --

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
        return parsed_record(row[0]) if row else None

    def add_metrics(self, job_id: int, inc: Mapping[str, float], set_to: Mapping[str, float]) -> bool:
        """Add a job's share to the stored metrics (`equitr.jobs.metrics`), once per job: False when already added."""
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
            record = parsed_record(row[-1])
            if record is not None:
                out.append((_row_to_job(row[:-1]), record))
        return out


# Loose index scans: each step seeks the next distinct value, so a store of 100,000 jobs on 20 repositories
# takes 20 steps.
_SQL_DISTINCT_REPOS = """
WITH RECURSIVE r(name) AS (
    SELECT (SELECT repo FROM jobs ORDER BY repo COLLATE NOCASE LIMIT 1)
    UNION ALL
    SELECT (SELECT repo FROM jobs WHERE repo > r.name COLLATE NOCASE ORDER BY repo COLLATE NOCASE LIMIT 1)
    FROM r WHERE r.name IS NOT NULL
) SELECT name FROM r WHERE name IS NOT NULL
"""
_SQL_DISTINCT_KINDS = """
WITH RECURSIVE k(kind) AS (
    SELECT (SELECT MIN(kind) FROM jobs)
    UNION ALL
    SELECT (SELECT MIN(kind) FROM jobs WHERE kind > k.kind) FROM k WHERE k.kind IS NOT NULL
) SELECT kind FROM k WHERE kind IS NOT NULL
"""
_SQL_KIND_IN_REPOS = (
    "SELECT 1 FROM jobs WHERE kind = ? AND repo COLLATE NOCASE IN (SELECT value FROM json_each(?)) LIMIT 1"
)


def _where(query: JobQuery, *, created: str = "created_at") -> tuple[str | None, tuple[object, ...]]:
    """The WHERE clause of `query` and its parameters; None when it can match nothing (no visible repository).
    `created`: how the date range names the column (`+created_at`: not through its index)."""
    repos = query.repos()
    if repos is not None and not repos:
        return None, ()
    where: list[str] = []
    params: list[object] = []
    if repos is not None and len(repos) == 1:
        where.append("repo = ? COLLATE NOCASE")
        params.append(next(iter(repos)))
    elif repos is not None:  # one parameter however many repositories someone may see
        where.append("repo COLLATE NOCASE IN (SELECT value FROM json_each(?))")
        params.append(json.dumps(sorted(repos)))
    for column, value in (("kind", query.kind), ("state", query.state)):
        if value:
            where.append(f"{column} = ?")
            params.append(value)
    if math.isfinite(query.since):
        where.append(f"{created} >= ?")
        params.append(query.since)
    if math.isfinite(query.until):
        where.append(f"{created} < ?")
        params.append(query.until)
    return (" WHERE " + " AND ".join(where) if where else ""), tuple(params)


def _row_to_job(row: tuple[Any, ...]) -> Job:
    return job_from(dict(zip(_NAMES, row, strict=True)))
