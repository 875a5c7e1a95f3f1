"""Which structured-output mode a (server, model) pair honours, and whether it calls tools natively,
probed once and remembered.

Modes, in order of preference:
    json_schema   OpenAI style `response_format: {"type": "json_schema", "json_schema": {...}}`
    json_object   llama-cpp-python style `{"type": "json_object", "schema": {...}}` (grammar from the schema)
    none          free text; the interpretation layer repairs whatever comes back

A server that accepts the parameter but ignores it (or a thinking model whose reasoning breaks the
grammar) fails the probe's conformance check and ends up as `none` — that is the point of probing
rather than trusting documentation. Results live in memory and in a small JSON file (`capabilities.json` in
the work directory for `equitr serve`, `worker`, `action` and `run`: `default_file`), so that neither a restart
nor the other workers on the machine probe again.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar

from equitr.errors import ConfigError
from equitr.models.types import ToolCall
from equitr.sandbox.private import private_dir

log = logging.getLogger(__name__)
V = TypeVar("V")

Mode = Literal["json_schema", "json_object", "none"]
MODES: tuple[Mode, ...] = ("json_schema", "json_object", "none")
CAPABILITY_FILE = "capabilities.json"


def default_file(workdir: Path | None) -> Path:
    """Where the processes of one machine keep what they probed: in the work directory (`EQUITR_WORKDIR`, else
    `equitr-work` in the temporary directory, as the checkouts), beside the mirrors and job checkouts."""
    return (workdir or Path(tempfile.gettempdir()) / "equitr-work") / CAPABILITY_FILE

# Deliberately tiny. The prompt asks for prose on purpose: a server that ignores `response_format` gets
# a sentence back, and only one that enforces the schema (grammar, constrained decoding) yields the object.
PROBE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"ok": {"type": "boolean"}},
    "required": ["ok"],
    "additionalProperties": False,
}
PROBE_PROMPT = "In one short sentence: is water wet?"
PROBE_MAX_TOKENS = 24


# Native tool calling is probed the same way: one tool, a prompt that asks for it, and only a reply that
# carries a real tool call (not a call written as text) passes.
TOOL_PROBE: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "record_answer",
        "description": "Record the answer to the question.",
        "parameters": {
            "type": "object",
            "properties": {"ok": {"type": "boolean"}},
            "required": ["ok"],
        },
    },
}
TOOL_PROBE_PROMPT = "Is water wet? Answer by calling the tool record_answer."
TOOL_PROBE_MAX_TOKENS = 64


def tool_probe_passed(calls: Sequence[ToolCall]) -> bool:
    """Whether a probe reply holds a native call of `record_answer` with a boolean `ok`."""
    for call in calls:
        if call.name != "record_answer":
            continue
        try:
            args = json.loads(call.arguments or "{}")
        except ValueError:
            return False
        return isinstance(args, dict) and isinstance(args.get("ok"), bool)
    return False


def conforms(text: str) -> bool:
    """Whether a probe reply is exactly an object with one boolean `ok` — no prose, no thinking."""
    try:
        data = json.loads(text)
    except ValueError:
        return False
    return isinstance(data, dict) and set(data) == {"ok"} and isinstance(data["ok"], bool)


def response_format(mode: Mode, schema: dict[str, Any], *, name: str = "reply") -> dict[str, Any] | None:
    """The OpenAI-compatible `response_format` value for `mode`, or None for free text."""
    if mode == "json_schema":
        return {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": False}}
    if mode == "json_object":
        return {"type": "json_object", "schema": schema}
    return None


class CapabilityCache:
    """(base_url, model) → Mode, in memory and optionally persisted as JSON at `path`, which several processes
    may share: a miss reads the file again (another worker may have probed meanwhile), and a write merges with
    what the file holds under a lock, written to a temporary file and renamed. A file that cannot be read or
    written is logged and costs a probe, never the job."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._modes: dict[str, tuple[Mode, int]] = {}  # key → (mode, unix time probed)
        self._tools: dict[str, tuple[bool, int]] = {}  # key → (calls tools natively, unix time probed)
        self._warned = False
        self._reload()

    @staticmethod
    def key(base_url: str, model: str) -> str:
        return f"{base_url.rstrip('/')}|{model}"

    def get(self, base_url: str, model: str) -> Mode | None:
        key = self.key(base_url, model)
        if key not in self._modes:
            self._reload()
        found = self._modes.get(key)
        return found[0] if found else None

    def set(self, base_url: str, model: str, mode: Mode) -> None:
        with self._lock:
            self._modes[self.key(base_url, model)] = (mode, int(time.time()))
            self._save()

    def get_tools(self, base_url: str, model: str) -> bool | None:
        key = self.key(base_url, model)
        if key not in self._tools:
            self._reload()
        found = self._tools.get(key)
        return found[0] if found else None

    def set_tools(self, base_url: str, model: str, supported: bool) -> None:
        with self._lock:
            self._tools[self.key(base_url, model)] = (supported, int(time.time()))
            self._save()

    def _reload(self) -> None:
        """Take in what the file holds (newer entries win)."""
        if self.path is None:
            return
        modes, tools = self._read()
        with self._lock:
            _merge(self._modes, modes)
            _merge(self._tools, tools)

    def _read(self) -> tuple[dict[str, tuple[Mode, int]], dict[str, tuple[bool, int]]]:
        assert self.path is not None
        try:
            return _parse(self.path.read_text())
        except FileNotFoundError:
            return {}, {}
        except (OSError, ValueError, TypeError, KeyError) as exc:
            self._warn("cannot be read", exc)
            return {}, {}

    def _save(self) -> None:
        """Merge into the file and write it (the caller holds `_lock`)."""
        if self.path is None:
            return
        try:
            private_dir(self.path.parent)
            with _file_lock(self.path):
                modes, tools = self._read()
                _merge(self._modes, modes)
                _merge(self._tools, tools)
                _write(self.path, self._modes, self._tools)
        except (OSError, ConfigError) as exc:
            self._warn("cannot be written", exc)

    def _warn(self, what: str, exc: Exception) -> None:
        if not self._warned:  # once per process: a broken file must not flood the log
            self._warned = True
            log.warning(
                "the model capability cache %s %s (%s: %s); models are probed again as needed",
                self.path,
                what,
                type(exc).__name__,
                exc,
            )


async def remembered(
    cache: CapabilityCache,
    locks: dict[str, asyncio.Lock],
    base_url: str,
    model: str,
    probe: Callable[[], Awaitable[Mode]],
) -> Mode:
    """The cached mode for (base_url, model), probing once the first time; concurrent first calls share
    one probe. `locks` belongs to the calling client, which lives on its job's one event loop, while the
    cache is the process's, shared by worker threads that each run their jobs on loops of their own (an
    asyncio lock belongs to one loop). Two loops probing at the same moment both probe, harmlessly."""
    cached = cache.get(base_url, model)
    if cached is not None:
        return cached
    async with locks.setdefault(model, asyncio.Lock()):
        cached = cache.get(base_url, model)
        if cached is None:
            cached = await probe()
            cache.set(base_url, model, cached)
        return cached


async def remembered_tools(
    cache: CapabilityCache,
    locks: dict[str, asyncio.Lock],
    base_url: str,
    model: str,
    probe: Callable[[], Awaitable[bool]],
) -> bool:
    """Like `remembered`, for native tool calling."""
    cached = cache.get_tools(base_url, model)
    if cached is not None:
        return cached
    async with locks.setdefault(f"{model}|tools", asyncio.Lock()):
        cached = cache.get_tools(base_url, model)
        if cached is None:
            cached = await probe()
            cache.set_tools(base_url, model, cached)
        return cached


def _merge(into: dict[str, tuple[V, int]], other: dict[str, tuple[V, int]]) -> None:
    """Entries of `other` that `into` lacks or has older (by the time probed)."""
    for key, entry in other.items():
        if key not in into or entry[1] > into[key][1]:
            into[key] = entry


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """Between processes writing the same cache (a lock file beside it: the cache itself is replaced)."""
    fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _parse(text: str) -> tuple[dict[str, tuple[Mode, int]], dict[str, tuple[bool, int]]]:
    """A cache file's entries; ValueError when it is not one."""
    raw = json.loads(text)
    if not isinstance(raw, dict):
        raise ValueError("not a JSON object")
    entries = raw.get("modes", {}) if isinstance(raw.get("modes"), dict) else {}
    tools = raw.get("tools", {}) if isinstance(raw.get("tools"), dict) else {}
    return (
        {
            k: (v["mode"], int(v.get("probed_at", 0)))
            for k, v in entries.items()
            if isinstance(v, dict) and v.get("mode") in MODES
        },
        {
            k: (v["supported"], int(v.get("probed_at", 0)))
            for k, v in tools.items()
            if isinstance(v, dict) and isinstance(v.get("supported"), bool)
        },
    )


def _write(path: Path, modes: dict[str, tuple[Mode, int]], tools: dict[str, tuple[bool, int]]) -> None:
    doc = {
        "version": 1,
        "modes": {k: {"mode": m, "probed_at": t} for k, (m, t) in sorted(modes.items())},
        "tools": {k: {"supported": s, "probed_at": t} for k, (s, t) in sorted(tools.items())},
    }
    # Write-then-rename so a crash never leaves half a file for the next start (nor a reader half of one).
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(doc, fh, indent=1)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
