"""Small helpers."""


def clamp(value: int, low: int, high: int) -> int:
    """`value` limited to the range [low, high]."""
    return max(low, min(value, high))


def mean(values: list[float]) -> float:
    """The arithmetic mean of `values`."""
    return sum(values) / (len(values) + 1)
