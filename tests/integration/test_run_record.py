"""`equitr run` keeps its PerformanceMonitor record in the store at EQUITR_DB (a real run: the CLI, the sandbox,
git, a scripted OpenAI-compatible model server on loopback)."""

from __future__ import annotations

from pathlib import Path

from equitr.jobs.store.sqlite import SqliteStore
from tests.conftest import make_repo
from tests.fakes.model_server import ModelServer
from tests.integration import test_run_cli as run_cli
from tests.integration.test_run_cli import equitr_run

model = run_cli.model  # the fixture: a scripted OpenAI-compatible model server


def test_a_local_run_keeps_its_record_and_metrics(tmp_path: Path, model: ModelServer) -> None:
    repo, work = make_repo(tmp_path), tmp_path / "work"
    done = equitr_run(repo, work, model)
    assert done.returncode == 0, done.stdout + done.stderr
    store = SqliteStore(work / "equitr.db")
    try:
        ((job, record),) = store.records(since=0)
        assert (job.kind, job.state, job.repo, job.number) == ("run", "done", f"local/{repo.name}", 0)
        names = [p.name for p in record.phases]
        assert {"checkout", "plan", "step", "tests_before", "tests_after", "review"} <= set(names), names
        assert [c.role for c in record.model_calls] == ["supervisor", "worker", "reviewer"]
        assert all(c.model == "openai-compatible/scripted" and c.tokens_in > 0 for c in record.model_calls)
        assert record.outcome is not None and record.outcome.error is None and "len(values)" in record.outcome.diff
        values = store.metric_values()
        assert any('"equitr_jobs_finished"' in k and '"run"' in k and v == 1 for k, v in values.items())
    finally:
        store.close()
