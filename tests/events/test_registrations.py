"""Registering: capacity, waiting list, one registration per email, personal links, attendance."""

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from crm.events import services
from crm.events.models import Registration, as_utc
from crm.events.registration import checkin, links, registrations
from crm.mail.models import EmailMessage
from crm.mail.personal_links import reveal
from crm.platform.extensions import db
from crm.platform.models import OutboxEvent, utcnow
from crm.platform.validation import ValidationFailed
from tests.events.conftest import count_registrations, person, personal_link, send_emails


def _emails(kind=None):
    query = select(EmailMessage).order_by(EmailMessage.id)
    if kind:
        query = query.where(EmailMessage.kind == kind)
    return db.session.scalars(query).all()


def _outbox(event_type):
    return db.session.scalars(select(OutboxEvent).where(OutboxEvent.type == event_type).order_by(OutboxEvent.id)).all()


def test_registration_confirmed_with_invitation_link_and_outbox_event(make_event, make_structure):
    event = make_event(capacity=10)
    structure = make_structure(name="CH de Muret")
    registration, outcome = registrations.register(
        event, person(1, structure_id=str(structure.id), structure_name=""), source="public", client_ip="10.0.0.1"
    )
    assert outcome == "inscrit" and registration.status == "inscrit"
    assert registration.structure_id == structure.id and registration.department_code == "31"
    assert registration.consent_contact is True
    assert _emails() == []  # the registration_emails rule sends it, a moment later
    token = personal_link(registration)
    assert registration.cancel_token_hash == links.hash_token(token) != token
    assert as_utc(registration.token_expires_at) == as_utc(event.ends_at)
    [message] = _emails("registration.confirmation")
    assert message.to_address == "personne1@ehpad.example.fr"
    assert f"/e/annuler/{token}" in reveal(message, message.body_text) and token not in message.body_text
    assert "METHOD:REQUEST" in message.attachments[0]["content"]
    [created] = _outbox("registration.created")
    assert created.payload["structure_id"] == structure.id
    assert created.payload["event_type"] == "top_esante" and created.payload["department"] == "31"
    assert created.payload["structure_sector"] is None or isinstance(created.payload["structure_sector"], str)


def test_full_event_puts_people_on_the_waiting_list(make_event):
    event = make_event(capacity=1)
    first, _ = registrations.register(event, person(1), source="public")
    second, outcome = registrations.register(event, person(2), source="public")
    assert (first.status, second.status, outcome) == ("inscrit", "attente", "attente")
    send_emails()
    assert len(_emails("registration.waiting_list")) == 1
    assert personal_link(second) and len(_outbox("registration.waitlisted")) == 1


def test_same_email_twice_is_one_registration(make_event):
    event = make_event(capacity=5)
    registration, _ = registrations.register(event, person(1), source="public")
    again, outcome = registrations.register(event, person(1, email="PERSONNE1@ehpad.example.fr"), source="public")
    assert outcome == "existant" and again.id == registration.id
    assert count_registrations() == 1
    send_emails()
    assert len(_emails()) == 1  # asked for minutes ago: not again
    long_ago = utcnow() - timedelta(minutes=registrations.RESEND_MINUTES + 1)
    db.session.execute(update(EmailMessage).values(created_at=long_ago))
    db.session.execute(update(OutboxEvent).values(created_at=long_ago))
    db.session.commit()
    _, outcome = registrations.register(event, person(1), source="public")
    assert outcome == "existant" and len(_outbox("registration.resend_requested")) == 1
    assert links.by_token(personal_link(registration)) == (registration, "valide")
    assert len(_emails("registration.confirmation")) == 2 and count_registrations() == 1


def test_cancelled_registration_comes_back_when_registering_again(make_event):
    event = make_event(capacity=5)
    registration, _ = registrations.register(event, person(1), source="public")
    first_link = personal_link(registration)
    registrations.cancel(registration)
    again, outcome = registrations.register(event, person(1), source="public")
    assert again.id == registration.id and outcome == "inscrit" and again.cancelled_at is None
    assert links.by_token(first_link)[1] == "inconnue"  # the cancelled registration's link stays dead
    assert links.by_token(personal_link(again)) == (again, "valide")
    assert count_registrations() == 1


def test_cancellation_promotes_the_first_person_waiting(make_event):
    event = make_event(capacity=1)
    seated, _ = registrations.register(event, person(1), source="public")
    first_waiting, _ = registrations.register(event, person(2), source="public")
    registrations.register(event, person(3), source="public")
    promoted = registrations.cancel(seated)
    assert [r.id for r in promoted] == [first_waiting.id]
    statuses = dict(db.session.execute(select(Registration.email, Registration.status)).all())
    assert statuses == {
        "personne1@ehpad.example.fr": "annule",
        "personne2@ehpad.example.fr": "inscrit",
        "personne3@ehpad.example.fr": "attente",
    }
    assert first_waiting.promoted_at is not None
    send_emails()
    [mail] = _emails("registration.promotion")
    assert mail.to_address == "personne2@ehpad.example.fr" and "rendez la place" in mail.body_text
    assert len(_outbox("registration.cancelled")) == 1 and len(_outbox("registration.promoted")) == 1


def test_leaving_the_waiting_list_promotes_nobody(make_event):
    event = make_event(capacity=1)
    registrations.register(event, person(1), source="public")
    waiting, _ = registrations.register(event, person(2), source="public")
    third, _ = registrations.register(event, person(3), source="public")
    registrations.leave_waiting_list(waiting)
    assert waiting.status == "annule" and third.status == "attente"
    assert _outbox("registration.promoted") == []
    with pytest.raises(ValidationFailed):
        registrations.leave_waiting_list(waiting)


def test_raising_the_capacity_gives_seats_to_the_waiting_list(make_event, organiser):
    event = make_event(capacity=1)
    registrations.register(event, person(1), source="public")
    waiting, _ = registrations.register(event, person(2), source="public")
    services.update_event(event, {"capacity": "2"}, user=organiser)
    assert waiting.status == "inscrit"


def test_personal_link_states(make_event):
    event = make_event(capacity=5)
    registration, _ = registrations.register(event, person(1), source="public")
    token = personal_link(registration)
    assert links.by_token(token) == (registration, "valide")
    assert links.by_token(token[:-2] + "xx")[1] == "inconnue"
    assert links.by_token("")[1] == "inconnue"
    assert links.by_token("a" * 500)[1] == "inconnue"
    registration.token_expires_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    assert links.by_token(token)[1] == "expiree"
    registration.token_expires_at = utcnow() + timedelta(days=1)
    registrations.cancel(registration)
    assert links.by_token(token)[1] == "annulee"


@pytest.mark.parametrize(
    "field,value",
    [
        ("first_name", ""),
        ("last_name", "   "),
        ("email", "pas-une-adresse"),
        ("email", "a@b"),
        ("email", "x" * 250 + "@a.fr"),
        ("function", "f" * 121),
        ("structure_id", "abc"),
        ("structure_id", "99999999"),
        ("structure_id", "-3"),
        ("department_code", "999"),
        ("structure_name", "s" * 256),
        ("consent_contact", "peut-être"),
        ("first_name", ["liste"]),
        ("email", {"objet": 1}),
    ],
)
def test_bad_person_fields_are_refused_and_nothing_is_written(make_event, field, value):
    event = make_event(capacity=5)
    before = (count_registrations(), len(_emails()))
    data = person(1, **{field: value})
    with pytest.raises(ValidationFailed) as error:
        registrations.register(event, data, source="public")
    assert field in error.value.errors
    db.session.rollback()
    assert (count_registrations(), len(_emails())) == before


def test_structure_is_required_on_the_public_page_but_not_for_a_walk_in(make_event):
    event = make_event(capacity=5)
    with pytest.raises(ValidationFailed) as error:
        registrations.register(event, person(1, structure_name="", department_code=""), source="public")
    assert "structure_name" in error.value.errors
    db.session.rollback()
    registration, _ = registrations.register(
        event, person(1, structure_name="", department_code=""), source="back_office"
    )
    assert registration.status == "inscrit"


def test_registration_window_and_status(make_event):
    draft = make_event(status="brouillon")
    with pytest.raises(registrations.RegistrationClosed, match="pas ouvertes"):
        registrations.register(draft, person(1), source="public")
    db.session.rollback()
    later = make_event(registration_opens_at=utcnow() + timedelta(days=2))
    with pytest.raises(registrations.RegistrationClosed, match="pas encore"):
        registrations.register(later, person(1), source="public")
    db.session.rollback()
    over = make_event(registration_closes_at=utcnow() + timedelta(days=1))
    over.registration_closes_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    with pytest.raises(registrations.RegistrationClosed, match="closes"):
        registrations.register(over, person(1), source="api")
    db.session.rollback()
    assert count_registrations() == 0
    # The team still adds someone by hand to a draft.
    registration, _ = registrations.register(draft, person(2), source="back_office")
    assert registration.source == "back_office"


def test_attendance_and_finishing_the_check_in(make_event, organiser):
    event = make_event(capacity=10, days=0)
    here, _ = registrations.register(event, person(1), source="public")
    excused, _ = registrations.register(event, person(2), source="public")
    missing, _ = registrations.register(event, person(3), source="public")
    checkin.mark_attendance(here, "present", user_id=organiser.id)
    checkin.mark_attendance(excused, "excuse", user_id=organiser.id)
    assert here.attended_at is not None
    assert checkin.finish_check_in(event, user_id=organiser.id) == 1
    assert (here.status, excused.status, missing.status) == ("present", "excuse", "absent")
    assert len(_outbox("attendance.recorded")) == 3
    with pytest.raises(ValidationFailed):
        checkin.mark_attendance(here, "inscrit")
    with pytest.raises(ValidationFailed, match="présence"):
        registrations.cancel(here)


def test_moving_the_event_moves_the_links_expiry(make_event, organiser):
    event = make_event(capacity=5)
    registration, _ = registrations.register(event, person(1), source="public")
    token = personal_link(registration)
    services.update_event(event, {"ends_at": as_utc(event.ends_at) + timedelta(days=3)}, user=organiser)
    db.session.refresh(registration)
    assert as_utc(registration.token_expires_at) == as_utc(event.ends_at)
    assert links.by_token(token)[1] == "valide"
