"""A rate with a zero denominator is "no data" (None), never 0 % and never an error."""
from __future__ import annotations


def rate(numerator: int | float | None, denominator: int | float | None) -> float | None:
    if not denominator:
        return None
    return (numerator or 0) / denominator
