""" "Mes relances": "cette semaine" is the rest of the current ISO week (Monday to Sunday) in Paris time.
Checked on each day of a week against the ISO calendar, and at the UTC/Paris midnight boundary."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from crm.platform.dates import iso_week, local_date
from crm.tasks import services
from tests.conftest import login

MONDAY = date(2026, 11, 23)
WEEK = [MONDAY + timedelta(days=offset) for offset in range(7)]


def _bucket_by_iso_calendar(today: date, due: date) -> str:
    """The rule, stated with the ISO calendar rather than the code's arithmetic."""
    if due < today:
        return "overdue"
    if due == today:
        return "today"
    return "this_week" if due.isocalendar()[:2] == today.isocalendar()[:2] else "later"


@pytest.mark.parametrize("today", WEEK, ids=lambda day: day.strftime("%A"))
def test_each_weekday_puts_the_rest_of_its_iso_week_in_this_week(make_user, today):
    user = make_user("animateur", ["31"])
    dues = [today + timedelta(days=offset) for offset in range(-2, 10)]
    for due in dues:
        services.create_task({"title": due.isoformat(), "due_on": due.isoformat()}, user=user)
    buckets = services.open_tasks_for(user.id, today=today)
    found = {task.title: name for name in ("overdue", "today", "this_week", "later") for task in getattr(buckets, name)}
    assert found == {due.isoformat(): _bucket_by_iso_calendar(today, due) for due in dues}
    assert buckets.week_end == date(2026, 11, 29) == iso_week(today)[1]


def test_on_a_sunday_tuesday_is_later_and_this_week_is_empty(make_user):
    user = make_user("animateur", ["31"])
    sunday, tuesday = date(2026, 11, 29), date(2026, 12, 1)
    services.create_task({"title": "Mardi", "due_on": tuesday.isoformat()}, user=user)
    buckets = services.open_tasks_for(user.id, today=sunday)
    assert buckets.this_week == [] and [t.title for t in buckets.later] == ["Mardi"]
    # On the Monday before, the same Tuesday is this week's.
    assert [t.title for t in services.open_tasks_for(user.id, today=date(2026, 11, 30)).this_week] == ["Mardi"]


@pytest.mark.parametrize(
    "moment,paris_day",
    [
        (datetime(2026, 11, 29, 22, 59, tzinfo=UTC), date(2026, 11, 29)),  # Sunday 23:59 in Paris (UTC+1)
        (datetime(2026, 11, 29, 23, 0, tzinfo=UTC), date(2026, 11, 30)),  # already Monday in Paris
        (datetime(2026, 6, 28, 22, 30, tzinfo=UTC), date(2026, 6, 29)),  # summer time (UTC+2): Monday
    ],
)
def test_the_week_turns_at_midnight_in_paris(moment, paris_day):
    assert local_date(moment) == paris_day
    assert iso_week(local_date(moment))[0] == paris_day - timedelta(days=paris_day.weekday())


def test_the_page_states_the_rule(client, make_user):
    user = make_user("animateur", ["31"])
    login(client, user)
    page = client.get("/relances").get_data(as_text=True)
    sunday = iso_week(local_date(datetime.now(UTC)))[1]
    assert "du lundi au dimanche (heure de Paris)" in page and sunday.strftime("%d/%m/%Y") in page
