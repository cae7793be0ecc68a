"""Every rate counts its numerator within its denominator's population (docs/indicators.md, "Populations"):
a structure that took part and closed afterwards counts on both sides, one closed before the period on
neither, one closed without a date in no period; no rate ever exceeds 100 %."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import func, select, update

from crm.activities.services import log_activity
from crm.indicators.periods import Period, year
from crm.indicators.queries import Scope, engagement, information_participation
from crm.indicators.readmodel.check import check
from crm.indicators.readmodel.rebuild import rebuild
from crm.pipeline import services as pipeline
from crm.platform.dates import local_today
from crm.platform.extensions import db
from crm.structures.models import Structure
from crm.structures.services import STRUCTURE_FIELDS, update_structure
from tests.indicators.conftest import offer, sector_id
from workflows.dispatch import process_pending

LAST_YEAR = local_today().year - 1


def close(structure: Structure, closed_on: date | None = None) -> Structure:
    """Close a structure by hand, as the form and the API do (all fields sent, ``closed_on`` or today)."""
    data = {field: getattr(structure, field) for field in STRUCTURE_FIELDS}
    return update_structure(structure, {**data, "is_open": False, "closed_on": closed_on})


def reopen(structure: Structure) -> Structure:
    data = {field: getattr(structure, field) for field in STRUCTURE_FIELDS}
    return update_structure(structure, {**data, "is_open": True})


def inform(structures, user, day: date):
    return log_activity(
        {
            "kind": "visite",
            "structure_ids": [s.id for s in structures],
            "is_information": True,
            "offer_ids": [offer("VT_GRAND_AGE").id],
            "occurred_on": day.isoformat(),
        },
        user=user,
    )


def participation(period: Period, departments=("81",), group_by=None):
    return information_participation(Scope(period, departments), group_by)


def free(start: date, end: date) -> Period:
    return Period("personnalise", start, end)


def _five(make_user, make_structure):
    animator = make_user("animateur", ["81"])
    structures = [
        make_structure(
            name=f"EHPAD {i}",
            department_code="81",
            commune="Albi",
            sector_id=sector_id("medico_social" if i % 2 else "sanitaire"),
        )
        for i in range(5)
    ]
    return animator, structures


def test_a_structure_that_took_part_and_closed_afterwards_counts_on_both_sides(make_user, make_structure):
    """Department 81 read 5/4 = 125 %: five structures took part in March, one closed in June."""
    animator, structures = _five(make_user, make_structure)
    for structure in structures:
        inform([structure], animator, date(LAST_YEAR, 3, 10))
    close(structures[0], date(LAST_YEAR, 6, 1))
    process_pending()
    assert check() == []

    [figure] = participation(year(LAST_YEAR))
    assert (figure.numerator, figure.denominator, figure.rate) == (5, 5, 1.0)
    # The same from the days (a free range) and per department or month: the month of March counts 5/5 too.
    assert [
        (f.numerator, f.denominator) for f in participation(free(date(LAST_YEAR, 3, 1), date(LAST_YEAR, 9, 30)))
    ] == [(5, 5)]
    assert [(f.key, f.numerator, f.denominator) for f in participation(year(LAST_YEAR), group_by="department")] == [
        (("81",), 5, 5)
    ]
    march = {f.key[0]: (f.numerator, f.denominator) for f in participation(year(LAST_YEAR), group_by="month")}
    assert march == {f"{LAST_YEAR}-03": (5, 5)}
    # After its closure it is in no population: the second half-year counts the four still open.
    [later] = participation(free(date(LAST_YEAR, 7, 1), date(LAST_YEAR, 12, 31)))
    assert (later.numerator, later.denominator) == (0, 4)


def test_a_structure_closed_before_it_took_part_counts_on_neither_side_of_a_later_month(make_user, make_structure):
    """Closed on 10 February, an activity logged for it on 5 March: it is in the year's population (open in
    January) and took part in the year, but not in March's population, so March does not count it."""
    animator, structures = _five(make_user, make_structure)
    close(structures[0], date(LAST_YEAR, 2, 10))
    inform(structures[:2], animator, date(LAST_YEAR, 3, 5))
    process_pending()
    assert check() == []
    assert [(f.numerator, f.denominator) for f in participation(year(LAST_YEAR))] == [(2, 5)]
    months = {f.key[0]: (f.numerator, f.denominator) for f in participation(year(LAST_YEAR), group_by="month")}
    assert months[f"{LAST_YEAR}-03"] == (1, 4)
    from crm.indicators.periods import month

    assert [(f.numerator, f.denominator) for f in participation(month(date(LAST_YEAR, 3, 1)))] == [(1, 4)]
    # A free range within March: the same, read from the days.
    assert [
        (f.numerator, f.denominator) for f in participation(free(date(LAST_YEAR, 3, 2), date(LAST_YEAR, 3, 30)))
    ] == [(1, 4)]


def test_opening_dates_and_closures_without_a_date(make_user, make_structure):
    """A structure opened after the period is not in it; one created closed without a date is in none."""
    animator, structures = _five(make_user, make_structure)
    undated = make_structure(
        name="EHPAD fermé", department_code="81", commune="Albi", is_open=False, sector_id=sector_id("medico_social")
    )
    assert undated.closed_on is None and not undated.is_open
    db.session.execute(
        update(Structure).where(Structure.id == structures[1].id).values(opened_on=date(LAST_YEAR, 9, 1))
    )
    db.session.commit()
    inform([undated, structures[1], structures[2]], animator, date(LAST_YEAR, 3, 10))
    process_pending()
    assert check() == []
    # The year: structures[1] opened in September is in it (open at some time), the undated closure is not.
    assert [(f.numerator, f.denominator) for f in participation(year(LAST_YEAR))] == [(2, 5)]
    # The first half-year: structures[1] had not opened yet.
    assert [
        (f.numerator, f.denominator) for f in participation(free(date(LAST_YEAR, 1, 1), date(LAST_YEAR, 6, 30)))
    ] == [(1, 4)]


def test_reopening_and_moving_dates_keep_the_worker_equal_to_a_rebuild(make_user, make_structure):
    animator, structures = _five(make_user, make_structure)
    inform(structures, animator, date(LAST_YEAR, 3, 10))
    inform(structures[:2], animator, date(LAST_YEAR, 11, 10))
    process_pending()
    close(structures[0], date(LAST_YEAR - 1, 12, 1))  # before the year: its activities do not count
    close(structures[1])  # today
    process_pending()
    assert check() == []
    assert [(f.numerator, f.denominator) for f in participation(year(LAST_YEAR))] == [(4, 4)]
    close(structures[0], date(LAST_YEAR, 4, 1))  # the date corrected: it was open in March after all
    reopen(structures[1])
    process_pending()
    assert check() == []
    assert [(f.numerator, f.denominator) for f in participation(year(LAST_YEAR))] == [(5, 5)]
    reopen(structures[0])
    process_pending()
    assert check() == []
    before = participation(year(LAST_YEAR), group_by="month")
    rebuild()
    assert participation(year(LAST_YEAR), group_by="month") == before


def test_engagement_counts_the_population_at_the_end_of_the_period(make_user, make_structure):
    """Target population at the period's end: a structure closed during the period is on neither side, one
    closed after its end on both."""
    animator = make_user("animateur", ["81"])
    ch = [
        make_structure(name=f"CH {i}", department_code="81", commune="Albi", sector_id=sector_id("sanitaire"))
        for i in range(3)
    ]
    ins = offer("INS")
    for structure in ch[:2]:
        pipeline.create_project(
            {
                "structure_id": structure.id,
                "offer_id": ins.id,
                "title": "INS",
                "started_on": date(LAST_YEAR, 2, 1).isoformat(),
            },
            user=animator,
        )
    close(ch[0], date(LAST_YEAR, 6, 30))  # closed within the year
    close(ch[1], date(LAST_YEAR + 1, 1, 15))  # after the year's end
    process_pending()
    assert check() == []
    scope = Scope(year(LAST_YEAR), ("81",), programme_id=ins.programme_id)
    assert [(f.numerator, f.denominator) for f in engagement(scope)] == [(1, 2)]
    mid_year = Scope(free(date(LAST_YEAR, 1, 1), date(LAST_YEAR, 5, 31)), ("81",), programme_id=ins.programme_id)
    assert [(f.numerator, f.denominator) for f in engagement(mid_year)] == [(2, 3)]
    mine = Scope(year(LAST_YEAR), ("81",), programme_id=ins.programme_id, animator_id=animator.id)
    assert [(f.numerator, f.denominator) for f in engagement(mine)] == [(1, 2)]


def test_an_import_that_closes_most_structures_leaves_the_rates_shares(make_user, make_structure):
    """The partial import that read 525 %: closing structures today keeps them in this year's population,
    beside their participation."""
    animator, structures = _five(make_user, make_structure)
    today = local_today()
    for structure in structures:
        inform([structure], animator, today - timedelta(days=1) if today.day > 1 else today)
    for structure in structures[1:]:
        close(structure)
    process_pending()
    assert check() == []
    [figure] = participation(year(today.year))
    assert (figure.numerator, figure.denominator) == (5, 5)


def test_a_partial_finess_import_keeps_its_closures_beside_their_participation(tmp_path, make_user):
    """The import that read 525 %: structures that left the file are closed on the import's day, and keep the
    opening date the file gave (``dateouv``); this year's population still holds them."""
    from crm.seed.finess_file import generate_establishments, write_establishments
    from crm.structures.finess import import_finess

    establishments = generate_establishments(["81"], 8, seed=3)
    import_finess(write_establishments(tmp_path / "full.csv", establishments))
    structures = list(
        db.session.scalars(select(Structure).where(Structure.department_code == "81").order_by(Structure.finess_et))
    )
    assert {s.finess_et: s.opened_on for s in structures} == {
        row["nofinesset"]: date.fromisoformat(row["dateouv"]) for row in establishments
    }
    inform(structures, make_user("animateur", ["81"]), local_today())
    process_pending()
    [before] = participation(year(local_today().year))
    assert before.numerator == before.denominator > 0

    partial = write_establishments(tmp_path / "partial.csv", establishments[:2])
    refused = import_finess(partial)  # 6 closures of 8 open structures: refused unless confirmed
    assert (
        refused.refused
        and refused.closed == 0
        and not db.session.scalar(select(func.count()).select_from(Structure).where(Structure.is_open.is_(False)))
    )
    summary = import_finess(partial, confirmed_closures=6)
    assert summary.closed == 6
    closed = db.session.scalars(select(Structure).where(Structure.is_open.is_(False))).all()
    assert {s.closed_on for s in closed} == {local_today()} and all(s.opened_on for s in closed)
    process_pending()
    assert check() == []
    [after] = participation(year(local_today().year))
    assert (after.numerator, after.denominator) == (before.numerator, before.denominator)
