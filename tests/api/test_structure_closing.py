"""The day a structure closed (``closed_on``): given in the form or the API, or today; validated in French;
its change audited and sent as an event that moves the indicators."""

from datetime import date, timedelta

from sqlalchemy import func, select, update

from crm.indicators.readmodel import models as m
from crm.indicators.readmodel.check import check
from crm.platform.dates import local_today
from crm.platform.extensions import db
from crm.platform.models import AuditEntry, OutboxEvent
from crm.structures.models import Structure
from tests.conftest import login, post
from workflows.dispatch import process_pending

TODAY = local_today()


def _counts():
    return (
        db.session.scalar(select(func.count()).select_from(AuditEntry)),
        db.session.scalar(select(func.count()).select_from(OutboxEvent)),
    )


def _fact(structure_id):
    facts = m.StructureFact.__table__
    return db.session.execute(
        select(facts.c.structure_open, facts.c.closed_on).where(facts.c.structure_id == structure_id)
    ).one()


def test_api_closes_on_the_day_given_with_audit_and_event(animator_api, make_structure):
    structure = make_structure(name="EHPAD du Parc")
    process_pending()
    day = TODAY - timedelta(days=40)
    response = animator_api.patch(
        f"/api/v1/structures/{structure.id}", {"is_open": False, "closed_on": day.isoformat()}
    )
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["closed_on"] == day.isoformat() and response.get_json()["is_open"] is False
    entry = db.session.scalars(
        select(AuditEntry).where(AuditEntry.entity_id == structure.id).order_by(AuditEntry.id.desc())
    ).first()
    assert entry.changes["closed_on"] == [None, day.isoformat()] and entry.changes["is_open"] == [True, False]
    event = db.session.scalars(select(OutboxEvent).order_by(OutboxEvent.id.desc())).first()
    assert (event.type, event.aggregate_type, event.aggregate_id) == ("structure.closed", "structure", structure.id)
    process_pending()
    assert tuple(_fact(structure.id)) == (False, day)
    # A later correction of the date alone is a change too: audited, sent, and the indicators follow.
    earlier = day - timedelta(days=10)
    response = animator_api.patch(f"/api/v1/structures/{structure.id}", {"closed_on": earlier.isoformat()})
    assert response.status_code == 200 and response.get_json()["closed_on"] == earlier.isoformat()
    assert db.session.scalars(select(OutboxEvent.type).order_by(OutboxEvent.id.desc())).first() == "structure.updated"
    process_pending()
    assert tuple(_fact(structure.id)) == (False, earlier)
    assert check() == []


def test_api_refuses_a_future_date_or_one_before_the_opening(animator_api, make_structure):
    structure = make_structure(name="EHPAD du Parc")
    db.session.execute(update(Structure).where(Structure.id == structure.id).values(opened_on=date(2020, 3, 2)))
    db.session.commit()
    before = _counts()
    cases = {
        (TODAY + timedelta(days=1)).isoformat(): "ne peut pas être dans le futur",
        "2020-03-01": "ne peut pas précéder la date d'ouverture (02/03/2020)",
        "2020-02-30": "Date invalide",
        "demain": "Date invalide",
    }
    for value, message in cases.items():
        response = animator_api.patch(f"/api/v1/structures/{structure.id}", {"is_open": False, "closed_on": value})
        assert response.status_code in (400, 422), (value, response.get_json())
        error = response.get_json()["error"]
        assert message in error["fields"].get("closed_on", error["message"]), (value, error)
    assert _counts() == before
    db.session.expire_all()
    fresh = db.session.get(Structure, structure.id)
    assert fresh.is_open and fresh.closed_on is None and fresh.version == 1
    # The opening day itself is accepted.
    response = animator_api.patch(f"/api/v1/structures/{structure.id}", {"is_open": False, "closed_on": "2020-03-02"})
    assert response.status_code == 200 and response.get_json()["opened_on"] == "2020-03-02"


def test_api_reopening_clears_the_date_and_a_new_date_on_an_open_structure_is_refused(animator_api, make_structure):
    structure = make_structure(name="EHPAD du Parc")
    animator_api.patch(f"/api/v1/structures/{structure.id}", {"is_open": False})
    db.session.expire_all()
    assert db.session.get(Structure, structure.id).closed_on == TODAY  # closed without a date: today
    refused = animator_api.patch(
        f"/api/v1/structures/{structure.id}", {"is_open": True, "closed_on": (TODAY - timedelta(days=3)).isoformat()}
    )
    assert refused.status_code == 422 and "Une structure ouverte" in refused.get_json()["error"]["fields"]["closed_on"]
    reopened = animator_api.patch(f"/api/v1/structures/{structure.id}", {"is_open": True})
    assert reopened.status_code == 200 and reopened.get_json()["closed_on"] is None
    assert db.session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first().changes["closed_on"] == [
        TODAY.isoformat(),
        None,
    ]


def test_created_closed_without_a_date_keeps_none(animator_api):
    response = animator_api.post(
        "/api/v1/structures", {"name": "Ancien EHPAD", "department_code": "31", "is_open": False}
    )
    assert response.status_code == 201 and response.get_json()["closed_on"] is None
    dated = animator_api.post(
        "/api/v1/structures",
        {"name": "Ancien CH", "department_code": "31", "is_open": False, "closed_on": "2024-05-31"},
    )
    assert dated.status_code == 201 and dated.get_json()["closed_on"] == "2024-05-31"


def test_form_takes_the_closing_date_and_explains_a_bad_one(client, make_user, make_structure):
    structure = make_structure(name="SSIAD du Lauragais")
    login(client, make_user("animateur", ["31"]))
    form = {"name": structure.name, "department_code": "31", "version": structure.version, "closed_on": ""}
    page = client.get(f"/structures/{structure.id}/modifier").get_data(as_text=True)
    assert 'name="closed_on"' in page and 'type="date"' in page
    future = post(
        client, f"/structures/{structure.id}/modifier", {**form, "closed_on": (TODAY + timedelta(days=2)).isoformat()}
    )  # "is_open" unchecked: closed
    assert future.status_code == 422
    assert "La date de fermeture ne peut pas être dans le futur." in future.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Structure, structure.id).is_open
    day = TODAY - timedelta(days=5)
    ok = post(client, f"/structures/{structure.id}/modifier", {**form, "closed_on": day.isoformat()})
    assert ok.status_code == 302
    db.session.expire_all()
    saved = db.session.get(Structure, structure.id)
    assert not saved.is_open and saved.closed_on == day
    assert f"Fermée le {day:%d/%m/%Y}" in client.get(f"/structures/{structure.id}").get_data(as_text=True)
