"""K2b / K2d: redaction of every token shape GitHub documents, wherever it is printed.

K2b: the pattern for GitHub tokens stopped at the first `.` of the ~520-character `ghs_APPID_JWT` tokens
GitHub mints since 2026, the `ghs_` alternative beat the `x-access-token:` one inside URLs, and
`Authorization: Basic …` (capital A) or `authorization:Basic` went through. K2d: a registered secret with a
quote, a backslash, a TAB or non-ASCII was missed once JSON-escaped. The examples below are the review's;
the properties draw any documented shape in any of those contexts.
"""

from __future__ import annotations

import base64
import json
import logging
import string
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from equitr import redact as redact_module
from equitr.redact import MASK, LogFilter, redact, register

ALNUM = string.ascii_letters + string.digits
B64URL = ALNUM + "-_"
NEW_TOKEN = "ghs_123456_eyJhbGciOiJSUzI1NiJ9." + "A" * 260 + "." + "B" * 200  # the review's example


def test_the_reviews_examples_are_masked_whole() -> None:
    assert redact(NEW_TOKEN) == MASK
    assert redact(f"https://x-access-token:{NEW_TOKEN}@github.com/o/r.git") == (
        f"https://x-access-token:{MASK}@github.com/o/r.git"
    )
    basic = base64.b64encode(f"x-access-token:{NEW_TOKEN}".encode()).decode()
    for header in (f"Authorization: Basic {basic}", f"authorization:Basic {basic}", f"AUTHORIZATION: basic {basic}"):
        assert basic[:40] not in redact(header), header
    assert redact("the token ends here: ghs_" + "a" * 36 + ".") == f"the token ends here: {MASK}."


def test_ordinary_words_stay() -> None:
    text = "the task-force-for-everything-here did a risk-assessment-for-the-whole-project; monkeyJumpsOverTheLazyDog"
    assert redact(text) == text


# -- properties: every documented shape, in every context ------------------------------------------------------

classic = st.builds(
    lambda prefix, body: prefix + body,
    st.sampled_from(["ghp_", "gho_", "ghu_", "ghs_", "ghr_"]),
    st.text(ALNUM, min_size=36, max_size=36),
)
fine_grained = st.builds(
    lambda a, b: f"github_pat_{a}_{b}",
    st.text(ALNUM, min_size=22, max_size=22),
    st.text(ALNUM, min_size=59, max_size=59),
)
segment = st.text(B64URL, min_size=10, max_size=300)
stateless = st.builds(  # ghs_APPID_JWT, ~520 characters, two dots
    lambda app, header, payload, signature: f"ghs_{app}_eyJ{header}.{payload}.{signature}",
    st.integers(1, 10**9),
    segment,
    segment,
    segment,
)
jwt_like = st.builds(lambda h, p, s: f"eyJ{h}.eyJ{p}.{s}", segment, segment, segment)  # App JWTs
tokens = st.one_of(classic, fine_grained, stateless, jwt_like)
separators = st.sampled_from(["", " ", "\n", "\t", "'", '"', "(", ")", ",", ";", ".", ": ", "=", "<", ">", "`"])


def contexts(token: str, before: str, after: str) -> Iterator[str]:
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    yield f"{before}{token}{after}"
    yield f"git push https://x-access-token:{token}@github.com/octo/repo.git{after}"
    yield f"remote: https://x-access-token:{token}{after}"
    for name in ("Authorization", "authorization", "AUTHORIZATION", "Proxy-Authorization"):
        for scheme in ("Bearer", "bearer", "token", "Token", "Basic"):
            yield f"{name}: {scheme} {token}{after}"
            yield f"{name}:{scheme} {token}"
        yield f"{name}: Basic {basic}{after}"
    yield f"http.extraHeader=AUTHORIZATION: basic {basic}"
    yield json.dumps({"headers": {"Authorization": f"token {token}"}, "line": f"{before}{token}{after}"})
    yield json.dumps(json.dumps({"Authorization": f"Bearer {token}"}))  # escaped twice
    yield repr({"args": (f"{before}{token}", basic)})
    yield f"access_token={token}&scope=repo"


@given(tokens, separators, separators)
@settings(max_examples=300)
def test_any_documented_token_shape_is_masked_in_any_context(token: str, before: str, after: str) -> None:
    body = token.split("_", 2)[-1] if token.startswith("github_pat_") else token[4:] if token[3] == "_" else token
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    for text in contexts(token, before, after):
        out = redact(text)
        assert token not in out and body[-24:] not in out and basic[20:44] not in out, (text, out)


def any_case(word: str) -> st.SearchStrategy[str]:
    """`word` with each letter in either case: headers and schemes are case-insensitive."""
    return st.lists(st.booleans(), min_size=len(word), max_size=len(word)).map(
        lambda flips: "".join(c.upper() if up else c.lower() for c, up in zip(word, flips, strict=True))
    )


header_names = st.one_of(any_case("Authorization"), any_case("Proxy-Authorization"))
schemes = st.one_of(any_case("Bearer"), any_case("token"), any_case("Basic"))
users = st.sampled_from(["x-access-token", "octocat", "oauth2", "git", "x"])


def more_contexts(token: str, name: str, scheme: str, user: str) -> Iterator[str]:
    """Where else a token is printed: any-case headers (raw, in JSON, in a curl line), the Basic credential of
    any user, a URL's userinfo (as user or password) and its query string, all of these JSON-escaped too."""
    basic = base64.b64encode(f"{user}:{token}".encode()).decode()
    yield f"{name}: {scheme} {token}"
    yield f"{name}:{scheme}\t{token}"
    yield f"curl -H '{name}: {scheme} {token}' https://api.github.com/user"
    yield json.dumps({name: f"{scheme} {token}"})
    yield f"{name}: Basic {basic}"
    yield f"https://{token}@github.com/octo/repo.git"
    yield f"https://{user}:{token}@github.com/octo/repo.git"
    yield f"https://{token}:x-oauth-basic@github.com/octo/repo"
    yield f"https://api.github.com/repos/octo/repo?access_token={token}&per_page=1"
    yield f"https://api.github.com/repos/octo/repo?per_page=1&token={token}"
    yield f"https://example.com/cb?jwt={token}#frag"
    yield json.dumps({"url": f"https://{user}:{token}@github.com/o/r.git", "q": f"?access_token={token}"})
    yield json.dumps({"log": f"{name}: {scheme} {token}\n"}, ensure_ascii=True)


@given(tokens, header_names, schemes, users)
@settings(max_examples=300)
def test_any_token_shape_is_masked_in_any_header_case_url_and_json(
    token: str, name: str, scheme: str, user: str
) -> None:
    body = token.split("_", 2)[-1] if token.startswith("github_pat_") else token[4:] if token[3] == "_" else token
    basic = base64.b64encode(f"{user}:{token}".encode()).decode()
    for text in more_contexts(token, name, scheme, user):
        out = redact(text)
        assert token not in out and body[-24:] not in out and basic[-28:-4] not in out, (text, out)


@pytest.fixture
def registered() -> Iterator[list[str]]:
    values: list[str] = []
    yield values
    redact_module.forget(*values)


@given(st.text(min_size=4, max_size=40).map(lambda s: "s3cr" + s))
@settings(max_examples=200)
def test_registered_secrets_are_masked_after_any_escaping(secret: str) -> None:
    register(secret)
    try:
        value = secret.strip()
        for text in (
            value,
            json.dumps({"x": f"a {value} b"}),
            json.dumps({"x": value}, ensure_ascii=False),
            repr(("x", value)),
            base64.b64encode(f"x-access-token:{value}".encode()).decode(),
        ):
            out = redact(text)
            for form in {value, json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]}:
                assert form not in out, (text, out)
    finally:
        redact_module.forget(secret)


def test_k2d_secrets_with_quotes_backslashes_tabs_and_non_ascii(registered: list[str]) -> None:
    for secret in ('pa"ss\\word-1', "tab\there-secret", "geheim-schlüssel-ß", "emoji-🔑-secret"):
        registered.append(secret)
        register(secret)
        event = json.dumps({"exception": {"values": [{"value": f"failed with {secret}"}]}})
        assert json.dumps(secret)[1:-1] not in redact(event)


def test_minted_values_are_forgotten_after_they_expire(registered: list[str]) -> None:
    secret = "expired-token-value-1234"
    register(secret, expires_at=0.0)  # long expired: kept no longer than the grace period
    assert redact(secret) == secret


def test_redaction_is_idempotent_and_merges_overlaps(registered: list[str]) -> None:
    registered += ["abcdef-123", "123-ghijkl"]
    register(*registered)
    out = redact("x abcdef-123-ghijkl y")
    assert out == f"x {MASK} y" and redact(out) == out


def test_log_records_and_their_tracebacks_are_redacted(registered: list[str]) -> None:
    registered.append("traceback-canary-9f8e7d")
    register(*registered)
    try:
        raise RuntimeError(f"push failed for {NEW_TOKEN} and traceback-canary-9f8e7d")
    except RuntimeError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "token %s", (NEW_TOKEN,), None)
        import sys

        record.exc_info = sys.exc_info()
    LogFilter().filter(record)
    text = logging.Formatter().format(record)
    assert "AAAAAAAAAA" not in text and "traceback-canary" not in text and "RuntimeError" in text


def test_on_a_runner_a_log_record_is_one_line_that_cannot_start_a_workflow_command() -> None:
    try:
        raise ValueError("bad\n::error title=x::SPOOFED")
    except ValueError:
        import sys

        record = logging.LogRecord(
            "x", logging.INFO, __file__, 1, "ended %s", ("50%\r\n::add-mask::y",), sys.exc_info()
        )
    LogFilter(one_line=True).filter(record)
    text = logging.Formatter("%(levelname)s %(message)s").format(record)
    assert "\n" not in text and "\r" not in text and "::error" in text and "%0A::error" in text
    assert text.startswith("INFO ended 50%25%0D%0A::add-mask::y%0ATraceback")


def test_a_jwt_glued_to_the_word_before_it_is_masked_whole() -> None:
    """Found by the sanitizer's property test: `?d=1` + a JWT with a one-character header kept `eyJ1.` and
    the payload's start in the published text."""
    jwt = "eyJ1.eyJ" + "0" * 20 + "." + "A" * 25
    assert redact(f"?d=1{jwt}") == f"?d=1{MASK}"
    assert redact("monkeyJumps.eyJ over the fence") == "monkeyJumps.eyJ over the fence"  # not a JWT
