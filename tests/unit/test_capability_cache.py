"""The capability cache file shared by the processes of one machine (`equitr.models.capabilities`)."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import pytest

from equitr.config.settings import Settings
from equitr.models.capabilities import CapabilityCache
from equitr.models.provider import Endpoints


def test_workers_started_together_share_what_each_probed(tmp_path: Path) -> None:
    path = tmp_path / "work" / "capabilities.json"
    first, second = CapabilityCache(path), CapabilityCache(path)  # two workers, both started before any probe
    first.set("http://a/v1", "m1", "json_object")
    second.set_tools("http://a/v1", "m2", True)  # merged into the file, not written over the first's entry
    assert second.get("http://a/v1", "m1") == "json_object"  # a miss reads the file again
    assert first.get_tools("http://a/v1", "m2") is True
    restarted = CapabilityCache(path)
    assert restarted.get("http://a/v1", "m1") == "json_object" and restarted.get_tools("http://a/v1", "m2") is True
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert sorted(p.name for p in path.parent.iterdir()) == ["capabilities.json", "capabilities.json.lock"]


@pytest.mark.parametrize("content", ['{"modes": ', "[1, 2]", '{"modes": {"k": {"mode": "none", "probed_at": []}}}'])
def test_a_corrupt_file_is_a_warning_and_an_empty_cache(
    tmp_path: Path, content: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "capabilities.json"
    path.write_text(content)
    with caplog.at_level(logging.WARNING):
        cache = CapabilityCache(path)
        assert cache.get("http://a/v1", "m") is None
        cache.set("http://a/v1", "m", "none")
    assert next(r.getMessage() for r in caplog.records if "capability cache" in r.getMessage()).count("read") == 1
    assert CapabilityCache(path).get("http://a/v1", "m") == "none"  # written whole again


def test_configured_processes_keep_the_cache_in_the_work_directory(tmp_path: Path) -> None:
    settings = Settings(EQUITR_WORKDIR=tmp_path / "work")
    assert Endpoints.from_settings(settings).capability_file == tmp_path / "work" / "capabilities.json"
    assert Endpoints.from_settings(settings, capability_file=None).capability_file is None
    assert Endpoints().capability_file is None  # a bare client (tests, the Python API's own) keeps it in memory
