"""Demo data of the organisers' year: the TOP e-santé 2024 tour, 27 webinars, attendance, idempotent."""

from __future__ import annotations

from sqlalchemy import func, select

from crm.events.models import Event, EventSeries, EventType, Registration
from crm.platform.extensions import db
from crm.platform.models import OutboxEvent
from crm.seed import run_seed
from crm.seed.events import SERIES_TITLE, seed_events
from tests.events.calendars import parse_both, vevents_by_uid


def _count(query) -> int:
    return db.session.scalar(select(func.count()).select_from(query.subquery()))


def test_seeded_year_of_events(app, client):
    report = run_seed("demo", echo=lambda *a, **k: None)
    assert any(line.startswith("Événements : série « TOP e-santé 2024 »") for line in report)

    series = db.session.scalars(select(EventSeries).where(EventSeries.title == SERIES_TITLE)).one()
    assert sorted(e.department_code for e in series.events) == ["09", "31", "32", "65", "81", "82"]
    assert all(e.type.code == "top_esante" and e.status == "clos" and e.starts_at.year == 2024 for e in series.events)
    webinars = db.session.scalars(select(Event).join(EventType).where(EventType.code == "webinaire")).all()
    past_webinars = [w for w in webinars if w.status == "clos"]
    assert len(past_webinars) == 27 and all(w.online_url for w in past_webinars)

    trained = db.session.scalar(
        select(func.count())
        .select_from(Registration)
        .where(Registration.event_id.in_([w.id for w in past_webinars]), Registration.status == "present")
    )
    assert 1_300 <= trained <= 1_700  # "1 500 professionnels formés"

    for event in db.session.scalars(select(Event)):
        seats = _count(
            select(Registration.id).where(
                Registration.event_id == event.id, Registration.status.in_(("inscrit", "present"))
            )
        )
        assert event.capacity is None or seats <= event.capacity
    registrations = _count(select(Registration.id))
    matched = _count(select(Registration.id).where(Registration.contact_id.is_not(None)))
    by_hand = _count(select(Registration.id).where(Registration.structure_id.is_(None)))
    assert 0 < matched < registrations and 0 < by_hand < registrations * 0.2
    assert _count(select(OutboxEvent.id).where(OutboxEvent.type == "registration.created")) == registrations
    assert _count(select(OutboxEvent.id).where(OutboxEvent.type == "attendance.recorded")) > trained
    surveys = db.metadata.tables.get("survey_responses")  # with the attendance work merged
    if surveys is not None:
        answers = _count(select(surveys.c.id))
        useful = _count(select(surveys.c.id).where(surveys.c.useful.is_(True)))
        assert 0.3 * trained < answers < trained and 0.84 <= useful / answers <= 0.94  # "89 % utiles"
        assert _count(select(OutboxEvent.id).where(OutboxEvent.type == "survey.answered")) == answers
    upcoming = db.session.scalars(select(Event).where(Event.status == "publie")).all()
    assert len(upcoming) == 2

    # The public feed shows what is coming; both parsers read it.
    _, calendar = parse_both(client.get("/calendrier/evenements.ics").data)
    assert {e.uid for e in upcoming} <= set(vevents_by_uid(calendar))

    assert seed_events(["31"]) == [f"Événements : la série « {SERIES_TITLE} » existe déjà, rien d'ajouté."]
    assert _count(select(Registration.id)) == registrations
