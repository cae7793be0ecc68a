"""Days are the users' days (Europe/Paris), not the server's UTC ones, even when SQLite hands back naive times.

Between 23:00 and 24:00 UTC in winter (22:00 in summer) the two calendars disagree: CI ran there once.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from types import SimpleNamespace

from crm.pipeline.queries import days_in_stage
from crm.platform.formatting import format_date


def test_a_late_evening_utc_time_is_the_next_day_in_paris():
    late = datetime(2026, 12, 6, 23, 30, tzinfo=UTC)  # 00:30 on 7 December in Paris
    assert format_date(late) == "07/12/2026"
    assert format_date(late.replace(tzinfo=None)) == "07/12/2026"  # naive = UTC, as stored
    assert format_date(datetime(2026, 7, 1, 21, 59)) == "01/07/2026"  # summer: UTC+2
    assert format_date(datetime(2026, 7, 1, 22, 0)) == "02/07/2026"


def test_days_in_stage_count_paris_days():
    moved = SimpleNamespace(stage_changed_at=datetime(2026, 12, 6, 23, 30))  # 7 December in Paris
    assert days_in_stage(moved, today=date(2026, 12, 7)) == 0
    assert days_in_stage(moved, today=date(2026, 12, 9)) == 2
