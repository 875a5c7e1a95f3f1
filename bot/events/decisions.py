"""What an event asks of equitr, decided by pure functions in the feature modules.

A `Trigger` becomes a job once the requester is authorised; a `Notice` is a one-off reply (usage help for a
mistyped command, the polite refusal) that is not a job. `Installation` records an event that needs no work
but is worth remembering; `Ignored` says why an event that looks like work is not (a replay, say).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from equitr.errors import MalformedPayload


@dataclass(frozen=True, slots=True)
class Trigger:
    kind: str
    repo: str
    number: int
    requester: str
    installation_id: int | None
    needs_permission: bool
    comment_id: int | None = None
    is_pull_request: bool = False
    dedupe_keys: tuple[str, ...] = ()
    args: dict[str, Any] = field(default_factory=dict)
    # A label trigger: work only if this is the repository's trigger label (`[trigger] label`).
    label: str | None = None
    default_branch: str | None = None  # where that setting is read from


@dataclass(frozen=True, slots=True)
class Notice:
    repo: str
    number: int
    requester: str
    installation_id: int | None
    body: str
    needs_permission: bool = True


@dataclass(frozen=True, slots=True)
class Installation:
    installation_id: int
    account: str
    action: str
    repos: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Ignored:
    reason: str


Decision = Trigger | Notice | Installation | Ignored


@dataclass(frozen=True, slots=True)
class Identity:
    """Who equitr itself is on GitHub: its own comments never trigger it, and only what it wrote itself is
    trusted to carry its markers (anyone can paste `<!-- equitr:answer:… -->` into a comment)."""

    app_id: int | None = None
    logins: frozenset[str] = frozenset({"equitr[bot]"})  # lower case

    def wrote(self, item: Mapping[str, Any]) -> bool:
        """Whether a comment or review was written by equitr: through its App (`performed_via_github_app`),
        or by its own login (`<slug>[bot]`, the token's user, `github-actions[bot]` in the Action)."""
        via = item.get("performed_via_github_app")
        if self.app_id is not None and isinstance(via, Mapping) and via.get("id") == self.app_id:
            return True
        user = item.get("user")
        login = str(user.get("login") or "").lower() if isinstance(user, Mapping) else ""
        return bool(login) and login in self.logins


class Fields:
    """Typed reads of a webhook payload, for the pure decisions of the feature routers.

    A field that is absent or `null` reads as missing (None, an empty object, an empty list); a field of a type
    GitHub never sends raises MalformedPayload naming it (`pull_request.user is a string, not an object`), so a
    malformed delivery is a 400 with a reason, never an AttributeError deep in a router. Text must be valid
    Unicode (no lone surrogates) and ids must fit the job store, so nothing malformed reaches it.
    """

    __slots__ = ("_data", "_path")

    def __init__(self, data: Mapping[str, Any] | None, path: str = "") -> None:
        self._data: Mapping[str, Any] = data or {}
        self._path = path

    def __bool__(self) -> bool:
        return bool(self._data)

    def _where(self, key: str) -> str:
        return f"{self._path}.{key}" if self._path else key

    def _typed(self, key: str, kinds: type | tuple[type, ...], what: str) -> Any:
        value = self._data.get(key)
        if value is None:
            return None
        if isinstance(value, bool) and bool not in (kinds if isinstance(kinds, tuple) else (kinds,)):
            raise MalformedPayload(f"`{self._where(key)}` is a boolean, not {what}")
        if not isinstance(value, kinds):
            raise MalformedPayload(f"`{self._where(key)}` is {_json_type(value)}, not {what}")
        return value

    def obj(self, key: str) -> Fields:
        return Fields(self._typed(key, dict, "an object"), self._where(key))

    def objs(self, key: str) -> list[Fields]:
        items = self._typed(key, list, "a list") or []
        where = self._where(key)
        out = []
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                raise MalformedPayload(f"`{where}[{index}]` is {_json_type(item)}, not an object")
            out.append(Fields(item, f"{where}[{index}]"))
        return out

    def text(self, key: str) -> str | None:
        value: str | None = self._typed(key, str, "a string")
        if value is not None:
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise MalformedPayload(f"`{self._where(key)}` is not valid Unicode text") from None
        return value

    def number(self, key: str) -> int | None:
        value: int | None = self._typed(key, int, "a number")
        if value is not None and not 0 <= value <= MAX_ID:
            raise MalformedPayload(f"`{self._where(key)}` is out of range")
        return value

    def time(self, key: str) -> dt.datetime | None:
        """An ISO 8601 time as GitHub writes it (`2026-11-21T10:00:00Z`)."""
        value = self.text(key)
        if value is None:
            return None
        when = parse_time(value)
        if when is None:
            raise MalformedPayload(f"`{self._where(key)}` is not a time")
        return when

    def flag(self, key: str) -> bool:
        return bool(self._typed(key, bool, "true or false"))

    def has(self, key: str) -> bool:
        return self._data.get(key) is not None


MAX_ID = 2**53  # GitHub's ids and numbers are far below; the job store's integers are 64-bit
_REPO = re.compile(r"^[A-Za-z0-9_.-]{1,100}/[A-Za-z0-9_.-]{1,100}$")


def parse_time(value: object) -> dt.datetime | None:
    """A GitHub timestamp as an aware datetime, or None when it is not one."""
    if not isinstance(value, str):
        return None
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=dt.UTC)


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    return {dict: "an object", list: "a list", str: "a string", int: "a number", float: "a number"}.get(
        type(value), type(value).__name__
    )


def is_from_bot(payload: Fields, identity: Identity) -> bool:
    """Bots and equitr's own App never start work (loop guard)."""
    sender = payload.obj("sender")
    if sender.text("type") == "Bot" or (sender.text("login") or "").lower() in identity.logins:
        return True
    comment = payload.obj("comment")
    if comment.obj("user").text("type") == "Bot":
        return True
    return is_equitr(comment, identity)


def is_equitr(item: Fields, identity: Identity) -> bool:
    """Whether a comment or pull request was made by equitr itself (its App, or one of its logins)."""
    via = item.obj("performed_via_github_app")
    if identity.app_id is not None and via.number("id") == identity.app_id:
        return True
    return (item.obj("user").text("login") or "").lower() in identity.logins


def repo_name(payload: Fields) -> str | None:
    name = payload.obj("repository").text("full_name")
    if name is None:
        return None
    if not _REPO.match(name):
        raise MalformedPayload("`repository.full_name` is not OWNER/NAME")
    return name


def installation_id(payload: Fields) -> int | None:
    return payload.obj("installation").number("id")
