"""The users' calendar: Europe/Paris, whatever the server's clock says (it runs in UTC).

An opportunity won at 00:30 in Paris on 1 April is won on 1 April (second quarter), and the
activity form defaults to the users' today, not the server's.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

PARIS = ZoneInfo("Europe/Paris")


def local_today() -> date:
    return local_date(datetime.now(UTC))


def iso_week(day: date) -> tuple[date, date]:
    """The ISO week of a day: its Monday and its Sunday (the users' "cette semaine")."""
    monday = day - timedelta(days=day.weekday())
    return monday, monday + timedelta(days=6)


def local_date(moment: datetime) -> date:
    """The Paris calendar day of a moment (a naive moment is taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(PARIS).date()
