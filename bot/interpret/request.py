"""What a user's request names: files, identifiers, quoted text, and whether it asks for history or tests.

Shared by the keyword fallback planner and the relevance check; pure string analysis.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


def _words(text: str) -> list[str]:
    return text.split()


_EXT = _words(
    "py pyi pyx md rst txt toml yaml yml json cfg ini js jsx mjs cjs ts tsx go rs java kt kts c h cc cpp hpp "
    "cs rb php swift sh bash zsh html htm css scss sql xml gradle vue svelte lua scala ex exs erl hs ml dart tf "
    "proto lock csv env ipynb graphql sol zig nim r jl pl"
)
_BARE_FILES = frozenset(
    _words("Makefile Dockerfile Procfile Gemfile Rakefile Justfile LICENSE CHANGELOG README Pipfile Vagrantfile")
)
_PATH = re.compile(
    r"(?<![\w@/:.-])(?:\.{1,2}/)?(?:[\w.-]+/)*[\w-][\w.-]*\.(?:" + "|".join(_EXT) + r")(?![\w/-])"
    r"|(?<![\w@/:.-])(?:\.{1,2}/)?(?:[\w.-]+/)+[\w.-]*/?(?![\w/-])",
    re.IGNORECASE,
)
_QUOTED = re.compile(r"`([^`\n]{1,200})`|\"([^\"\n]{1,200})\"|(?<!\w)'([^'\n]{1,200})'(?!\w)")
_CALL = re.compile(r"\b([A-Za-z_][\w.]*)\(\)")
_SNAKE = re.compile(r"\b[A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)+\b|\b_[A-Za-z]\w*\b")
_CAMEL = re.compile(r"\b[A-Z][a-z0-9]+(?:[A-Z][a-z0-9]*)+\b|\b[a-z]+[0-9]*(?:[A-Z][a-z0-9]*)+\b")
_DOTTED = re.compile(r"\b[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+\b")
_DEF_WORDS = r"(?:function|class|method|def|fn|func|struct|interface|enum|trait|type)"
_DEF_BEFORE = re.compile(_DEF_WORDS + r"\s+`?$")
_DEF_AFTER = re.compile(r"^`?\s+" + _DEF_WORDS + r"\b")
_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://\S+|\S+@\S+\.\w+", re.IGNORECASE)

_HISTORY = re.compile(
    r"\b(?:history|historical|blame|commits?|git\s+log|changelog|changed|regressed|regression|"
    r"recent(?:ly)?\s+(?:changes?|commits?)|last\s+(?:changes?|commits?)|"
    r"who\b.{0,40}\b(?:wrote|changed|added|introduced|modified|removed|broke|authored)|"
    r"when\b.{0,40}\b(?:was|were|did)\b.{0,40}\b(?:changed|added|introduced|modified|removed|broken|break))\b",
    re.IGNORECASE,
)
_DIFF = re.compile(r"\b(?:diff|uncommitted|staged|unstaged|working\s+tree|local\s+changes)\b", re.IGNORECASE)
_STATUS = re.compile(r"\bgit\s+status\b", re.IGNORECASE)
_RUN = re.compile(r"\b(?:tests?|testing|pytest|unittest|tox|nox|failing|run|rerun|test\s+suite)\b", re.IGNORECASE)
_TEST_PATH = re.compile(r"(?:^|/)(?:tests?/|test_[\w-]+\.py$|[\w-]+_test\.(?:py|go)$|[\w-]+\.(?:test|spec)\.\w+$)")
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]{3,}")
_STOP = frozenset(
    _words(
        """
    about above after again also always another anything around because been before being below between both
    bug bugs cannot change code could does doing done down each error errors every file files find first fix
    fixed fixes from have here into issue issues just know like line lines look make makes many maybe more most
    must need needs never only other please problem really should show some something still such sure than that
    their them then there these they thing things this those through update used using very want wants were what
    when where which while will with without work works would wrong your repo repository project function method
    class test tests testing failing fails run check add added adding remove implement support correct properly
    instead currently seems broken working should returns return value values does changed changes recent
    recently history commit commits blame when who help thanks hello"""
    )
)


@dataclass(frozen=True, slots=True)
class Facts:
    paths: tuple[str, ...]  # files (with an extension or a well-known bare name)
    dirs: tuple[str, ...]
    symbols: tuple[str, ...]  # look like definitions: foo(), CamelCase, "class Foo"
    texts: tuple[str, ...]  # quoted strings and other identifiers
    keywords: tuple[str, ...]  # plain words, only used when nothing else names the subject
    history: bool
    diff: bool
    status: bool
    run: bool
    test_target: str | None

    @property
    def anchors(self) -> tuple[str, ...]:
        return self.paths + self.dirs + self.symbols + self.texts


def _unique(items: list[str], limit: int) -> tuple[str, ...]:
    out: list[str] = []
    for item in items:
        if item and item not in out:
            out.append(item)
    return tuple(out[:limit])


def facts(request: str) -> Facts:
    # A request is a comment, not a document: bound the regex work. URLs and e-mail addresses are blanked
    # (same length, so offsets hold) because their parts look like paths and dotted names.
    text = _URL.sub(lambda m: " " * len(m.group()), request[:5000])
    paths: list[str] = []
    dirs: list[str] = []
    taken: list[tuple[int, int]] = []
    for m in _PATH.finditer(text):
        token = m.group().rstrip(".")
        if not any(c.isalpha() for c in token):
            continue
        last = token.rstrip("/").rsplit("/", 1)[-1]
        if "." in last and not token.endswith("/"):
            paths.append(token)
        elif "/" in token and token.strip("./"):
            dirs.append(token if token.endswith("/") else token + "/")
        taken.append(m.span())

    def free(span: tuple[int, int]) -> bool:
        return not any(s <= span[0] < e for s, e in taken)

    for m in re.finditer(r"\b[A-Z][A-Za-z]+\b", text):
        if m.group() in _BARE_FILES and free(m.span()):
            paths.append(m.group())

    symbols: list[str] = []
    texts: list[str] = []
    for m in _QUOTED.finditer(text):
        value = next(g for g in m.groups() if g is not None).strip()
        if not value or not free(m.span()):
            continue
        taken.append(m.span())
        if _PATH.fullmatch(value) and "." in value.rsplit("/", 1)[-1]:
            paths.append(value)
        elif re.fullmatch(r"[A-Za-z_][\w.]*\(\)", value):
            symbols.append(value[:-2])
        else:
            texts.append(value)
    for m in _CALL.finditer(text):
        if free(m.span()):
            symbols.append(m.group(1))
            taken.append(m.span())
    for pattern in (_CAMEL, _SNAKE, _DOTTED):
        for m in pattern.finditer(text):
            if not free(m.span()) or m.group() in paths:
                continue
            taken.append(m.span())
            # "class Foo", "the load function": a definition; CamelCase names are classes
            definition = _DEF_BEFORE.search(text, max(0, m.start() - 12), m.start()) or _DEF_AFTER.match(
                text[m.end() : m.end() + 12]
            )
            (symbols if pattern is _CAMEL or definition else texts).append(m.group())
    texts = [t for t in texts if t not in symbols]

    keywords = [w for w in _WORD.findall(text) if w.lower() not in _STOP] if not (symbols or texts) else []
    test_target = next((p for p in paths + dirs if _TEST_PATH.search(p)), None)
    return Facts(
        paths=_unique(paths, 3),
        dirs=_unique(dirs, 2),
        symbols=_unique(symbols, 3),
        texts=_unique(texts, 3),
        keywords=_unique(sorted(keywords, key=len, reverse=True), 2),
        history=bool(_HISTORY.search(text)),
        diff=bool(_DIFF.search(text)),
        status=bool(_STATUS.search(text)),
        run=bool(_RUN.search(text)),
        test_target=test_target,
    )
