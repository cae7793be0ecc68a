"""Retention: registrants who are not contacts are anonymised N months after the event, counts kept."""

from datetime import UTC, datetime, timezone

from sqlalchemy import func, select

from crm.events.followup.retention import anonymise_registrants, months_before
from crm.events.followup.survey_models import SurveyInvitation, SurveyResponse
from crm.indicators.events import event_figures
from crm.mail.models import EmailMessage
from crm.mail.services import queue_email
from crm.platform.extensions import db
from crm.platform.models import AuditEntry, OutboxEvent
from crm.structures.contacts import save_contact
from tests.events.factories import add_registration, make_event


def test_months_before_handles_month_ends():
    moment = datetime(2026, 3, 31, 12, tzinfo=UTC)
    assert months_before(moment, 24) == datetime(2024, 3, 31, 12, tzinfo=UTC)
    assert months_before(moment, 1) == datetime(2026, 2, 28, 12, tzinfo=UTC)
    assert months_before(moment, 0) == moment


def test_old_registrants_without_contact_are_anonymised_once_counts_kept(app, make_structure):
    structure = make_structure()
    contact = save_contact(structure, None, {"first_name": "Paul", "last_name": "Contact", "email": "paul@ehpad.fr"})
    db.session.commit()
    old = make_event(title="TOP e-santé 2023", days_ago=800)
    recent = make_event(title="Webinaire récent", days_ago=200)
    gone = add_registration(
        old,
        "Helene.Meric@ehpad.fr",
        first_name="Hélène",
        last_name="Méric",
        status="present",
        structure=structure,
        function="Directrice",
        client_ip="192.0.2.7",
    )
    waiting = add_registration(
        old, "w@x.fr", status="annule", structure_name="Cabinet du Dr Roux", department_code="32"
    )
    kept = add_registration(
        old, "paul@ehpad.fr", first_name="Paul", status="present", structure=structure, contact=contact
    )
    young = add_registration(recent, "young@x.fr", status="present")
    db.session.add(SurveyResponse(registration_id=gone.id, event_id=old.id, useful=True, score=5))
    db.session.add(SurveyInvitation(registration_id=gone.id, token_hash="a" * 64, expires_at=old.ends_at))
    queue_email(
        kind="survey",
        to_address=gone.email,
        to_name="Hélène Méric",
        subject="Votre avis",
        body_text="Bonjour Hélène",
        related=("registration", gone.id),
    )
    db.session.commit()
    before = event_figures([old.id])[old.id]

    summary = anonymise_registrants()
    assert summary.events == {old.id: 2} and summary.months == 24

    db.session.expire_all()
    for registration in (gone, waiting):
        assert (registration.first_name, registration.last_name) == ("Participant", "anonymisé")
        assert registration.email == f"anonyme-{registration.id}@anonyme.invalid"
        assert registration.email_key == registration.email
        assert registration.function is None and registration.client_ip is None and registration.name_key == ""
        assert registration.structure_name is None
    assert gone.structure_id == structure.id and gone.status == "present"
    assert waiting.department_code == "32"
    assert kept.email == "paul@ehpad.fr" and young.email == "young@x.fr"
    message = db.session.scalar(select(EmailMessage))
    assert message.to_address == f"anonyme-{gone.id}@anonyme.invalid" and "Hélène" not in message.body_text
    assert message.to_name is None
    assert db.session.scalar(select(func.count()).select_from(SurveyInvitation)) == 0
    after = event_figures([old.id])[old.id]
    assert (after.counts, after.structures_reached, after.answers, after.by_department) == (
        before.counts,
        before.structures_reached,
        before.answers,
        before.by_department,
    )
    audit = db.session.scalars(
        select(AuditEntry).where(AuditEntry.entity_type == "event", AuditEntry.action == "anonymise")
    ).all()
    assert [(a.entity_id, a.changes) for a in audit] == [(old.id, {"inscrits_anonymises": [None, 2]})]
    outbox = db.session.scalars(select(OutboxEvent).where(OutboxEvent.type == "event.registrants_anonymised")).all()
    assert sorted(outbox[0].payload["registration_ids"]) == sorted([gone.id, waiting.id])

    again = anonymise_registrants()
    assert again.events == {} and again.total == 0
    assert (
        db.session.scalar(
            select(func.count()).select_from(OutboxEvent).where(OutboxEvent.type == "event.registrants_anonymised")
        )
        == 1
    )


def test_delay_comes_from_the_configuration_and_the_cli(app):
    recent = make_event(days_ago=200)
    add_registration(recent, "young@x.fr", status="present")
    runner = app.test_cli_runner()
    result = runner.invoke(args=["crm", "events", "anonymise", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "0 inscrit(s) à anonymiser sur 0 événement(s)" in result.output
    app.config["REGISTRANT_RETENTION_MONTHS"] = 6
    try:
        result = runner.invoke(args=["crm", "events", "anonymise", "--dry-run"])
        assert "1 inscrit(s) à anonymiser sur 1 événement(s)" in result.output
        assert (
            db.session.scalar(
                select(func.count()).select_from(OutboxEvent).where(OutboxEvent.type == "event.registrants_anonymised")
            )
            == 0
        )
        result = runner.invoke(args=["crm", "events", "anonymise"])
        assert "délai de 6 mois" in result.output and "1 inscrit(s) anonymisé(s)" in result.output
    finally:
        app.config["REGISTRANT_RETENTION_MONTHS"] = 24
    result = runner.invoke(args=["crm", "events", "anonymise", "--months", "-3"])
    assert result.exit_code == 2
