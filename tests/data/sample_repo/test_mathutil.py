from mathutil import clamp, mean


def test_clamp() -> None:
    assert clamp(5, 0, 3) == 3
    assert clamp(-1, 0, 3) == 0


def test_mean() -> None:
    assert mean([1.0, 2.0, 3.0]) == 2.0
