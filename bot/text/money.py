"""Amounts of money as people read them: `$1.50`, `$0.002` (not `$0.00`), `$0.000012` for a cheap call.

One rule everywhere a cost or a budget is printed (terminal, comments, tables, flags in recovery commands):
at least `places` decimals, and more when a small non-zero amount needs them to show two significant
digits, so that a budget of $0.002 never reads as nothing.
"""

from __future__ import annotations

import math

_MAX_PLACES = 8


def amount(value: float, *, places: int = 2) -> str:
    """The number without a currency sign: `amount(0.002)` → `0.002`, `amount(1.5)` → `1.50`."""
    if value == 0 or not math.isfinite(value):
        return f"{value:.{places}f}"
    needed = 1 - math.floor(math.log10(abs(value)))  # decimals that show two significant digits
    decimals = max(places, min(_MAX_PLACES, needed))
    text = f"{value:.{decimals}f}"
    if decimals > places:  # the extra decimals are only for significance: drop trailing zeros among them
        head, _, tail = text.partition(".")
        tail = tail[:places] + tail[places:].rstrip("0")
        text = f"{head}.{tail}"
    return text


def usd(value: float, *, places: int = 2) -> str:
    """`$` and the amount: `usd(0.002)` → `$0.002`, `usd(0.5)` → `$0.50`, `usd(0.12345, places=4)` → `$0.1235`."""
    return f"-${amount(-value, places=places)}" if value < 0 else f"${amount(value, places=places)}"
