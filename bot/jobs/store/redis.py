"""Jobs in Redis, for several `equitr worker` machines sharing one queue: each job is one JSON document, and
every state change is a Lua script (below), so it is atomic across workers."""

from __future__ import annotations

import json
import logging
import math
import secrets
import time
from collections.abc import Mapping, Sequence
from typing import Any, get_args

from equitr.errors import StoreLost
from equitr.jobs import seal
from equitr.jobs.model import END_STATES, Job, NewJob, State, new_row
from equitr.jobs.store import rules
from equitr.jobs.store.query import JobChoices, JobQuery, JobsFound, choices_of
from equitr.jobs.store.rows import doc_to_job, job_doc, parsed, parsed_record
from equitr.monitor.records import JobRecord

log = logging.getLogger(__name__)

# A Redis that stops answering (frozen, partitioned) fails a call within seconds instead of never: the webhook
# answers 503 (GitHub redelivers) and `/healthz` says so. Longer than huey's 1 s blocking pop.
REDIS_TIMEOUTS: dict[str, Any] = {"socket_timeout": 3.0, "socket_connect_timeout": 2.0, "health_check_interval": 30}

# The dashboard's indexes (`find_jobs`, `job_choices`), written by the same scripts as the jobs they index:
# sorted sets of job ids (scored by id) per repository (lower-cased), kind and state, and one of every job
# scored by its creation time; a hash of the repositories' spellings and sets of the kinds per repository.
_LUA_INDEX_JOB = """
local function index_job(p, id, job, repo)
  redis.call('ZADD', p .. 'jobs:repo:' .. repo, id, id)
  redis.call('ZADD', p .. 'jobs:kind:' .. job['kind'], id, id)
  redis.call('ZADD', p .. 'jobs:state:' .. job['state'], id, id)
  redis.call('ZADD', p .. 'jobs:created', job['created_at'], id)
  redis.call('HSETNX', p .. 'repos', repo, job['repo'])
  redis.call('SADD', p .. 'kinds:' .. repo, job['kind'])
  redis.call('SADD', p .. 'kinds', job['kind'])
end
"""

# Each job is one JSON document; every state change is a Lua script, so it is atomic across workers.
_LUA_CREATE = _LUA_INDEX_JOB + """
if redis.call('GET', ARGV[1] .. 'epoch') ~= ARGV[4] then return -1 end
for i, key in ipairs(KEYS) do
  if i > 1 and redis.call('EXISTS', key) == 1 then return 0 end
end
local id = redis.call('INCR', ARGV[1] .. 'seq')
local job = cjson.decode(ARGV[2])
job['id'] = id
local doc = cjson.encode(job)
redis.call('SET', ARGV[1] .. 'job:' .. id, doc)
redis.call('ZADD', KEYS[1], id, id)
redis.call('SADD', ARGV[1] .. 'active', id)
-- indexed as stored: cjson keeps 14 significant digits of created_at, and a date range must cut the index
-- where it cuts the documents
index_job(ARGV[1], id, cjson.decode(doc), ARGV[5])
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
local was = job['state']
local function restate()  -- KEYS[5] is the prefix of the per-state index
  if job['state'] ~= was then
    redis.call('ZREM', KEYS[5] .. was, job['id'])
    redis.call('ZADD', KEYS[5] .. job['state'], job['id'], job['id'])
  end
end
if op == 'claim' then
  if job['state'] ~= 'queued' then return nil end
  if job['attempts'] >= tonumber(ARGV[5]) then
    job['state'] = 'failed'; job['reason'] = ARGV[6]; job['finished_at'] = now; job['updated_at'] = now
    redis.call('SET', KEYS[1], cjson.encode(job)); redis.call('SREM', KEYS[2], job['id'])
    redis.call('HSET', KEYS[3], job['id'], ARGV[7]); redis.call('ZADD', KEYS[4], now, job['id'])
    restate()
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
  job['state'] = ARGV[4]; job['reason'] = ARGV[5]
  job['cost_usd'] = (tonumber(job['cost_usd']) or 0) + tonumber(ARGV[6])  -- with what attempts handed back paid
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
  job['cost_usd'] = (tonumber(job['cost_usd']) or 0) + tonumber(ARGV[5])
  now = math.max(now, tonumber(ARGV[4]))
end
job['updated_at'] = now
restate()
local out = cjson.encode(job)
redis.call('SET', KEYS[1], out)
return out
"""

# Indexes the jobs of stores written before the indexes existed (once, at start-up; see `_index_old_jobs`).
# ARGV: prefix, the number of states, the states, then (job id, lower-cased repository) pairs.
_LUA_INDEX_OLD = _LUA_INDEX_JOB + """
local p, n = ARGV[1], tonumber(ARGV[2])
for i = 3 + n, #ARGV, 2 do
  local raw = redis.call('GET', p .. 'job:' .. ARGV[i])
  if raw then
    local job = cjson.decode(raw)
    local id = tonumber(ARGV[i])
    for s = 3, 2 + n do
      if ARGV[s] ~= job['state'] then redis.call('ZREM', p .. 'jobs:state:' .. ARGV[s], id) end
    end
    index_job(p, id, job, ARGV[i + 1])
  end
end
return 1
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
        self.key = rules.job_key(key)
        self.redis = redis.Redis.from_url(url, **REDIS_TIMEOUTS)
        self._create = self.redis.register_script(_LUA_CREATE)
        self._update = self.redis.register_script(_LUA_UPDATE)
        self._take = self.redis.register_script(_LUA_TAKE_REPORT)
        self._add_metrics = self.redis.register_script(_LUA_ADD_METRICS)
        self._index_old = self.redis.register_script(_LUA_INDEX_OLD)
        self.redis.set(f"{prefix}epoch", secrets.token_hex(16), nx=True)
        epoch = self.redis.get(f"{prefix}epoch")
        self.epoch = epoch.decode() if isinstance(epoch, bytes) else str(epoch)
        self._index_old_jobs()

    def _index_old_jobs(self) -> None:
        """Index the jobs of a store from before the dashboard's indexes (once; the marker says it was done).
        Each batch is one script, so a job that changes state meanwhile is indexed in its state of the moment."""
        marker = f"{self.prefix}jobs:indexed"
        if self.redis.exists(marker):
            return
        states = list(get_args(State))
        start, batch = 0, 500
        while ids := [int(i) for i in self.redis.zrange(f"{self.prefix}jobs", start, start + batch - 1)]:
            start += batch
            pairs: list[Any] = []
            for job_id, raw in zip(ids, self.redis.mget([self._key(i) for i in ids]), strict=True):
                if raw is not None:
                    pairs += [job_id, str(json.loads(raw).get("repo", "")).lower()]
            self._index_old(args=[self.prefix, len(states), *states, *pairs])
        self.redis.set(marker, 1)

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

    def create(self, job: NewJob, keys: Sequence[str], *, message: rules.MessageFor | None = None) -> Job | None:
        """Store `job` unless one of its dedupe `keys` is known. `message` is not used: the queue's messages are
        not SQL rows here, and the caller enqueues after this returns."""
        now = time.time()
        mac = seal.job_mac(self.key, job)
        doc = job_doc(new_row(job, 0, now, mac=mac))
        job_id = int(
            self._create(
                keys=[f"{self.prefix}jobs", *(f"{self.prefix}dedupe:{k}" for k in keys)],
                args=[self.prefix, json.dumps(doc), rules.DEDUPE_TTL_S, self.epoch, job.repo.lower()],
            )
        )
        if job_id < 0:
            self.check()
            raise StoreLost("Redis lost equitr's job store while equitr was running; restart equitr.")
        return new_row(job, job_id, now, mac=mac) if job_id else None

    def seen(self, key: str) -> bool:
        return bool(self.redis.exists(f"{self.prefix}dedupe:{key}"))

    def remember(self, key: str) -> bool:
        return bool(self.redis.set(f"{self.prefix}dedupe:{key}", 1, nx=True, ex=rules.DEDUPE_TTL_S))

    def get(self, job_id: int) -> Job | None:
        raw = self.redis.get(self._key(job_id))
        return doc_to_job(raw) if raw else None

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
                job = doc_to_job(raw)
                if (repo is None or job.repo == repo) and (number is None or job.number == number):
                    out.append(job)
        return out if limit is None else out[:limit]

    def find_jobs(self, query: JobQuery) -> JobsFound:
        """A page of the jobs `query` matches, newest first, and how many it matches, from the indexes: the sets
        of the query's repositories, kind and state intersected (and the creation-time index cut to the date
        range) in one transaction on temporary keys; then only the page's documents are read."""
        repos = query.repos()
        if repos is not None and not repos:
            return JobsFound([], 0)
        p, tmp = self.prefix, f"{self.prefix}query:{secrets.token_hex(8)}"
        pipe = self.redis.pipeline(transaction=True)
        sets = []  # sorted sets of job ids, scored by id
        if repos is not None and len(repos) == 1:
            sets.append(f"{p}jobs:repo:{next(iter(repos))}")
        elif repos is not None:
            pipe.zunionstore(f"{tmp}:repos", [f"{p}jobs:repo:{r}" for r in sorted(repos)], aggregate="MAX")
            sets.append(f"{tmp}:repos")
        sets += [f"{p}jobs:{name}:{value}" for name, value in (("kind", query.kind), ("state", query.state)) if value]
        source = sets[0] if len(sets) == 1 else f"{p}jobs"
        first, size = max(0, query.offset), max(0, query.limit)
        dated = math.isfinite(query.since) or math.isfinite(query.until)
        low, high = repr(query.since), f"({query.until!r}"  # [since, until)
        if dated and not sets:
            # Only a date range: read the creation-time index directly (newest first by creation time, the id
            # order but for jobs two workers stored in the same instant), without copying it.
            pipe.zcount(f"{p}jobs:created", low, high)
            pipe.zrevrangebyscore(f"{p}jobs:created", high, low, start=first, num=max(size, 1))
            total, ids = pipe.execute()
            return self._page(query, int(total), ids[:size])
        if dated:
            # Scored by creation time to cut the range, then by id again for the order.
            pipe.zinterstore(f"{tmp}:dated", {**dict.fromkeys(sets, 0), f"{p}jobs:created": 1})
            if math.isfinite(query.since):
                pipe.zremrangebyscore(f"{tmp}:dated", "-inf", f"({low}")
            if math.isfinite(query.until):
                pipe.zremrangebyscore(f"{tmp}:dated", repr(query.until), "+inf")
            pipe.zinterstore(tmp, {f"{tmp}:dated": 0, f"{p}jobs": 1})
            source = tmp
        elif len(sets) > 1:
            pipe.zinterstore(tmp, dict.fromkeys(sets, 1), aggregate="MAX")
            source = tmp
        pipe.zcard(source)
        pipe.zrevrange(source, first, first + max(size, 1) - 1)  # (a stop of -1 would mean the last one)
        pipe.delete(tmp, f"{tmp}:repos", f"{tmp}:dated")
        answers = pipe.execute()
        return self._page(query, int(answers[-3]), answers[-2][:size])

    def _page(self, query: JobQuery, total: int, ids: list[Any]) -> JobsFound:
        """The page's documents, each checked against the query once more."""
        docs = self.redis.mget([self._key(int(i)) for i in ids]) if ids else []
        jobs = [doc_to_job(raw) for raw in docs if raw is not None]
        return JobsFound([job for job in jobs if query.admits(job)], total)

    def job_choices(self, visible: frozenset[str] | None) -> JobChoices:
        """The repositories and kinds with jobs, among those `visible` (None: all), from their own small indexes."""
        names = {_text(k): _text(v) for k, v in self.redis.hgetall(f"{self.prefix}repos").items()}
        if visible is None:
            kinds = self.redis.smembers(f"{self.prefix}kinds")
        else:
            names = {low: name for low, name in names.items() if low in visible}
            kinds = self.redis.sunion([f"{self.prefix}kinds:{r}" for r in sorted(names)]) if names else set()
        return choices_of(names, {_text(k) for k in kinds})

    def _keys(self, job_id: int) -> list[str]:
        return [
            self._key(job_id),
            f"{self.prefix}active",
            f"{self.prefix}outbox",
            f"{self.prefix}outbox:due",
            f"{self.prefix}jobs:state:",
        ]

    def _op(self, job_id: int, op: str, owner: str, *extra: Any) -> Job | None:
        raw = self._update(keys=self._keys(job_id), args=[op, owner, time.time(), *extra])
        return doc_to_job(raw) if raw else None

    def claim(self, job_id: int, owner: str, lease_s: float) -> Job | None:
        keys = self._keys(job_id)
        args = ["claim", owner, time.time(), lease_s, rules.MAX_ATTEMPTS, rules.GAVE_UP, rules.GAVE_UP_REPORT]
        raw = self._update(keys=keys, args=args)
        if not raw:
            return None
        job = parsed(doc_to_job, raw)
        if job is None or not self.authentic(job):
            self._update(keys=keys, args=["finish", owner, time.time(), "failed", rules.REFUSED, 0])
            rules.log_refused(job_id, job)
            return None
        return job

    def heartbeat(self, job_id: int, owner: str, lease_s: float) -> Job | None:
        return self._op(job_id, "heartbeat", owner, lease_s)

    def finish(
        self, job_id: int, owner: str, state: State, reason: str = "", cost_usd: float = 0.0, *, report: str = ""
    ) -> bool:
        assert state in END_STATES
        return self._op(job_id, "finish", owner, state, reason, cost_usd, report, rules.REPORT_HOLD_S) is not None

    # The outbox: a hash job id → report, a sorted set job id → when to try next, and a try counter.
    def reports_due(self, now: float, limit: int = 20) -> list[rules.PendingReport]:
        ids = self.redis.zrangebyscore(f"{self.prefix}outbox:due", "-inf", now, start=0, num=limit, withscores=True)
        out: list[rules.PendingReport] = []
        for raw_id, score in ids:
            job_id = int(raw_id)
            report = self.redis.hget(f"{self.prefix}outbox", str(job_id))
            if report is None:
                continue
            tries = int(self.redis.hget(f"{self.prefix}outbox:tries", str(job_id)) or 0)
            text = report.decode() if isinstance(report, bytes) else report
            out.append(rules.PendingReport(job_id, text, tries, score))
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

    def release(self, job_id: int, owner: str, *, hold_until: float = 0.0, cost_usd: float = 0.0) -> bool:
        return self._op(job_id, "release", owner, hold_until, cost_usd) is not None

    def active(self) -> list[Job]:
        ids = sorted(int(i) for i in self.redis.smembers(f"{self.prefix}active"))
        if not ids:
            return []
        # One round trip (a scrape of /metrics and every /healthz read this).
        return [doc_to_job(raw) for raw in self.redis.mget([self._key(i) for i in ids]) if raw]

    def record_installation(self, installation_id: int, account: str, action: str, repos: list[str]) -> None:
        doc = {"id": installation_id, "account": account, "action": action, "repos": repos, "updated_at": time.time()}
        self.redis.hset(f"{self.prefix}installations", str(installation_id), json.dumps(doc))

    def installations(self) -> list[dict[str, Any]]:
        return [json.loads(v) for v in self.redis.hvals(f"{self.prefix}installations")]

    def prune(self, now: float | None = None) -> int:
        # Redis expires dedupe keys and job records by itself (EX on every key); the sweeper's minute is a
        # good time to notice that Redis lost everything, and to drop the index entries of expired records.
        self._lost()
        cutoff = (time.time() if now is None else now) - rules.RECORD_TTL_S
        self.redis.zremrangebyscore(f"{self.prefix}records:at", "-inf", cutoff)
        return 0

    # -- the monitor's records (equitr.monitor.records): `{prefix}record:{id}` (expiring), indexed by job id --

    def _record_key(self, job_id: int) -> str:
        return f"{self.prefix}record:{job_id}"

    def save_record(self, job_id: int, record: JobRecord) -> None:
        text = record.to_json()  # bounded and redacted
        pipe = self.redis.pipeline()
        pipe.set(self._record_key(job_id), text, ex=rules.RECORD_TTL_S)
        pipe.zadd(f"{self.prefix}records", {str(job_id): job_id})
        pipe.zadd(f"{self.prefix}records:at", {str(job_id): time.time()})
        pipe.execute()

    def record(self, job_id: int) -> JobRecord | None:
        raw = self.redis.get(self._record_key(job_id))
        return parsed_record(raw) if raw else None

    def add_metrics(self, job_id: int, inc: Mapping[str, float], set_to: Mapping[str, float]) -> bool:
        """Add a job's share to the stored metrics (`equitr.jobs.metrics`), once per job: False when already added."""
        args: list[Any] = [rules.RECORD_TTL_S, len(inc)]
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
                job = doc_to_job(raw_job)
                if job.created_at < since:
                    older += 1
                    continue
                record = parsed_record(raw)
                if record is not None and (repo is None or job.repo == repo):
                    out.append((job, record))
            if older == len(ids):  # ids grow with time: a page entirely before `since` ends the walk
                break
        return out[:limit]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
