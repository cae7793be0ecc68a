"""The read model kept by the dispatcher equals a full recomputation, whatever the order and however
many times events are processed; and its rows say what the indicators must say."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select, update

from crm.activities.services import log_activity
from crm.indicators.readmodel import models as m
from crm.indicators.readmodel.check import check
from crm.indicators.readmodel.rebuild import rebuild
from crm.pipeline import services as pipeline
from crm.platform.extensions import db
from crm.platform.models import OutboxEvent
from crm.structures.services import update_structure
from tests.indicators.conftest import offer
from workflows.dispatch import process_pending


def _activity(t, structures, *, information=True, offers=(), user=None, day=None):
    return log_activity(
        {
            "kind": "visite",
            "structure_ids": [s.id for s in structures],
            "offer_ids": [offer(code).id for code in offers],
            "is_information": information,
            "occurred_on": (day or t.today).isoformat(),
        },
        user=user or t.animator,
    )


def _count(model, *where):
    return db.session.scalar(select(func.count()).select_from(model.__table__).where(*where))


def _open_structures(department: str) -> dict[str, int]:
    """Open structures per sector of a department, as the read model's structure facts say."""
    facts = m.StructureFact
    return dict(
        db.session.execute(
            select(facts.sector, func.count())
            .where(facts.department_code == department, facts.structure_open.is_(True))
            .group_by(facts.sector)
        ).all()
    )


def _scenario(t):
    _activity(t, [t.ehpad, t.cpts], offers=["VT_GRAND_AGE"])  # one meeting, two structures
    _activity(t, [t.ehpad], offers=["SPICO_DOSSIERS"], day=t.yesterday)
    _activity(t, [t.ch], information=False, offers=["TELEO"])  # not an information activity
    _activity(t, [t.ehpad_46], user=t.animator_46)
    won = pipeline.create_opportunity(
        {"structure_id": t.ehpad.id, "offer_id": offer("VT_GRAND_AGE").id, "title": "ViaTrajectoire"}, user=t.animator
    )
    for stage in ("qualifiee", "proposee", "gagnee"):
        pipeline.change_stage(won, stage, user=t.animator)
    pipeline.create_opportunity(
        {"structure_id": t.ch.id, "offer_id": offer("TELEO").id, "title": "Téléo"}, user=t.animator
    )
    pipeline.create_project(
        {"structure_id": t.ch.id, "offer_id": offer("INS").id, "title": "INS au CH"}, user=t.animator
    )
    return won


def test_incremental_equals_rebuild_and_counts_are_right(territory):
    t = territory
    _scenario(t)
    result = process_pending()
    assert result.processed > 0 and result.failed == 0
    assert check() == []

    days = m.ParticipationDay.__table__
    # EHPAD (two days), CPTS, EHPAD du Lot took part in information activities; the CH did not.
    assert {row.structure_id for row in db.session.execute(select(days.c.structure_id))} == {
        t.ehpad.id,
        t.cpts.id,
        t.ehpad_46.id,
    }
    assert _count(m.ParticipationDay, days.c.structure_id == t.ehpad.id) == 2
    cells = db.session.execute(
        select(
            func.sum(m.OpportunityCell.opportunities),
            func.sum(m.OpportunityCell.transformed),
            func.sum(m.OpportunityCell.won),
        )
    ).one()
    assert tuple(cells) == (2, 1, 1)
    engagement = db.session.execute(select(m.Engagement.structure_id, m.Engagement.projects)).all()
    assert sorted(engagement) == sorted([(t.ehpad.id, 1), (t.ch.id, 1)])
    counts = _open_structures("31")
    assert counts == {"medico_social": 1, "sanitaire": 1, "exercice_coordonne": 1}


def test_processing_twice_changes_nothing(territory):
    _scenario(territory)
    process_pending()
    before = {
        model.__tablename__: sorted(map(tuple, db.session.execute(select(model.__table__)).all()))
        for model in (m.ParticipationDay, m.OpportunityCell, m.Engagement, m.OfferPresentationCell)
    }
    db.session.execute(update(OutboxEvent).values(processed_at=None))
    db.session.commit()
    again = process_pending()
    assert again.processed > 0
    after = {
        model.__tablename__: sorted(map(tuple, db.session.execute(select(model.__table__)).all()))
        for model in (m.ParticipationDay, m.OpportunityCell, m.Engagement, m.OfferPresentationCell)
    }
    assert after == before
    assert check() == []


def test_out_of_order_processing_converges(territory):
    """Newest events first (as two workers may do): the result is the same as in order."""
    t = territory
    _scenario(t)
    ids = list(db.session.scalars(select(OutboxEvent.id).order_by(OutboxEvent.id.desc())))
    from crm.indicators.readmodel.rebuild import ensure_built
    from crm.indicators.readmodel.upkeep import apply_events
    from workflows.dispatch import _claim

    ensure_built()
    events = _claim(10_000)
    events.sort(key=lambda event: -event.id)
    apply_events(events)
    db.session.execute(update(OutboxEvent).where(OutboxEvent.id.in_(ids)).values(processed_at=func.now()))
    db.session.commit()
    assert check() == []


def test_a_structure_that_moves_takes_its_figures_along(territory):
    t = territory
    _scenario(t)
    process_pending()
    update_structure(
        t.ehpad,
        {
            "name": t.ehpad.name,
            "sector_id": t.ehpad.sector_id,
            "department_code": "46",
            "commune": "Figeac",
            "is_open": True,
        },
    )
    process_pending()
    assert check() == []
    days = m.ParticipationDay.__table__
    assert set(db.session.scalars(select(days.c.department_code).where(days.c.structure_id == t.ehpad.id))) == {"46"}
    facts = m.OpportunityFact.__table__
    assert set(db.session.scalars(select(facts.c.department_code).where(facts.c.structure_id == t.ehpad.id))) == {"46"}


def test_check_reports_a_tampered_cell(territory):
    _scenario(territory)
    process_pending()
    db.session.execute(update(m.OpportunityCell).values(opportunities=m.OpportunityCell.opportunities + 1))
    db.session.commit()
    differences = check()
    assert [d.table for d in differences] == ["ind_opportunity_cells"]
    assert differences[0].missing >= 1 and differences[0].extra >= 1
    rebuild()
    assert check() == []


def test_cells_move_by_the_structures_that_enter_or_leave_them(territory):
    """The participation cells change by distinct structures: two days of one structure count once, and a
    cell its last structure left is deleted, as a rebuild would not have it."""
    t = territory
    _scenario(t)
    process_pending()
    cells = m.ParticipationCell.__table__

    def structures(department):
        return dict(
            db.session.execute(
                select(cells.c.sector, func.sum(cells.c.structures))
                .where(
                    cells.c.period_kind == "annee",
                    cells.c.period_start == date(t.today.year, 1, 1),
                    cells.c.department_code == department,
                    cells.c.programme_id == m.ANY,
                    cells.c.animator_id == m.ANY,
                )
                .group_by(cells.c.sector)
            ).all()
        )

    # This year: the EHPAD (today and yesterday), the CPTS; the CH's activity was not informative.
    assert structures("31") == {"medico_social": 1, "exercice_coordonne": 1}
    assert structures("46") == {"medico_social": 1}
    update_structure(
        t.ehpad,
        {
            "name": t.ehpad.name,
            "sector_id": t.ehpad.sector_id,
            "department_code": "46",
            "commune": "Figeac",
            "is_open": True,
        },
    )
    process_pending()
    assert structures("31") == {"exercice_coordonne": 1}
    assert structures("46") == {"medico_social": 2}
    assert not db.session.scalar(select(func.count()).select_from(cells).where(cells.c.structures <= 0))
    assert check() == []


def test_rebuild_counts_the_changes_of_its_own_transaction(territory):
    """On PostgreSQL the rebuild's connections see committed records only: the caller's pending change is
    committed first rather than left out."""
    from crm.structures.models import Structure

    t = territory
    db.session.execute(update(Structure).where(Structure.id == t.ch.id).values(is_open=False))
    rebuild()
    counts = _open_structures("31")
    assert counts.get("sanitaire", 0) == 0 and counts["medico_social"] == 1
    assert check() == []


def test_an_activity_processed_before_the_move_of_its_structure(territory, make_user):
    """A structure moves to another department; a new activity's event is processed before the move's
    (two workers): its day must not fail on the old activities' department, and the move's event then
    puts everything in the new department."""
    from crm.indicators.readmodel.upkeep import apply_events
    from workflows.dispatch import _claim

    t = territory
    admin = make_user("admin")  # may log activities in both departments
    _activity(t, [t.ehpad], offers=["VT_GRAND_AGE"], user=admin)
    process_pending()
    update_structure(
        t.ehpad,
        {
            "name": t.ehpad.name,
            "sector_id": t.ehpad.sector_id,
            "department_code": "46",
            "commune": "Figeac",
            "is_open": True,
        },
    )
    _activity(t, [t.ehpad], offers=["VT_GRAND_AGE"], user=admin)  # the same day, programme and author
    apply_events([event for event in _claim(100) if event.aggregate_type == "activity"])
    db.session.commit()
    process_pending()
    days = m.ParticipationDay.__table__
    assert set(db.session.scalars(select(days.c.department_code).where(days.c.structure_id == t.ehpad.id))) == {"46"}
    assert check() == []
