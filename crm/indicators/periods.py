"""Periods the indicators are read over: a month, a quarter, a year or any date range, and the one before."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from crm.platform.dates import local_today

MONTHS_SHORT = ("janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.", "oct.", "nov.", "déc.")
MONTHS = (
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
)
KINDS = {"mois": "Mois", "trimestre": "Trimestre", "annee": "Année", "personnalise": "Période libre"}
MAX_DAYS = 366 * 5


class PeriodError(ValueError):
    """A period that cannot be read; the message is French, for the user."""


@dataclass(frozen=True)
class Period:
    kind: str
    start: date
    end: date  # inclusive

    @property
    def label(self) -> str:
        if self.kind == "mois":
            return f"{MONTHS[self.start.month - 1]} {self.start.year}"
        if self.kind == "trimestre":
            return (
                f"{(self.start.month - 1) // 3 + 1}{'er' if self.start.month == 1 else 'e'} trimestre {self.start.year}"
            )
        if self.kind == "annee":
            return str(self.start.year)
        return f"du {self.start:%d/%m/%Y} au {self.end:%d/%m/%Y}"

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> Period:
        """The period just before, of the same kind (and the same length for a free range)."""
        if self.kind == "mois":
            return month(_add_months(self.start, -1))
        if self.kind == "trimestre":
            return quarter(_add_months(self.start, -3))
        if self.kind == "annee":
            return year(self.start.year - 1)
        return Period("personnalise", self.start - timedelta(days=self.days), self.start - timedelta(days=1))

    def months(self) -> list[date]:
        """First day of every month the period touches."""
        first, out = self.start.replace(day=1), []
        while first <= self.end:
            out.append(first)
            first = _add_months(first, 1)
        return out

    def as_params(self) -> dict[str, str]:
        return {"periode": self.kind, "debut": self.start.isoformat(), "fin": self.end.isoformat()}


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def month(day: date) -> Period:
    start = day.replace(day=1)
    return Period("mois", start, _add_months(start, 1) - timedelta(days=1))


def quarter(day: date) -> Period:
    start = date(day.year, (day.month - 1) // 3 * 3 + 1, 1)
    return Period("trimestre", start, _add_months(start, 3) - timedelta(days=1))


def year(number: int) -> Period:
    return Period("annee", date(number, 1, 1), date(number, 12, 31))


def month_label(first: date) -> str:
    return f"{MONTHS_SHORT[first.month - 1]} {first.year}"


def _date(value: str | None, label: str) -> date | None:
    if not value:
        return None
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
        raise PeriodError(f"{label} : date attendue au format AAAA-MM-JJ.")
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise PeriodError(f"{label} : cette date n'existe pas.") from None


def parse_period(
    kind: str | None, start: str | None = None, end: str | None = None, today: date | None = None
) -> Period:
    """Read ``?periode=&debut=&fin=``: a kind anchored on ``debut`` (default today), or a free range.

    With only ``debut``/``fin`` (the API's ``start``/``end``), the range is taken as given.
    """
    today = today or local_today()
    first, last = _date(start, "Début"), _date(end, "Fin")
    kind = (kind or "").strip() or ("personnalise" if first or last else "annee")
    if kind not in KINDS:
        raise PeriodError("Période inconnue : choisissez mois, trimestre, année ou période libre.")
    anchor = first or today
    if kind == "mois":
        return month(anchor)
    if kind == "trimestre":
        return quarter(anchor)
    if kind == "annee":
        return year(anchor.year)
    first = first or date(today.year, 1, 1)
    last = last or today
    if last < first:
        raise PeriodError("La fin de la période précède son début.")
    if (last - first).days > MAX_DAYS:
        raise PeriodError("Période trop longue (cinq ans au plus).")
    return Period("personnalise", first, last)
