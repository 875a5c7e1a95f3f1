"""Test output made fit for a prompt, traceback frames, and the numbered view of a long file. Pure functions."""

from __future__ import annotations

from equitr.agent.evidence import innermost, trim
from equitr.agent.view import strip_gutter, view

UNITTEST = """$ python -m unittest -q
exit code 1 (0.2 s)

--- stderr ---
======================================================================
ERROR: test_total (test_cart.TotalTest.test_total)
----------------------------------------------------------------------
Traceback (most recent call last):
  File "/workspace/test_cart.py", line 8, in test_total
    self.assertEqual(total([("apple", 2)]), 6)
  File "/workspace/shop/cart.py", line 6, in total
    return sum(unit_price(name) * qty for name, qty in items)
  File "/workspace/shop/cart.py", line 6, in <genexpr>
    return sum(unit_price(name) * qty for name, qty in items)
  File "/workspace/shop/pricing.py", line 6, in unit_price
    return PRICES[name.upper()]
  File "/usr/lib/python3.11/json/__init__.py", line 1, in loads
KeyError: 'APPLE'

----------------------------------------------------------------------
Ran 1 test in 0.001s

FAILED (errors=1)
"""
FILES = ["test_cart.py", "shop/cart.py", "shop/pricing.py"]


def test_innermost_project_frame_first_not_the_caller() -> None:
    frames = innermost(UNITTEST, "/tmp/job/checkout", FILES)
    assert [(f.path, f.line) for f in frames] == [("shop/pricing.py", 6), ("shop/cart.py", 6)]
    assert innermost(UNITTEST, "/x", FILES, skip_tests=False)[-1].path == "test_cart.py"


def test_pytest_locations_and_host_paths() -> None:
    out = (
        "____ test_mean ____\n\n    def test_mean():\n>       assert mean([1]) == 1\n\ntest_m.py:4: \n"
        "_ _ _ _\n\n    def mean(v):\n>       return sum(v) / (len(v) - 1)\nE   ZeroDivisionError\n\n"
        "/home/ci/repo/m.py:2: ZeroDivisionError\n"
    )
    assert [(f.path, f.line) for f in innermost(out, "/home/ci/repo", ["m.py", "test_m.py"])] == [("m.py", 2)]


def test_trim_drops_the_middle_and_keeps_the_traceback() -> None:
    noise = "\n".join(f"test_{i} ... ok" for i in range(3000))
    text = UNITTEST.replace("--- stderr ---\n", f"--- stderr ---\n{noise}\n")
    out = trim(text, 1500)
    assert len(out) <= 1500
    for kept in ("$ python -m unittest -q", "exit code 1", "ERROR: test_total", "KeyError: 'APPLE'",
                 'File "/workspace/shop/pricing.py", line 6, in unit_price', "    return PRICES[name.upper()]",
                 "FAILED (errors=1)"):  # fmt: skip
        assert kept in out, kept
    assert "lines left out" in out and "test_1500 ... ok" not in out
    assert trim(UNITTEST, 10_000) == UNITTEST


def test_view_of_a_small_file_is_whole_and_numbered() -> None:
    shown = view("a = 1\nb = 2\n")
    assert shown.whole and shown.text == "    1 | a = 1\n    2 | b = 2"


def test_view_of_a_long_file_shows_the_named_definition_and_the_traceback_line() -> None:
    text = "".join(f"def f{i}(x):\n    return x + {i}\n\n" for i in range(2000))
    shown = view(text, lines=[4500], names=["f100"])
    assert not shown.whole and len(shown.text) < 13_000
    assert "  301 | def f100(x):" in shown.text and "  302 |     return x + 100" in shown.text
    assert " 4500 | " in shown.text and "not shown" in shown.text
    assert "    1 | def f0(x):" not in shown.text.split("Outline")[0]  # only in the outline


def test_strip_gutter_only_when_every_line_has_one() -> None:
    assert strip_gutter("   12 |     x = 1\n   13 | y") == "    x = 1\ny"
    assert strip_gutter("x = 1 | 2\n") == "x = 1 | 2\n"
    assert strip_gutter("  1 | a\nb") == "  1 | a\nb"
