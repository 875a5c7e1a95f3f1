#!/usr/bin/env python3
"""Regenerate the vendored test data under `tests/data/` from the published Octokit packages.

    python scripts/vendor_testdata.py                 # latest versions
    python scripts/vendor_testdata.py --webhooks-version 7.6.1 --openapi-version 23.0.2

What it writes (everything the tests need is committed, so CI never needs the network):

- `tests/data/webhooks/<event>/<NN>.<action>.json`: every github.com example payload of
  `@octokit/webhooks-examples`, one file each, plus `index.json` (event, action, path) and the license.
- `tests/data/openapi/api.github.com.subset.json` (`.json.gz` when over 2 MiB): the operations equitr
  calls, cut out of `@octokit/openapi`'s api.github.com description together with every component they
  reference (transitively), so that every `$ref` in the subset resolves inside it.

Needs `npm` on PATH. Not run in CI; run it by hand when GitHub's description or the examples change, and
commit the result.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# Above this size the subset is stored gzipped (the loader reads either form).
GZIP_ABOVE = 2 * 1024 * 1024
ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"

# (method, path template) of every operation equitr calls. Keep sorted by area; the fake GitHub server
# (tests/fakes/github.py) answers exactly these.
OPERATIONS: list[tuple[str, str]] = [
    # apps
    ("post", "/app/installations/{installation_id}/access_tokens"),
    ("get", "/app"),
    ("get", "/repos/{owner}/{repo}/installation"),
    # repositories
    ("get", "/repos/{owner}/{repo}"),
    ("get", "/repos/{owner}/{repo}/collaborators/{username}/permission"),
    ("get", "/repos/{owner}/{repo}/contents/{path}"),
    ("get", "/repos/{owner}/{repo}/branches/{branch}"),
    ("get", "/repos/{owner}/{repo}/commits/{ref}"),
    ("get", "/repos/{owner}/{repo}/compare/{basehead}"),
    # issues, comments, labels, reactions
    ("get", "/repos/{owner}/{repo}/issues"),
    ("post", "/repos/{owner}/{repo}/issues"),
    ("get", "/repos/{owner}/{repo}/issues/{issue_number}"),
    ("get", "/repos/{owner}/{repo}/issues/comments"),
    ("get", "/repos/{owner}/{repo}/issues/{issue_number}/comments"),
    ("get", "/repos/{owner}/{repo}/issues/{issue_number}/events"),
    ("post", "/repos/{owner}/{repo}/issues/{issue_number}/comments"),
    ("get", "/repos/{owner}/{repo}/issues/comments/{comment_id}"),
    ("patch", "/repos/{owner}/{repo}/issues/comments/{comment_id}"),
    ("get", "/repos/{owner}/{repo}/issues/{issue_number}/labels"),
    ("post", "/repos/{owner}/{repo}/issues/{issue_number}/labels"),
    ("delete", "/repos/{owner}/{repo}/issues/{issue_number}/labels/{name}"),
    ("post", "/repos/{owner}/{repo}/issues/comments/{comment_id}/reactions"),
    ("post", "/repos/{owner}/{repo}/issues/{issue_number}/reactions"),
    ("post", "/repos/{owner}/{repo}/pulls/comments/{comment_id}/reactions"),
    ("get", "/search/issues"),
    # pull requests and reviews
    ("get", "/repos/{owner}/{repo}/pulls"),
    ("post", "/repos/{owner}/{repo}/pulls"),
    ("get", "/repos/{owner}/{repo}/pulls/{pull_number}"),
    ("patch", "/repos/{owner}/{repo}/pulls/{pull_number}"),
    ("get", "/repos/{owner}/{repo}/pulls/{pull_number}/files"),
    ("get", "/repos/{owner}/{repo}/pulls/{pull_number}/commits"),
    ("post", "/repos/{owner}/{repo}/pulls/{pull_number}/requested_reviewers"),
    ("get", "/repos/{owner}/{repo}/pulls/{pull_number}/reviews"),
    ("post", "/repos/{owner}/{repo}/pulls/{pull_number}/reviews"),
    ("put", "/repos/{owner}/{repo}/pulls/{pull_number}/reviews/{review_id}"),
    ("get", "/repos/{owner}/{repo}/pulls/{pull_number}/comments"),
    # git references
    ("get", "/repos/{owner}/{repo}/git/ref/{ref}"),
    ("post", "/repos/{owner}/{repo}/git/refs"),
    ("patch", "/repos/{owner}/{repo}/git/refs/{ref}"),
    # the signed-in user of the dashboard's GitHub sign-in (a user token): who, and which repositories
    ("get", "/user"),
    ("get", "/user/installations"),
    ("get", "/user/installations/{installation_id}/repositories"),
    # rate limit (`equitr doctor`)
    ("get", "/rate_limit"),
    # checks
    ("post", "/repos/{owner}/{repo}/check-runs"),
    ("patch", "/repos/{owner}/{repo}/check-runs/{check_run_id}"),
]

# The examples package ships no license file; its repository (octokit/webhooks) is MIT licensed with this
# notice, and the package.json says "license": "MIT".
WEBHOOKS_LICENSE = """The MIT License

Copyright (c) 2018 Gregor Martynus

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in
all copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN
THE SOFTWARE.
"""


def npm_install(workdir: Path, specs: list[str]) -> Path:
    """Install `specs` into `workdir/node_modules` with npm and return that directory."""
    subprocess.run(["npm", "init", "-y"], cwd=workdir, check=True, capture_output=True)
    subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "--ignore-scripts", *specs],
        cwd=workdir,
        check=True,
    )
    return workdir / "node_modules"


def package_version(package_dir: Path) -> str:
    return str(json.loads((package_dir / "package.json").read_text())["version"])


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-") or "none"


def vendor_webhooks(package_dir: Path, out: Path) -> int:
    version = package_version(package_dir)
    events = json.loads((package_dir / "api.github.com" / "index.json").read_text())
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    index: list[dict[str, Any]] = []
    for event in events:
        name = event["name"]
        (out / name).mkdir()
        for number, payload in enumerate(event["examples"]):
            action = payload.get("action")
            rel = f"{name}/{number:02d}.{slug(action) if action else 'none'}.json"
            (out / rel).write_text(json.dumps(payload, indent=1, ensure_ascii=False) + "\n")
            index.append({"event": name, "action": action, "path": rel})
    (out / "index.json").write_text(json.dumps(index, indent=1) + "\n")
    (out / "LICENSE").write_text(WEBHOOKS_LICENSE)
    (out / "README.md").write_text(
        "# Webhook payload examples\n\n"
        f"Source: npm package `@octokit/webhooks-examples` version {version} "
        "(repository octokit/webhooks, MIT license, see LICENSE), file `api.github.com/index.json`.\n\n"
        f"{len(index)} github.com payloads, one file per example: `<event>/<NN>.<action>.json` where "
        "`<event>` is the `X-GitHub-Event` header value and `<NN>` the example's position in the package. "
        "`index.json` lists them all. Regenerate with `python scripts/vendor_testdata.py`.\n"
    )
    return len(index)


def iter_refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            yield ref
        for value in node.values():
            yield from iter_refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from iter_refs(value)


def resolve_pointer(document: dict[str, Any], ref: str) -> Any:
    if not ref.startswith("#/"):
        raise ValueError(f"only local references are supported, got {ref!r}")
    node: Any = document
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


TOKEN_SHAPED = re.compile(r"\b(gh[pousr])_[A-Za-z0-9]{30,}\b")


def openapi_subset(document: dict[str, Any], operations: list[tuple[str, str]]) -> dict[str, Any]:
    """The description cut down to `operations` and the components they reach, transitively."""
    paths: dict[str, dict[str, Any]] = {}
    for method, path in operations:
        item = document["paths"][path]
        operation = item[method]
        paths.setdefault(path, {})[method] = operation
        if "parameters" in item:  # path-level parameters apply to every method
            paths[path]["parameters"] = item["parameters"]
    components: dict[str, dict[str, Any]] = {}
    seen: set[str] = set()
    pending = list(iter_refs(paths))
    while pending:
        ref = pending.pop()
        if ref in seen:
            continue
        seen.add(ref)
        parts = ref[2:].split("/")
        if parts[0] != "components" or len(parts) != 3:
            raise ValueError(f"unexpected reference {ref!r}")
        target = resolve_pointer(document, ref)
        components.setdefault(parts[1], {})[parts[2]] = target
        pending.extend(iter_refs(target))
    return {
        "openapi": document["openapi"],
        "info": document["info"],
        "servers": document.get("servers", []),
        "paths": paths,
        "components": {kind: dict(sorted(items.items())) for kind, items in sorted(components.items())},
    }


def vendor_openapi(package_dir: Path, out: Path) -> tuple[int, int]:
    version = package_version(package_dir)
    document = json.loads((package_dir / "generated" / "api.github.com.json").read_text())
    subset = openapi_subset(document, OPERATIONS)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    text = json.dumps(subset, indent=1, ensure_ascii=False) + "\n"
    # GitHub's examples include token-shaped strings; a placeholder keeps secret scanners quiet and tells
    # readers it is not a credential (the fake GitHub mints its own tokens).
    raw = TOKEN_SHAPED.sub(lambda m: f"{m.group(1)}_EXAMPLE_TOKEN_NOT_A_SECRET", text).encode()
    if len(raw) <= GZIP_ABOVE:
        target = out / "api.github.com.subset.json"
        target.write_bytes(raw)
    else:
        target = out / "api.github.com.subset.json.gz"
        # mtime=0 keeps the file byte-identical between runs with the same input.
        with target.open("wb") as file, gzip.GzipFile(filename="", mode="wb", fileobj=file, mtime=0) as gz:
            gz.write(raw)
    shutil.copy(package_dir / "LICENSE", out / "LICENSE")
    (out / "README.md").write_text(
        "# GitHub REST API description (subset)\n\n"
        f"Source: npm package `@octokit/openapi` version {version} (MIT license, see LICENSE), file "
        f"`generated/api.github.com.json` (OpenAPI {document['openapi']}, GitHub API description "
        f"{document['info'].get('version', '?')}).\n\n"
        f"`{target.name}` keeps only the {len(OPERATIONS)} operations equitr calls (listed in "
        "`scripts/vendor_testdata.py`) and every component they reference, so all `$ref`s resolve inside "
        "the file. The fake GitHub server in `tests/fakes/github.py` validates every request against it. "
        "Token-shaped example values (`ghs_…`) are replaced by `ghs_EXAMPLE_TOKEN_NOT_A_SECRET`. "
        "Regenerate with `python scripts/vendor_testdata.py`.\n"
    )
    return len(OPERATIONS), target.stat().st_size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--webhooks-version", default="latest")
    parser.add_argument("--openapi-version", default="latest")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="equitr-vendor-") as tmp:
        modules = npm_install(
            Path(tmp),
            [
                f"@octokit/webhooks-examples@{args.webhooks_version}",
                f"@octokit/openapi@{args.openapi_version}",
            ],
        )
        count = vendor_webhooks(modules / "@octokit" / "webhooks-examples", DATA / "webhooks")
        operations, size = vendor_openapi(modules / "@octokit" / "openapi", DATA / "openapi")
    print(f"webhooks: {count} payloads; openapi: {operations} operations, {size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
