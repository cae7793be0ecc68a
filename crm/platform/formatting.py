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


def register(app) -> None:
    app.jinja_env.filters.update(
        number=format_number,
        percent=format_percent,
        date_fr=format_date,
        datetime_fr=format_datetime,
        age=format_age,
    )
