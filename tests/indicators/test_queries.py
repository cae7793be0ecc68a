"""The indicators read from the cells say what docs/indicators.md defines, with numerator and denominator."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from crm.indicators.periods import PeriodError, parse_period, year
from crm.indicators.queries import Scope, engagement, information_participation, transformation_rate
from crm.indicators.report import funnel, report_figures, trends
from crm.platform.extensions import db
from crm.referential.models import Programme
from tests.indicators.test_maintenance import _scenario
from workflows.dispatch import process_pending


def test_three_indicators_with_their_counts(territory):
    t = territory
    _scenario(t)
    process_pending()
    scope = Scope(parse_period("personnalise", t.yesterday.isoformat(), t.today.isoformat()), ("31", "46"))

    [participation] = information_participation(scope)
    # ES/ESMS that took part: the two EHPAD (the CPTS is not ES/ESMS; the CH's visit was not information).
    assert (participation.numerator, participation.denominator) == (2, 3)
    by_department = {f.key[0]: f for f in information_participation(scope, "department")}
    assert (by_department["31"].numerator, by_department["31"].denominator) == (1, 2)
    assert (by_department["46"].numerator, by_department["46"].denominator) == (1, 1)

    [transformation] = transformation_rate(scope)
    assert (transformation.numerator, transformation.denominator, transformation.rate) == (1, 2, 0.5)
    mine = transformation_rate(Scope(scope.period, scope.departments, animator_id=t.animator_46.id))
    assert mine[0].denominator == 0 and mine[0].rate is None  # no data, never 0 %

    programme = db.session.scalar(select(Programme.id).where(Programme.code == "ORIENTATION"))
    orientation = {f.key: f for f in engagement(scope)}[(programme,)]
    assert (orientation.numerator, orientation.denominator) == (1, 3)
    by_department = {f.key: f for f in engagement(scope, "department")}
    assert (by_department[(programme, "31")].numerator, by_department[(programme, "31")].denominator) == (1, 2)
    assert by_department[(programme, "46")].numerator == 0


def test_empty_denominators_are_no_data(territory):
    scope = Scope(year(2020), ("09",))
    [participation] = information_participation(scope)
    assert participation.denominator == 0 and participation.rate is None
    assert transformation_rate(scope)[0].rate is None
    assert all(f.rate is None for f in engagement(scope))


def test_report_funnel_and_trends(territory):
    t = territory
    _scenario(t)
    process_pending()
    scope = Scope(parse_period("personnalise", t.yesterday.isoformat(), t.today.isoformat()), ("31", "46"))
    figures = report_figures(scope)
    assert figures.accompanied.numerator == 2  # the EHPAD (won opportunity) and the CH (direct project)
    assert figures.medico_social.numerator == 1
    # VT Grand âge (one meeting, two structures of one department: once), SPICO (coordination), Téléo.
    assert (figures.other_offers.numerator, figures.other_offers.denominator) == (2, 3)
    stages, outcomes = funnel(scope)
    assert [s.count for s in stages] == [2, 1, 1, 1] and outcomes["transformed"] == 1
    assert stages[0].average_days is not None and stages[0].average_days >= 0
    trend = trends(scope)
    assert len(trend.months) == 12 and trend.engaged[-1] == 2


@pytest.mark.parametrize(
    "kind,start,end,message",
    [
        ("semaine", None, None, "Période inconnue"),
        ("personnalise", "2026-02-30", None, "n'existe pas"),
        ("personnalise", "2026-05-01", "2026-04-01", "précède"),
        ("personnalise", "01/05/2026", None, "AAAA-MM-JJ"),
    ],
)
def test_bad_periods_are_refused_in_french(kind, start, end, message):
    with pytest.raises(PeriodError, match=message):
        parse_period(kind, start, end)


def test_periods_and_their_previous():
    q = parse_period("trimestre", "2026-05-10")
    assert (q.start, q.end, q.label) == (date(2026, 4, 1), date(2026, 6, 30), "2e trimestre 2026")
    assert q.previous().start == date(2026, 1, 1)
    m = parse_period("mois", "2026-01-15")
    assert m.previous().start == date(2025, 12, 1) and m.label == "janvier 2026"
    free = parse_period("personnalise", "2026-03-01", "2026-03-10")
    assert free.previous().end == date(2026, 2, 28) and free.previous().days == 10


def test_participation_cells_count_what_the_days_count(territory):
    """Calendar months, quarters and years are read from the participation cells; they must say what a
    count over the days says, for every split and filter the pages use."""
    from datetime import timedelta

    from crm.indicators import queries
    from crm.indicators.periods import month, quarter
    from tests.indicators.test_maintenance import _activity

    t = territory
    _scenario(t)
    _activity(t, [t.ehpad, t.ch], offers=["TELEO"], day=t.today - timedelta(days=40))
    _activity(t, [t.ehpad_46], user=t.animator_46, day=t.today - timedelta(days=100))
    process_pending()
    programme = db.session.scalar(select(Programme.id).where(Programme.code == "ORIENTATION"))
    periods = [
        month(t.today),
        quarter(t.today),
        year(t.today.year),
        year(t.today.year - 1),
        month(t.today - timedelta(days=40)),
    ]
    span = parse_period("personnalise", date(t.today.year - 1, 1, 1).isoformat(), (month(t.today).end).isoformat())
    used_cells = 0
    for period in periods + [span]:
        for filters in ({}, {"programme_id": programme}, {"animator_id": t.animator.id}, {"sector": "medico_social"}):
            scope = Scope(period, ("31", "46"), **filters)
            for group_by in (None, "department", "sector", "programme", "animator", "month"):
                from_cells = queries._participation_from_cells(scope, group_by)
                if from_cells is None:
                    continue
                used_cells += 1
                from_days = queries._participation_from_days(scope, group_by)
                assert {k: v for k, v in from_cells.items() if v} == {k: v for k, v in from_days.items() if v}, (
                    period,
                    filters,
                    group_by,
                )
    assert used_cells > 60
