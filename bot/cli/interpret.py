"""`equitr interpret`: a raw model reply read as the planner reads it, printed as the plan (JSON)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def add_parser(sub: Any) -> None:
    interp = sub.add_parser("interpret", help="read a raw model reply as the planner would; print the plan")
    interp.add_argument("--request", required=True, help="the user's request the reply answers")
    interp.add_argument("file", nargs="?", default="-", help="the reply (a file, or - for stdin)")


def command(args: argparse.Namespace) -> int:
    from equitr.interpret import interpret

    if args.file == "-":
        text = sys.stdin.read()
    else:
        try:
            text = Path(args.file).read_text(errors="replace")
        except OSError as exc:
            print(f"equitr: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
            return 1
    print(json.dumps(interpret(text, request=args.request).to_json(), indent=2))
    return 0
