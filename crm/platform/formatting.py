"""French formatting of dates, numbers and percentages for templates."""

from __future__ import annotations

from datetime import UTC, date, datetime

from crm.platform.dates import PARIS

NBSP = "\u202f"  # narrow no-break space, the French thousands separator


def format_number(value, decimals: int = 0) -> str:
    if value is None:
        return "—"
    text = f"{value:,.{decimals}f}"
    return text.replace(",", NBSP).replace(".", ",")


def format_percent(value, decimals: int = 0) -> str:
    """0.375 -> "37,5 %" (None -> "—": no data, never 0 %)."""
    if value is None:
        return "—"
    return format_number(value * 100, decimals) + "\u00a0%"


def format_date(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, datetime):  # stored in UTC (naive from SQLite): the Paris day
        value = (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(PARIS)
        return value.strftime("%d/%m/%Y")
    if isinstance(value, date):
        return value.strftime("%d/%m/%Y")
    return str(value)


def format_datetime(value) -> str:
    if value is None:
        return "—"
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(PARIS).strftime("%d/%m/%Y à %H:%M")


def format_age(seconds) -> str:
    """A duration in seconds, rounded the way one says it: "2 s", "5 min", "3 h 05", "2 j"."""
    if seconds is None:
        return "—"
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}\u00a0s"
    if seconds < 3600:
        return f"{seconds // 60}\u00a0min"
    if seconds < 86400:
        hours, minutes = divmod(seconds // 60, 60)
        return f"{hours}\u00a0h\u00a0{minutes:02d}"
    return f"{seconds // 86400}\u00a0j"


# --- ui-charts (issue 16): counts with their noun, dates as people write them -------------------------
MONTHS_SHORT = ("janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.", "oct.", "nov.", "déc.")


def plural(count, singular: str, plural_form: str | None = None, none: str | None = None) -> str:
    """A count and its noun, agreed the French way: "1 participant", "2 participants", "0 participant"
    (French keeps the singular under 2), or ``none`` for zero ("aucun participant") when given.
    ``plural_form`` for irregular nouns ("1 journal", "2 journaux"); the count is formatted (1 234)."""
    if count is None:
        count = 0
    if count == 0 and none is not None:
        return none
    word = singular if abs(count) < 2 else (plural_form or singular + "s")
    return f"{format_number(count)} {word}"


def _paris(value):
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(PARIS)
    return value


def format_day_long(value) -> str:
    """7 déc. 2026 (a datetime is read as the Paris day)."""
    if value is None:
        return "—"
    value = _paris(value)
    return f"{value.day}\u00a0{MONTHS_SHORT[value.month - 1]} {value.year}"


def format_datetime_long(value) -> str:
    """7 déc. 2026 à 10:32, Paris time."""
    if value is None:
        return "—"
    value = _paris(value)
    return f"{format_day_long(value)} à {value:%H:%M}"


# --- end ui-charts -------------------------------------------------------------------------------------


def register(app) -> None:
    app.jinja_env.filters.update(
        number=format_number,
        percent=format_percent,
        date_fr=format_date,
        datetime_fr=format_datetime,
        age=format_age,
    )
    app.jinja_env.filters.update(plural=plural, day_long=format_day_long, datetime_long=format_datetime_long)
