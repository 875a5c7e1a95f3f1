"""Run a workflow's equitr step the way GitHub's runner runs it, on this machine.

The workflow is the one users copy (docs/action.md); its `uses: OWNER/equitr/actions@SHA` resolves to this
checkout's `actions/action.yml`. Each `${{ … }}` of the step's `with:` and of the Action's steps is
evaluated against the runner's contexts (`github`, `env`, `secrets`, `inputs`), and the composite steps
that matter run for real with bash, exactly as written:

- `Install equitr` with a `python` on PATH that records what it was asked to install (nothing is installed:
  this checkout's equitr is already there);
- `Run equitr`, which runs `equitr action` (this checkout's) with the environment the step builds.

`setup-python` and the apt step are left out (the machine has Python, bubblewrap and ripgrep).
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "action.md"
EXAMPLE = ROOT / ".github" / "workflows" / "equitr.yml"
ACTION = ROOT / "actions" / "action.yml"
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
JOB_FOR_EVENT = {
    "issue_comment": "command",
    "issues": "command",
    "pull_request": "review",
    "schedule": "backlog",
    "workflow_dispatch": "backlog",
}


def load(text: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(text)
    if True in data:  # YAML 1.1 reads the key `on` as true
        data["on"] = data.pop(True)
    return data


def docs_workflow() -> str:
    """The workflow docs/action.md tells users to copy: the YAML block after the `<!-- workflow -->` mark."""
    text = DOCS.read_text()
    after = text.split("<!-- workflow -->", 1)[1]
    match = re.search(r"```yaml\n(.*?)```", after, re.DOTALL)
    assert match, "docs/action.md has no ```yaml block after <!-- workflow -->"
    return match.group(1)


def evaluate(value: Any, contexts: dict[str, dict[str, Any]]) -> str:
    """`${{ ctx.name }}` and `${{ ctx.a || 'default' }}` (all our files use); anything else fails the test."""

    def one(match: re.Match[str]) -> str:
        result = ""
        for part in (p.strip() for p in match.group(1).split("||")):
            literal = re.fullmatch(r"'([^']*)'", part)
            if literal:
                result = literal.group(1)
            else:
                path = re.fullmatch(r"([a-z_]+)\.([A-Za-z0-9_-]+)", part)
                assert path, f"the runner emulation does not evaluate `{part}`"
                context, name = path.groups()
                assert context in contexts, f"no `{context}` context here"
                result = str(contexts[context].get(name, "") or "")
            if result:
                return result
        return result

    return EXPRESSION.sub(one, str(value))


@dataclass
class Outcome:
    code: int
    out: str
    err: str
    summary: str
    installed: list[str] = field(default_factory=list)  # what `pip install` was asked for

    @property
    def everything(self) -> str:
        return self.out + self.err + self.summary


@dataclass
class Runner:
    """One repository's runner: the workflow text, its secrets, and where GitHub's API answers."""

    workflow: str
    api_url: str
    repository: str
    token: str
    home: Path
    secrets: dict[str, str] = field(default_factory=dict)
    env_overrides: dict[str, str] = field(default_factory=dict)  # edits of the workflow's `env:` block
    runs: int = 0

    def step(self, job_id: str) -> tuple[dict[str, Any], dict[str, str]]:
        """(the job's equitr step, the workflow-level env as the runner exports it)."""
        workflow = load(self.workflow)
        env = {k: str(v) for k, v in (workflow.get("env") or {}).items()}
        env.update(self.env_overrides)
        (found,) = [s for s in workflow["jobs"][job_id]["steps"] if "/actions" in str(s.get("uses", ""))]
        return found, env

    def inputs(self, job_id: str) -> tuple[dict[str, str], dict[str, str]]:
        step, env = self.step(job_id)
        contexts: dict[str, dict[str, Any]] = {
            "env": env,
            "secrets": self.secrets,
            "github": {"token": self.token, "action_path": str(ACTION.parent)},
        }
        action = load(ACTION.read_text())
        values = {name: evaluate(spec.get("default", ""), contexts) for name, spec in action["inputs"].items()}
        for name, value in (step.get("with") or {}).items():
            assert name in values, f"the workflow passes `{name}`, which the Action does not take"
            values[name] = evaluate(value, contexts)
        return values, env

    async def run(self, event: str, payload: dict[str, Any], *, job_id: str | None = None) -> Outcome:
        """One workflow run for `event`: the Action's install and run steps, as separate processes."""
        self.runs += 1
        job_id = job_id or JOB_FOR_EVENT[event]
        inputs, workflow_env = self.inputs(job_id)
        action = load(ACTION.read_text())
        contexts = {"inputs": inputs, "github": {"token": self.token, "action_path": str(ACTION.parent)}}
        work = self.home / f"run-{self.runs}"
        (work / "bin").mkdir(parents=True)
        (work / "tmp").mkdir()
        event_file = work / "event.json"
        event_file.write_text(json.dumps(payload))
        log = work / "pip.txt"
        shim = work / "bin" / "python"
        shim.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> "{log}"\n')
        shim.chmod(0o755)
        runner_env = {
            "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
            "HOME": str(self.home),
            "TMPDIR": str(work / "tmp"),
            "LANG": "C.UTF-8",
            "CI": "true",
            "GITHUB_ACTIONS": "true",
            "GITHUB_EVENT_NAME": event,
            "GITHUB_EVENT_PATH": str(event_file),
            "GITHUB_REPOSITORY": self.repository,
            "GITHUB_API_URL": self.api_url,
            "GITHUB_SERVER_URL": "https://github.com",
            "GITHUB_STEP_SUMMARY": str(work / "summary.md"),
            "GITHUB_OUTPUT": str(work / "output.txt"),
            "GITHUB_RUN_ID": str(900_000 + self.runs),
            "GITHUB_RUN_ATTEMPT": "1",
            "GITHUB_ACTOR": str((payload.get("sender") or {}).get("login") or "octocat"),
            "RUNNER_TEMP": str(work / "tmp"),
            **workflow_env,
        }
        steps = {s.get("name"): s for s in action["runs"]["steps"]}
        install = steps["Install equitr"]
        install_env = {k: evaluate(v, contexts) for k, v in install.get("env", {}).items()}
        shimmed = {**runner_env, **install_env, "PATH": f"{work / 'bin'}:{runner_env['PATH']}"}
        code, _, err = await _bash(install["run"], shimmed)
        assert code == 0, err
        (run_step,) = [s for s in action["runs"]["steps"] if s.get("id") == "run"]
        step_env = {k: evaluate(v, contexts) for k, v in run_step.get("env", {}).items()}
        code, out, err = await _bash(run_step["run"], {**runner_env, **step_env})
        summary = work / "summary.md"
        return Outcome(
            code,
            out,
            err,
            summary.read_text() if summary.exists() else "",
            log.read_text().splitlines() if log.exists() else [],
        )


async def _bash(script: str, env: dict[str, str]) -> tuple[int, str, str]:
    """`shell: bash` as the runner runs it: `bash --noprofile --norc -eo pipefail {0}`."""
    proc = await asyncio.create_subprocess_exec(
        "bash",
        "--noprofile",
        "--norc",
        "-eo",
        "pipefail",
        "-c",
        script,
        env=env,
        cwd=env["HOME"],  # a runner's workspace, not this checkout
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 300)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()
