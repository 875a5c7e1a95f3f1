"""`equitr doctor`: settings, credentials, queue and sandbox checked, each with what to fix (`equitr.cli.checks`)."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any


def add_parser(sub: Any) -> None:
    sub.add_parser("doctor", help="check settings, credentials, queue and sandbox; say what to fix")


def command(args: argparse.Namespace) -> int:
    from equitr.cli.checks import run_checks

    ok = True
    for check in asyncio.run(run_checks()):
        mark = {"ok": "✓", "warn": "!", "fail": "✗"}[check.status]
        print(f"{mark} {check.name}: {check.message}")
        if check.fix:
            print(f"    fix: {check.fix}")
        ok = ok and check.status != "fail"
    return 0 if ok else 1
