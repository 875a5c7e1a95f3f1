"""The documentation site: `mkdocs build --strict` passes (with the API reference from the docstrings), the
troubleshooting page is what the error catalogue generates, and every link a formatted error shows — with
EQUITR_DOCS_URL pointing at the site — lands on a page and an anchor that exist in the built site.

mkdocs comes from the `docs` extra (part of `dev`, which scripts/test installs): without it these tests fail,
because CI must build the site."""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from equitr.errors import catalogue as errordocs
from equitr.errors.render import KINDS, ErrorContext, doc_links, doc_url, format_error
from tests.unit.test_errorfmt import EXAMPLES

ROOT = Path(__file__).resolve().parents[2]
SITE_URL = "https://docs.example.org/equitr"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", str(out)],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    if "No module named mkdocs" in proc.stderr:
        pytest.fail("mkdocs is not installed: pip install -e '.[docs]' (scripts/test installs it)")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


def ids(site: Path, url: str) -> tuple[Path, set[str]]:
    """The built page a site URL names, and the ids of its elements."""
    path = urlsplit(url).path.removeprefix(urlsplit(SITE_URL).path).strip("/")
    page = site / path / "index.html"
    assert page.is_file(), f"{url}: no page {page.relative_to(site)}"
    return page, {html.unescape(i) for i in re.findall(r'\bid="([^"]+)"', page.read_text(encoding="utf-8"))}


def assert_resolves(site: Path, url: str) -> None:
    page, found = ids(site, url)
    anchor = urlsplit(url).fragment
    assert not anchor or anchor in found, f"{url}: no id {anchor!r} in {page.relative_to(site)}"


def test_the_troubleshooting_page_is_generated_from_the_catalogue() -> None:
    generated = errordocs.page((ROOT / "docs" / "errors.md").read_text(encoding="utf-8"))
    assert (ROOT / "docs" / "troubleshooting.md").read_text(encoding="utf-8") == generated, (
        "docs/troubleshooting.md is stale: python -m equitr.errors.catalogue > docs/troubleshooting.md"
    )
    for anchor in KINDS:
        assert f"{{#{anchor}}}" in generated


def test_a_kind_without_a_section_in_errors_md_stops_the_generation() -> None:
    with pytest.raises(SystemExit, match="timeout"):
        errordocs.page((ROOT / "docs" / "errors.md").read_text(encoding="utf-8").replace("### Timeout\n", ""))


def test_doc_url_for_the_site_and_for_github() -> None:
    assert doc_url(SITE_URL + "/", "docs/errors.md#timeout") == f"{SITE_URL}/errors/#timeout"
    assert doc_url(SITE_URL, "docs/configuration.md") == f"{SITE_URL}/configuration/"
    blob = "https://github.com/acme/equitr/blob/main"
    assert doc_url(blob, "docs/errors.md#timeout") == f"{blob}/docs/errors.md#timeout"
    assert doc_url("https://ghe.example/acme/equitr/tree/v1.0.0", "docs/a.md") == (
        "https://ghe.example/acme/equitr/tree/v1.0.0/docs/a.md"
    )


def test_the_site_builds_strictly_with_the_api_reference(site: Path) -> None:
    _page, found = ids(site, f"{SITE_URL}/reference/errors/")
    assert "equitr.errors.render.format_error" in found or "equitr.errors.render.format_error" in found
    _page, api = ids(site, f"{SITE_URL}/reference/api/")
    for name in ("fix", "plan", "ask", "review", "interpret", "FixResult"):
        assert f"equitr.local.api.{name}" in api or f"equitr.local.api.{name}" in api, name
    for page in ("deploy/one-machine", "deploy/procfile", "deploy/redis", "deploy/container", "action"):
        assert (site / page / "index.html").is_file(), page
    # Offline and private: no web fonts, nothing the pages load from a third party.
    text = (site / "index.html").read_text(encoding="utf-8")
    assert "fonts.googleapis.com" not in text and "fonts.gstatic.com" not in text


@pytest.mark.parametrize("anchor", sorted(KINDS))
def test_every_formatted_errors_links_resolve_in_the_site(site: Path, anchor: str) -> None:
    error, context = EXAMPLES[anchor]
    linked = ErrorContext(**{**{f: getattr(context, f) for f in context.__dataclass_fields__}, "docs_url": SITE_URL})
    text = format_error(error, context=linked)
    urls = re.findall(r"\]\((" + re.escape(SITE_URL) + r"[^)]*)\)", text)
    assert urls and len(urls) == len(doc_links(error)), text
    assert urls[0] == f"{SITE_URL}/errors/#{anchor}"
    for url in urls:
        assert_resolves(site, url)
    assert_resolves(site, f"{SITE_URL}/troubleshooting/#{anchor}")


def test_every_configuration_section_an_error_links_to_exists(site: Path) -> None:
    for section in {kind.docs for kind in KINDS.values() if kind.docs is not None}:
        assert_resolves(site, doc_url(SITE_URL, "docs/configuration.md" + (f"#{section}" if section else "")))
