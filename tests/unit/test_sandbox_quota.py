"""The disk quota's bookkeeping on real files; the filesystem's free space is the one thing scripted."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from equitr.errors import LimitReached
from equitr.sandbox import quota
from equitr.sandbox.quota import MIB, DiskQuota, usage


def test_usage_counts_blocks_once_and_never_follows_links(tmp_path: Path) -> None:
    (tmp_path / "a.bin").write_bytes(os.urandom(MIB))
    os.link(tmp_path / "a.bin", tmp_path / "hard.bin")
    (tmp_path / "link").symlink_to("/usr")
    with open(tmp_path / "sparse.bin", "wb") as fh:
        fh.truncate(1024**3)
    assert MIB <= usage([tmp_path]) < 2 * MIB


def test_growth_is_counted_from_the_first_command(tmp_path: Path) -> None:
    (tmp_path / "repo.bin").write_bytes(os.urandom(4 * MIB))  # the checkout itself never counts
    disk = DiskQuota(limit_bytes=2 * MIB)
    disk.watch((tmp_path,))
    (tmp_path / "ok.bin").write_bytes(os.urandom(MIB))
    disk.check((tmp_path,), what="The test run")
    (tmp_path / "more.bin").write_bytes(os.urandom(2 * MIB))
    with pytest.raises(LimitReached, match=r"The test run left 3 MiB .* over the job's disk limit of 2 MiB"):
        disk.check((tmp_path,), what="The test run")


def test_the_watch_measures_only_when_the_disk_fills(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    free = [10_000 * MIB]
    monkeypatch.setattr(quota, "free_bytes", lambda path: free[0])
    monkeypatch.setattr(quota, "_CHEAP_EVERY_S", 0.0)
    monkeypatch.setattr(quota, "_MEASURE_EVERY_S", 0.0)
    watch = DiskQuota(limit_bytes=8 * MIB).watch((tmp_path,))
    free[0] -= 100 * MIB  # another job wrote 100 MiB elsewhere on the disk: measured, and not ours
    assert watch() is None
    (tmp_path / "big.bin").write_bytes(os.urandom(9 * MIB))
    assert watch() == "it wrote more than the job's disk limit of 8 MiB"


def test_the_watch_keeps_a_reserve_of_free_space(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    free = [600 * MIB]
    monkeypatch.setattr(quota, "free_bytes", lambda path: free[0])
    monkeypatch.setattr(quota, "_CHEAP_EVERY_S", 0.0)
    watch = DiskQuota(limit_bytes=10_000 * MIB).watch((tmp_path,))
    free[0] = 590 * MIB
    assert watch() is None
    free[0] = 500 * MIB
    assert watch() == "it left less than 512 MiB free on the disk of the checkout"
