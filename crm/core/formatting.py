"""French formatting of dates, numbers and percentages for templates."""
from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

PARIS = ZoneInfo("Europe/Paris")
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
    if isinstance(value, datetime):
        value = value.astimezone(PARIS) if value.tzinfo else value
        return value.strftime("%d/%m/%Y")
    if isinstance(value, date):
        return value.strftime("%d/%m/%Y")
    return str(value)


def format_datetime(value) -> str:
    if value is None:
        return "—"
    if value.tzinfo is None:
        from datetime import timezone
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(PARIS).strftime("%d/%m/%Y à %H:%M")


def register(app) -> None:
    app.jinja_env.filters.update(
        number=format_number, percent=format_percent, date_fr=format_date, datetime_fr=format_datetime
    )
