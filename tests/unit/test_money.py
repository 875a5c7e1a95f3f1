"""Money as people read it: small amounts keep two significant digits, so a budget never prints as $0.00."""

from __future__ import annotations

import pytest

from equitr.agent.ledger import Ledger
from equitr.agent.report import cost_markdown, cost_text
from equitr.text.money import amount, usd


@pytest.mark.parametrize(
    ("value", "places", "shown"),
    [
        (0, 2, "$0.00"),
        (0, 4, "$0.0000"),
        (0.002, 2, "$0.002"),
        (0.015, 2, "$0.015"),
        (0.5, 2, "$0.50"),
        (1.5, 2, "$1.50"),
        (123.456, 2, "$123.46"),
        (0.0999, 2, "$0.10"),
        (0.12345, 4, "$0.1235"),
        (0.0000123, 4, "$0.000012"),
        (-0.002, 2, "-$0.002"),
    ],
)
def test_usd(value: float, places: int, shown: str) -> None:
    assert usd(value, places=places) == shown


def test_amount_is_a_flag_value() -> None:
    assert amount(0.002) == "0.002" and amount(2) == "2.00"


def test_cost_summaries_show_a_small_budget() -> None:
    assert "of $0.002 used" in cost_text(Ledger(), budget_usd=0.002)
    assert "of $0.002 used" in cost_markdown(Ledger(), budget_usd=0.002)
