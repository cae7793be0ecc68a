"""Counts followed by their noun, agreed the French way, and the long French dates of the history."""

from datetime import UTC, date, datetime

from crm.platform.formatting import format_datetime_long, format_day_long, plural


def test_plural_agrees_the_french_way():
    assert plural(1, "participant") == "1 participant"
    assert plural(2, "participant") == "2 participants"
    assert plural(0, "participant") == "0 participant"  # French keeps the singular under 2
    assert plural(0, "participant", none="aucun participant") == "aucun participant"
    assert plural(1234, "structure") == "1\u202f234 structures"
    assert plural(3, "journal", "journaux") == "3 journaux"
    assert plural(None, "relance") == "0 relance"


def test_plural_is_a_template_filter(app):
    with app.app_context():
        template = app.jinja_env.from_string("{{ n|plural('participant', none='aucun participant') }}")
        rendered = [template.render(n=n) for n in (0, 1, 2)]
        assert rendered == ["aucun participant", "1 participant", "2 participants"]


def test_long_dates_are_french_and_in_paris_time():
    assert format_datetime_long(datetime(2026, 12, 7, 9, 32, tzinfo=UTC)) == "7\u00a0déc. 2026 à 10:32"
    assert format_datetime_long(datetime(2026, 7, 1, 22, 5)) == "2\u00a0juil. 2026 à 00:05"  # naive = UTC, summer
    assert format_day_long(date(2026, 2, 1)) == "1\u00a0févr. 2026"
    assert format_day_long(None) == "—"
