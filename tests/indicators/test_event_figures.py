"""The events of the activity report: only those that took place, following every filter, per type and per
programme with the people present and the share who found them useful; and the offers of the events
attended counted among the offers presented, the worker's read model equal to a full recomputation."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from crm.events import services
from crm.events.followup import survey
from crm.events.followup.survey_models import SurveyInvitation
from crm.events.models import EventType
from crm.events.registration import checkin, registrations
from crm.indicators.event_report import events_by_programme, events_by_type
from crm.indicators.periods import parse_period
from crm.indicators.queries import Scope
from crm.indicators.readmodel import models as m
from crm.indicators.readmodel.check import check
from crm.indicators.report import report_figures
from crm.platform.extensions import db
from crm.platform.models import utcnow
from crm.referential.models import Programme
from crm.referential.services import region_department_codes
from tests.indicators.conftest import offer
from workflows.dispatch import process_pending


def programme(code: str) -> int:
    return db.session.scalar(select(Programme.id).where(Programme.code == code))


def make_event(
    organiser,
    type_code,
    *,
    status="publie",
    days_ago=2,
    department="31",
    online=False,
    programme_codes=(),
    offer_codes=(),
):
    start = utcnow().replace(microsecond=0) - timedelta(days=days_ago)
    type_id = db.session.scalar(select(EventType.id).where(EventType.code == type_code))
    data = {
        "type_id": type_id,
        "title": f"{type_code} {department or 'en ligne'}",
        "starts_at": start,
        "ends_at": start + timedelta(hours=2),
        "programme_ids": [programme(c) for c in programme_codes],
        "offer_ids": [offer(c).id for c in offer_codes],
    }
    if online:
        data["online_url"] = "https://visio.example.fr/salle"
    else:
        data.update(place_name="Salle du conseil", department_code=department)
    event = services.create_event(data, user=organiser)
    if status != "brouillon":
        services.change_status(event, "publie", user=organiser)
    if status in ("clos", "annule"):
        services.change_status(event, status, user=organiser)
    return event


_people = iter(range(1, 10_000))


def attend(event, structure=None, *, status="present", useful=None, department=None):
    """A registration marked ``status``; with ``useful``, its answer to the survey."""
    n = next(_people)
    data = {
        "first_name": f"Prénom{n}",
        "last_name": f"Nom{n}",
        "email": f"p{n}@structure.example.fr",
        "consent_contact": "non",
    }
    if structure is not None:
        data["structure_id"] = structure.id
    else:
        data.update(structure_name="Cabinet libéral", department_code=department or "31")
    registration, _ = registrations.register(event, data, source="back_office")
    if status != "inscrit":
        checkin.mark_attendance(registration, status)
    if useful is not None:
        survey.invite(registration)
        db.session.commit()
        invitation = db.session.scalar(
            select(SurveyInvitation).where(SurveyInvitation.registration_id == registration.id)
        )
        survey.answer_survey(invitation, {"useful": "oui" if useful else "non", "score": "4"})
    return registration


@pytest.fixture
def events(territory, make_user):
    """This month's events: two that took place with people present and answers, one without answers, and
    a draft, a cancelled day and a future webinar that must count nowhere."""
    t = territory
    t.organiser = make_user("organisateur")
    t.webinar = make_event(t.organiser, "webinaire", online=True, department=None, offer_codes=["VT_GRAND_AGE"])
    attend(t.webinar, t.ehpad, useful=True)
    attend(t.webinar, t.cpts, useful=False)
    attend(t.webinar, t.ehpad_46, useful=True)
    attend(t.webinar, t.ch, status="absent")
    t.top = make_event(t.organiser, "top_esante", programme_codes=["COORDINATION"], offer_codes=["SPICO_DOSSIERS"])
    attend(t.top, t.ch, useful=True)
    attend(t.top, department="31")  # a person with no known structure: present all the same
    services.change_status(t.top, "clos", user=t.organiser)
    t.workshop = make_event(t.organiser, "atelier", department="46", offer_codes=["TELEO"])
    attend(t.workshop, t.ehpad_46)  # present, did not answer: no satisfaction share
    t.draft = make_event(t.organiser, "top_esante", status="brouillon", offer_codes=["SPICO_DOSSIERS"])
    t.cancelled = make_event(t.organiser, "top_esante", department="46", offer_codes=["TELEO"])
    attend(t.cancelled, t.ehpad_46)
    services.change_status(t.cancelled, "annule", user=t.organiser)
    t.upcoming = make_event(
        t.organiser, "webinaire", online=True, department=None, days_ago=-3, offer_codes=["VT_GRAND_AGE"]
    )
    attend(t.upcoming, t.ehpad, status="inscrit")
    process_pending()
    t.region = tuple(region_department_codes())
    t.period = parse_period("personnalise", (t.today - timedelta(days=20)).isoformat(), t.today.isoformat())
    return t


def _by_key(rows):
    return {row.key: row for row in rows}


def test_only_events_that_took_place_count_with_their_people_and_answers(events):
    t = events
    scope = Scope(t.period, t.region)
    report = report_figures(scope)
    # The TOP day and the workshop; not the draft, not the cancelled day, not the webinar (counted apart).
    assert report.territorial_events == 2
    assert (report.webinars, report.webinar_participants) == (1, 3)
    assert (report.useful.numerator, report.useful.denominator) == (2, 3)
    by_type = _by_key(events_by_type(scope))
    assert list(by_type) == [
        "top_esante",
        "webinaire",
        "rdv_esms_numerique",
        "atelier",
        "formation",
        "communaute_pratiques",
    ]
    assert (by_type["top_esante"].events, by_type["top_esante"].present) == (1, 2)
    assert (by_type["top_esante"].useful, by_type["top_esante"].answers) == (1, 1)
    assert by_type["webinaire"].useful_share == pytest.approx(2 / 3)
    assert (by_type["atelier"].events, by_type["atelier"].present, by_type["atelier"].answers) == (1, 1, 0)
    assert by_type["atelier"].useful_share is None  # nobody answered: no data, never 0 % nor an error
    assert by_type["formation"].events == 0 and by_type["formation"].useful_share is None


def test_figures_follow_the_programme_offer_department_type_and_period(events):
    t = events
    orientation, coordination, telesante = (
        programme("ORIENTATION"),
        programme("COORDINATION"),
        offer("TELEO").programme_id,
    )
    by_programme = _by_key(events_by_programme(Scope(t.period, t.region)))
    assert {key: (row.events, row.present, row.useful, row.answers) for key, row in by_programme.items()} == {
        orientation: (1, 3, 2, 3),
        coordination: (1, 2, 1, 1),
        telesante: (1, 1, 0, 0),
    }

    # Programme: the webinar is Orientation's through its offer; the TOP day is Coordination's.
    only = report_figures(Scope(t.period, t.region, programme_id=orientation))
    assert (only.webinars, only.webinar_participants, only.territorial_events) == (1, 3, 0)
    assert list(_by_key(events_by_programme(Scope(t.period, t.region, programme_id=coordination)))) == [coordination]
    assert report_figures(Scope(t.period, t.region, programme_id=coordination)).territorial_events == 1
    # Offer.
    teleo = report_figures(Scope(t.period, t.region, offer_id=offer("TELEO").id))
    assert (teleo.territorial_events, teleo.webinars) == (1, 0)
    assert report_figures(Scope(t.period, t.region, offer_id=offer("INS").id)).territorial_events == 0
    # Department: the day of the Lot alone; the online webinar belongs to the whole region only.
    lot = report_figures(Scope(t.period, ("46",)))
    assert (lot.territorial_events, lot.webinars) == (1, 0)
    assert report_figures(Scope(t.period, ("31",))).territorial_events == 1
    # Type.
    assert _by_key(events_by_type(Scope(t.period, t.region), "atelier")).keys() == {"atelier"}
    typed = report_figures(Scope(t.period, t.region), "atelier")
    assert (typed.territorial_events, typed.webinars) == (1, 0)
    # Period: a range that ends before them sees none; the future webinar counts once its day is in range.
    before = parse_period(
        "personnalise", (t.today - timedelta(days=40)).isoformat(), (t.today - timedelta(days=21)).isoformat()
    )
    assert report_figures(Scope(before, t.region)).territorial_events == 0
    ahead = parse_period("personnalise", t.today.isoformat(), (t.today + timedelta(days=10)).isoformat())
    assert report_figures(Scope(ahead, t.region)).webinars == 1


def test_an_event_cancelled_after_the_fact_leaves_the_figures(events):
    t = events
    scope = Scope(t.period, t.region)
    services.change_status(t.workshop, "annule", user=t.organiser)
    process_pending()
    assert report_figures(scope).territorial_events == 1
    assert check() == []


def test_offers_of_attended_events_are_offers_presented(events):
    """Webinar (Orientation) to three structures of two departments: two presentations; the TOP day's SPICO
    (coordination) in one department, the person without a structure giving the same one; the workshop's
    Téléo in the Lot. Neither the draft nor the cancelled day, nor the webinar to come, present anything."""
    t = events
    facts = m.EventOfferPresentation.__table__
    rows = set(db.session.execute(select(facts.c.event_id, facts.c.offer_id, facts.c.department_code)))
    assert rows == {
        (t.webinar.id, offer("VT_GRAND_AGE").id, "31"),
        (t.webinar.id, offer("VT_GRAND_AGE").id, "46"),
        (t.top.id, offer("SPICO_DOSSIERS").id, "31"),
        (t.workshop.id, offer("TELEO").id, "46"),
    }
    report = report_figures(Scope(t.period, t.region))
    assert (report.other_offers.numerator, report.other_offers.denominator) == (3, 4)
    lot = report_figures(Scope(t.period, ("46",)))
    assert (lot.other_offers.numerator, lot.other_offers.denominator) == (2, 2)
    assert check() == []


def test_worker_equals_recomputation_as_attendance_status_and_structures_change(events):
    t = events
    from crm.structures.services import update_structure

    attend(t.workshop, t.ehpad)  # a structure of 31 at the Lot's workshop: Téléo presented in 31 too
    services.update_event(t.workshop, {"offer_ids": [offer("TELEO").id, offer("INS").id]}, user=t.organiser)
    services.change_status(t.webinar, "clos", user=t.organiser)
    update_structure(
        t.ehpad_46,
        {
            "name": t.ehpad_46.name,
            "sector_id": t.ehpad_46.sector_id,
            "department_code": "09",
            "commune": "Foix",
            "is_open": True,
        },
    )
    process_pending()
    assert check() == []
    facts = m.EventOfferPresentation.__table__
    assert set(db.session.scalars(select(facts.c.department_code).where(facts.c.event_id == t.workshop.id))) == {
        "31",
        "09",
    }
    assert (t.workshop.id, offer("INS").id) in set(db.session.execute(select(facts.c.event_id, facts.c.offer_id)))
    services.change_status(t.workshop, "annule", user=t.organiser)
    process_pending()
    assert not db.session.scalars(select(facts.c.event_id).where(facts.c.event_id == t.workshop.id)).all()
    cells = m.OfferPresentationCell.__table__
    assert not db.session.scalars(select(cells.c.offer_id).where(cells.c.offer_id == offer("TELEO").id)).all()
    assert check() == []


def test_dashboard_tables_per_type_and_programme_and_their_exports(client, events):
    import csv
    import io
    import re
    from html import unescape

    from tests.conftest import login

    t = events
    login(client, t.manager)
    span = f"periode=personnalise&debut={t.period.start.isoformat()}&fin={t.period.end.isoformat()}"
    html = unescape(client.get("/tableau-de-bord?" + span).get_data(as_text=True)).replace("\u00a0", " ")
    types = re.search(r'<table class="table compact" data-events-table="evenements-types">(.*?)</table>', html, re.S)
    assert types and "<caption>" in types.group(1) and '<th scope="col">Participants présents</th>' in types.group(1)
    rows = {m.group(1): m.group(2) for m in re.finditer(r'<tr><th scope="row">([^<]+)</th>(.*?)</tr>', types.group(1))}
    assert re.findall(r"<td>([^<]*)</td>", rows["TOP e-santé"]) == ["1", "2", "1 / 1", "100 %"]
    assert re.findall(r"<td>([^<]*)</td>", rows["Atelier"]) == ["1", "1", "0 / 0", "—"]  # no answer: no data
    assert re.findall(r"<td>([^<]*)</td>", rows["Webinaire"]) == ["1", "3", "2 / 3", "67 %"]
    assert 'data-events-table="evenements-programmes"' in html
    assert '<label for="type_evenement">Type d\'événement</label>' in html

    typed = unescape(client.get("/tableau-de-bord?" + span + "&type_evenement=atelier").get_data(as_text=True))
    assert "Événements territoriaux organisés</dt><dd>1</dd>" in typed
    assert "type_evenement=atelier" in typed  # the exports carry the filter
    refused = client.get("/tableau-de-bord?" + span + "&type_evenement=inconnu")
    assert refused.status_code == 400 and "Type d'événement inconnu." in unescape(refused.get_data(as_text=True))

    export = client.get("/indicateurs/export/evenements-types.csv?" + span + "&type_evenement=webinaire")
    assert export.status_code == 200
    lines = list(csv.reader(io.StringIO(export.get_data(as_text=True).lstrip("\ufeff")), delimiter=";"))
    assert ["Webinaire", "1", "3", "2", "3"] == next(line for line in lines if line and line[0] == "Webinaire")[:5]
    export = client.get("/indicateurs/export/evenements-programmes.csv?" + span)
    assert export.status_code == 200 and "Orientation" in export.get_data(as_text=True)
    report = client.get("/indicateurs/export/rapport.csv?" + span + "&programme=" + str(programme("COORDINATION")))
    line = next(
        line
        for line in csv.reader(io.StringIO(report.get_data(as_text=True).lstrip("\ufeff")), delimiter=";")
        if line and line[0] == "Événements territoriaux organisés"
    )
    assert line[1] == "1"
    typed = client.get("/indicateurs/export/rapport.csv?" + span + "&type_evenement=atelier").get_data(as_text=True)
    assert "Type d'événement;Atelier" in typed
