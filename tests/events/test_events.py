"""Events through their life: validation, transitions, duplication (a TOP e-santé tour), cancellation."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from crm.events import services
from crm.events.models import Event, as_utc
from crm.events.registration import registrations
from crm.mail.models import EmailMessage
from crm.platform.extensions import db
from crm.platform.models import OutboxEvent, utcnow
from crm.platform.validation import ValidationFailed
from crm.structures.services import StaleEdit
from tests.events.conftest import person


def _types():
    return [
        e.type
        for e in db.session.scalars(
            select(OutboxEvent).where(OutboxEvent.aggregate_type == "event").order_by(OutboxEvent.id)
        )
    ]


def test_dates_are_entered_in_paris_time_and_stored_in_utc(organiser, event_type):
    event = services.create_event(
        {
            "type_id": str(event_type.id),
            "title": "Webinaire INS",
            "starts_at": "2026-07-02T10:00",
            "ends_at": "2026-07-02T11:30",
            "online_url": "https://visio.example.fr/ins",
        },
        user=organiser,
    )
    assert as_utc(event.starts_at).isoformat() == "2026-07-02T08:00:00+00:00"  # summer time
    assert event.status == "brouillon" and event.uid.endswith("@maillage") and event.slug
    assert event.organiser_id == organiser.id
    assert _types() == ["event.created"]


@pytest.mark.parametrize(
    "field,value",
    [
        ("title", ""),
        ("type_id", "x"),
        ("type_id", "9999"),
        ("starts_at", "demain"),
        ("starts_at", "1850-01-01T10:00"),
        ("ends_at", "2026-07-02T09:00"),
        ("capacity", "0"),
        ("capacity", "beaucoup"),
        ("online_url", "javascript:alert(1)"),
        ("department_code", "ZZ"),
        ("programme_ids", ["abc"]),
        ("programme_ids", ["999999"]),
        ("offer_ids", "0"),
        ("organiser_id", "999999"),
        ("registration_closes_at", "2026-07-03T10:00"),
        ("series_id", "77777"),
    ],
)
def test_bad_event_fields_are_refused_with_nothing_written(organiser, event_type, field, value):
    data = {
        "type_id": event_type.id,
        "title": "Atelier",
        "starts_at": "2026-07-02T10:00",
        "ends_at": "2026-07-02T12:00",
        "place_name": "ARS",
        "department_code": "31",
        field: value,
    }
    with pytest.raises(ValidationFailed) as error:
        services.create_event(data, user=organiser)
    assert field in error.value.errors
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Event)) == 0


def test_a_place_or_a_link_is_required(organiser, event_type):
    with pytest.raises(ValidationFailed) as error:
        services.create_event(
            {
                "type_id": event_type.id,
                "title": "Atelier",
                "starts_at": "2026-07-02T10:00",
                "ends_at": "2026-07-02T12:00",
            },
            user=organiser,
        )
    assert "place_name" in error.value.errors


def test_transitions_allowed_and_refused(make_event, organiser):
    event = make_event(status="brouillon")
    with pytest.raises(ValidationFailed, match="Passage impossible"):
        services.change_status(event, "clos", user=organiser)
    services.publish_event(event, user=organiser)
    with pytest.raises(ValidationFailed, match="déjà"):
        services.publish_event(event, user=organiser)
    with pytest.raises(ValidationFailed, match="commencé"):
        services.close_event(event, user=organiser)
    event.starts_at = utcnow() - timedelta(hours=1)
    db.session.commit()
    services.close_event(event, user=organiser)
    for target in ("publie", "annule", "brouillon", "inconnu"):
        with pytest.raises(ValidationFailed):
            services.change_status(event, target, user=organiser)
    with pytest.raises(ValidationFailed, match="ne se modifie plus"):
        services.update_event(event, {"title": "Autre"}, user=organiser)
    assert _types() == ["event.created", "event.published", "event.ended"]


def test_cancelling_tells_everyone_with_method_cancel(make_event, organiser):
    event = make_event(capacity=1)
    registrations.register(event, person(1), source="public")
    registrations.register(event, person(2), source="public")
    cancelled_before, _ = registrations.register(event, person(3), source="public")
    registrations.cancel(cancelled_before)
    services.cancel_event(event, user=organiser)
    mails = db.session.scalars(
        select(EmailMessage).where(EmailMessage.kind == "event.cancelled").order_by(EmailMessage.id)
    ).all()
    assert [m.to_address for m in mails] == ["personne1@ehpad.example.fr", "personne2@ehpad.example.fr"]
    assert "METHOD:CANCEL" in mails[0].attachments[0]["content"] and mails[1].attachments == []
    assert "event.cancelled" in _types()


def test_changing_the_place_of_a_published_event_sends_the_updated_invitation(make_event, organiser):
    event = make_event(capacity=5)
    registrations.register(event, person(1), source="public")
    services.update_event(event, {"starts_at": "2026-12-01T09:00", "ends_at": "2026-12-01T17:00"}, user=organiser)
    [mail] = db.session.scalars(select(EmailMessage).where(EmailMessage.kind == "event.changed")).all()
    assert f"SEQUENCE:{event.sequence}" in mail.attachments[0]["content"]
    changed = db.session.scalars(select(OutboxEvent).where(OutboxEvent.type == "event.changed")).one()
    assert changed.payload["fields"] == ["ends_at", "starts_at"]


def test_stale_edit_is_refused(make_event, organiser):
    event = make_event()
    with pytest.raises(StaleEdit):
        services.update_event(event, {"title": "Autre"}, user=organiser, expected_version=event.version - 1)


def test_duplicating_builds_a_tour_in_one_series(make_event, organiser):
    event = make_event(capacity=80)
    copy = services.duplicate_event(
        event,
        {"starts_at": "2026-10-08T09:00", "department_code": "81", "place_name": "Albi, salle Pratgraussals"},
        user=organiser,
    )
    assert copy.status == "brouillon" and copy.uid != event.uid and copy.slug != event.slug
    assert copy.series_id == event.series_id is not None
    assert copy.department_code == "81" and copy.address is None and copy.capacity == 80
    assert as_utc(copy.starts_at).isoformat() == "2026-10-08T07:00:00+00:00"
    assert copy.ends_at - copy.starts_at == event.ends_at - event.starts_at
    with pytest.raises(ValidationFailed):
        services.duplicate_event(event, {"department_code": "000"}, user=organiser)
