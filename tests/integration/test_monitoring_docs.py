"""docs/grafana/equitr.json and docs/monitoring.md use exactly the metrics `/metrics` exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from equitr.config.settings import Settings
from equitr.jobs.metrics import fold
from equitr.jobs.model import NewJob
from equitr.monitor.records import PerformanceMonitor
from equitr.web import services as services_mod
from equitr.web.app import create_app
from equitr.web.asgi import call
from tests.conftest import SECRET, headers, payload

DOCS = Path(__file__).parents[2] / "docs"
TOKEN = "metrics-" + "t0ken" * 4
NAME = re.compile(r"\bequitr_[a-z0-9_]+\b")


async def exported(tmp_path: Path) -> tuple[set[str], set[str]]:
    """(every sample name, every family name) of `/metrics` after a webhook and one ended job."""
    services = services_mod.build(Settings(EQUITR_DB=tmp_path / "equitr.db", GH_SECRET=SECRET))
    try:
        store = services.store
        job = store.create(NewJob("fix", "o/r", 1, "alice", "d-1", installation_id=7), ["delivery:d-1"])
        assert job is not None
        mon = PerformanceMonitor(job.id)
        mon.add_phase("plan", 0.0, 1.0)
        mon.model_call(model="m", role="supervisor", tokens_in=1, tokens_out=1, retries=1, served_by_fallback=True)
        mon.note_repairs(["strip_fence"], fallback=True)
        mon.github_call(method="GET", route="/repos/o/r", status=200, rate_remaining=10)
        share = fold(job.with_(started_at=job.created_at), mon.record(), "done")
        assert store.add_metrics(job.id, share.inc, share.set)

        async def no_github(installation_id: int | None) -> None:
            raise AssertionError("a ping needs no GitHub")

        app = create_app(dispatcher=services.dispatcher(no_github), secret=SECRET, metrics_token=TOKEN, store=store)
        body = json.dumps(payload("ping")).encode()
        await call(app, "POST", "/webhook", body=body, headers=headers(body, "ping", "d-ping"))
        status, text = await call(app, "GET", "/metrics", headers={"authorization": f"Bearer {TOKEN}"})
        assert status == 200
    finally:
        services.close()
    families = list(text_string_to_metric_families(text))
    # Counters as PromQL names them (`_total`), whether or not they have samples yet.
    names = {f.name + "_total" if f.type == "counter" else f.name for f in families}
    return {s.name for f in families for s in f.samples} | names, names


async def test_every_metric_the_grafana_dashboard_uses_is_exported(tmp_path: Path) -> None:
    samples, _ = await exported(tmp_path)
    dashboard = json.loads((DOCS / "grafana" / "equitr.json").read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    used = {name for expr in exprs for name in NAME.findall(expr)}
    assert used and used <= samples, sorted(used - samples)


async def test_every_exported_metric_is_documented(tmp_path: Path) -> None:
    _, families = await exported(tmp_path)
    doc = (DOCS / "monitoring.md").read_text()
    documented = set(re.findall(r"^\| `(equitr_[a-z0-9_]+)` \|", doc, re.MULTILINE))
    # (prometheus-client also exposes each in-process counter's and histogram's creation time, `*_created`.)
    shown = {f for f in families if f.startswith("equitr_") and not f.endswith("_created")}
    assert documented == shown, (sorted(documented - shown), sorted(shown - documented))
