"""`equitr models list|check|cost`: the model catalogue, a model's availability, and what tokens cost."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def add_parser(sub: Any) -> None:
    models = sub.add_parser("models", help="list, check and price models")
    msub = models.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    msub.add_parser("list", help="known models with context window, JSON support and prices")
    check = msub.add_parser("check", help="validate a model name and check that it answers")
    check.add_argument("name")
    cost = msub.add_parser("cost", help="what N tokens of a model cost")
    cost.add_argument("name")
    cost.add_argument("--tokens", type=int, required=True)


def command(args: argparse.Namespace) -> int:
    from equitr.models import manager

    if args.models_command == "list":
        print(manager.format_table(manager.models_list()))
        return 0
    if args.models_command == "check":
        ok, message = manager.models_check(args.name)
        print(message)
        return 0 if ok else 1
    if args.tokens < 0:
        print("equitr: --tokens must be 0 or more", file=sys.stderr)
        return 2
    usd = manager.models_cost(args.name, args.tokens)
    print(f"{args.name}: {args.tokens:,} tokens ≈ ${usd:.6f}")
    return 0
