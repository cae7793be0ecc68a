"""Pages of a list: by number for the first ones, by cursor beyond, with a count that stops counting.

A list of millions of rows (the activities at national scale) cannot be read by ``OFFSET``: the
database sorts every row before the one asked for (8 s for the last page of 2 million activities).
So a list sorted on a unique key (``occurred_on, id`` newest first) pages by *cursor*: the next page
starts after the last row shown (``WHERE (occurred_on, id) < (:day, :id)``), which an index reads
directly however deep it is. Page numbers stay for small offsets (at most ``MAX_OFFSET`` rows
skipped), which is what people and the API's ``page`` use; beyond, the caller asks for the cursor.

The total is counted up to ``COUNT_CAP`` rows: "plus de 10 000 activités" says all a person needs
and costs a bounded read, where an exact total over a department's years of work costs a scan.
See docs/architecture.md ("Lists at national scale").
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Select, func, literal_column, select, tuple_

from crm.platform.extensions import db

COUNT_CAP = 10_000
MAX_OFFSET = 10_000


class CursorError(ValueError):
    """A cursor that this list did not make (altered, truncated or from another list)."""

    message = "Curseur de pagination invalide : repartez de la première page."


class PageTooDeep(ValueError):
    """A numbered page beyond MAX_OFFSET rows: the cursor serves there."""

    message = (
        f"Au-delà des {MAX_OFFSET:,} premiers éléments".replace(",", "\u202f")
        + ", affinez les filtres ou poursuivez avec le lien « Suivante »."
    )


@dataclass
class Page:
    items: list
    total: int
    page: int
    per_page: int
    # True when ``total`` is a lower bound: the count stopped at COUNT_CAP ("plus de 10 000").
    total_capped: bool = False
    # The cursor this page started after (None: a numbered page) and the one of the next page.
    cursor: str | None = None
    next_cursor: str | None = None
    keyset: bool = False

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.cursor is None and self.page > 1

    @property
    def has_next(self) -> bool:
        if self.keyset:
            return self.next_cursor is not None
        return self.page < self.pages

    @property
    def first_index(self) -> int:
        """The 1-based rank of the page's first row (numbered pages only)."""
        return (self.page - 1) * self.per_page + 1


def encode_cursor(values: Sequence) -> str:
    """An opaque, URL-safe cursor of a row's sort key (dates, times and integers)."""
    plain = [value.isoformat() if isinstance(value, date) else value for value in values]  # datetime too
    return base64.urlsafe_b64encode(json.dumps(plain, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, kinds: Sequence[type]) -> tuple:
    """The sort key a cursor holds, each value of its expected kind (``date`` or ``int``), or CursorError."""
    if not isinstance(cursor, str) or len(cursor) > 200:
        raise CursorError(cursor)
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError) as error:
        raise CursorError(cursor) from error
    if not isinstance(values, list) or len(values) != len(kinds):
        raise CursorError(cursor)
    out = []
    for value, kind in zip(values, kinds, strict=True):
        if kind is date or kind is datetime:
            try:
                parsed = kind.fromisoformat(value)
            except (TypeError, ValueError) as error:
                raise CursorError(cursor) from error
            if kind is date and isinstance(parsed, datetime):
                raise CursorError(cursor)
            out.append(parsed)
        elif kind is int:
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 2**63 - 1:
                raise CursorError(cursor)
            out.append(value)
        else:  # pragma: no cover - a programming error, not an input
            raise TypeError(kind)
    return tuple(out)


def bounded_count(statement: Select, cap: int) -> tuple[int, bool]:
    """How many rows ``statement`` selects, read up to ``cap`` + 1: (count, capped)."""
    # One constant column: PostgreSQL can answer from an index alone where the filters allow it.
    limited = statement.with_only_columns(literal_column("1"), maintain_column_froms=True).order_by(None)
    total = db.session.scalar(select(func.count()).select_from(limited.limit(cap + 1).subquery())) or 0
    return (cap, True) if total > cap else (total, False)


def keyset_page(
    statement: Select,
    *,
    order: Sequence,
    kinds: Sequence[type],
    cursor: str | None,
    page: int,
    per_page: int,
    count_cap: int | None = None,
    load: Callable[[list[int]], list] | None = None,
) -> Page:
    """One page of ``statement`` (an entity with its WHERE set), newest first on ``order``, a unique key
    whose last column is the entity's id; ``kinds`` are its types (``date``, ``datetime``, ``int``).

    With a ``cursor``, the rows after it; otherwise the numbered ``page``. The page's keys are read
    first, on the narrow columns of ``order`` (an index alone where the filters allow), then its rows by
    id (``load``, by default a select of the entity); the total is a bounded count of the statement."""
    total, capped = bounded_count(statement, COUNT_CAP if count_cap is None else count_cap)
    keys = statement.with_only_columns(*order, maintain_column_froms=True).order_by(*(c.desc() for c in order))
    if cursor:
        keys = keys.where(tuple_(*order) < tuple_(*decode_cursor(cursor, kinds)))
        page = 1
    else:
        page = max(1, page)
        if not capped:  # a stale link past the end shows the last page
            page = min(page, max(1, math.ceil(total / per_page)))
        elif (page - 1) * per_page > MAX_OFFSET:
            raise PageTooDeep(page)  # skipping that many rows is a sort of all of them; an exact total is small
        keys = keys.offset((page - 1) * per_page)
    rows = db.session.execute(keys.limit(per_page + 1)).all()
    shown = rows[:per_page]
    ids = [row[-1] for row in shown]
    items = (load or by_id(statement.column_descriptions[0]["entity"]))(ids) if ids else []
    return Page(
        items=items,
        total=total,
        page=page,
        per_page=per_page,
        total_capped=capped,
        cursor=cursor or None,
        next_cursor=encode_cursor(tuple(shown[-1])) if len(rows) > per_page else None,
        keyset=True,
    )


def by_id(entity) -> Callable[[list[int]], list]:
    """A loader of ``entity`` rows by id, in the order of the ids given."""

    def load(ids: list[int]) -> list:
        found = {row.id: row for row in db.session.scalars(select(entity).where(entity.id.in_(ids))).unique()}
        return [found[i] for i in ids if i in found]

    return load
