"""Which structures a rate counts within: the one rule, in SQL and in Python (docs/indicators.md, "Populations").

A structure is in the population of a period when it was open at some time in it: opened on or before the
period's end (or no opening date known), and still open or closed on or after the period's start. A structure
closed without a date is in no period's population. Engagement reads the population at the period's end
(``start == end``). Every numerator is counted within its denominator's population, so no rate exceeds 100 %.

The facts and cells of the read model carry their structure's ``opened_on``, ``closed_on`` and
``structure_open``, so that both versions read the same three values.
"""
from __future__ import annotations

from datetime import date

from sqlalchemy import and_, or_, true


def open_during(table, start, end):
    """SQL: the rows of ``table`` whose structure was open at some time between ``start`` and ``end``."""
    return and_(or_(table.c.opened_on.is_(None), table.c.opened_on <= end),
                or_(table.c.structure_open == true(), table.c.closed_on >= start))


def was_open_during(opened_on: date | None, closed_on: date | None, structure_open: bool, start: date,
                    end: date) -> bool:
    """Python: the same rule, for one structure (the worker's moves of the participation cells)."""
    return ((opened_on is None or opened_on <= end)
            and (bool(structure_open) or (closed_on is not None and closed_on >= start)))
