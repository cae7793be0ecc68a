"""registration_emails: the confirmation, waiting-list, promotion and "again" emails, with a new personal link,
queued by the dispatcher after the request (which builds neither the link nor the .ics)."""

from datetime import timedelta

from sqlalchemy import select, update

from crm.events.models import Registration, as_utc
from crm.events.registration import checkin, links, registrations
from crm.mail.models import EmailMessage
from crm.platform.extensions import db
from crm.platform.models import OutboxEvent, utcnow
from tests.conftest import run_worker_burst
from tests.events.conftest import person, personal_link
from tests.workflows.conftest import count, outbox, process, process_again, runs, set_rule, state

RULE = "registration_emails"


def emails(kind=None) -> list[EmailMessage]:
    query = select(EmailMessage).order_by(EmailMessage.id)
    if kind:
        query = query.where(EmailMessage.kind == kind)
    return list(db.session.scalars(query))


def test_registration_is_confirmed_by_the_rule_not_the_request(make_event):
    event = make_event(capacity=10)
    registration, outcome = registrations.register(event, person(1), source="public")
    assert outcome == "inscrit"
    assert emails() == [] and registration.cancel_token_hash is None  # the request wrote the event only
    [created] = outbox("registration.created")
    assert created.processed_at is None

    process()
    [message] = emails("registration.confirmation")
    assert message.to_address == "personne1@ehpad.example.fr" and message.dedupe_key == f"{RULE}:{created.id}"
    assert "METHOD:REQUEST" in message.attachments[0]["content"]
    token = personal_link(registration)
    assert links.by_token(token) == (registration, "valide")
    assert registration.cancel_token_hash == links.hash_token(token)
    [run] = runs(RULE)
    assert run.event_id == created.id and run.outcome == "ok" and "confirmation" in run.detail
    assert state(RULE).runs == 1 and state(RULE).failures == 0


def test_waiting_list_and_promotion_emails(make_event):
    event = make_event(capacity=1)
    seated, _ = registrations.register(event, person(1), source="public")
    waiting, outcome = registrations.register(event, person(2), source="public")
    assert outcome == "attente"
    process()
    [waiting_mail] = emails("registration.waiting_list")
    assert waiting_mail.to_address == "personne2@ehpad.example.fr" and not waiting_mail.attachments
    first_link = personal_link(waiting)

    registrations.cancel(seated)
    assert emails("registration.promotion") == []
    process()
    [promotion] = emails("registration.promotion")
    assert promotion.to_address == "personne2@ehpad.example.fr" and "rendez la place" in promotion.body_text
    assert "METHOD:REQUEST" in promotion.attachments[0]["content"]
    new_link = personal_link(waiting)
    assert new_link != first_link  # the promotion's link replaces the waiting list's
    assert links.by_token(first_link)[1] == "inconnue"
    assert links.by_token(new_link) == (waiting, "valide")


def test_registering_again_asks_for_the_email_again_at_most_every_ten_minutes(make_event):
    event = make_event(capacity=5)
    registration, _ = registrations.register(event, person(1), source="public")
    again, outcome = registrations.register(event, person(1, email="PERSONNE1@ehpad.example.fr"), source="public")
    assert outcome == "existant" and again.id == registration.id
    assert outbox("registration.resend_requested") == []  # asked for seconds ago, not even sent yet
    first_link = personal_link(registration)
    registrations.register(event, person(1), source="public")
    assert outbox("registration.resend_requested") == []  # just sent
    assert len(emails()) == 1

    long_ago = utcnow() - timedelta(minutes=registrations.RESEND_MINUTES + 1)
    db.session.execute(update(EmailMessage).values(created_at=long_ago))
    db.session.execute(update(OutboxEvent).values(created_at=long_ago))
    db.session.commit()
    _, outcome = registrations.register(event, person(1), source="public")
    assert outcome == "existant" and len(outbox("registration.resend_requested")) == 1
    new_link = personal_link(registration)
    assert len(emails("registration.confirmation")) == 2
    assert links.by_token(first_link)[1] == "inconnue" and links.by_token(new_link)[1] == "valide"


def test_a_registration_changed_before_the_worker_ran_gets_only_the_email_of_its_state(make_event):
    event = make_event(capacity=5)
    cancelled, _ = registrations.register(event, person(1), source="public")
    registrations.cancel(cancelled)
    back, _ = registrations.register(event, person(2), source="public")
    registrations.cancel(back)
    registrations.register(event, person(2), source="public")  # registered, cancelled and back: one email
    process()
    assert [m.to_address for m in emails()] == ["personne2@ehpad.example.fr"]
    details = [run.detail for run in runs(RULE)]
    assert sum(detail.startswith("Pas d'email") for detail in details) == 2


def test_condition_false_for_an_imported_attendance_or_a_cancelled_event(make_event, organiser):
    from crm.events import services

    event = make_event(capacity=5)
    registration, _ = registrations.register(event, person(1), source="public")
    services.change_status(event, "annule", user=organiser)  # the cancellation email is the organiser's
    process()
    assert [m.kind for m in emails()] == ["event.cancelled"]
    assert runs(RULE)[0].detail == "Pas d'email : événement au statut « Annulé »."

    # An attendance import writes registration.created for someone already present: not a seat taken.
    event = make_event(capacity=5, days=0)  # attendance is noted from the event's day on
    imported, _ = registrations.register(event, person(3), source="back_office")
    checkin.mark_attendance(imported, "present")
    db.session.execute(
        update(OutboxEvent)
        .where(OutboxEvent.type == "registration.created", OutboxEvent.aggregate_id == imported.id)
        .values(payload={**outbox("registration.created")[-1].payload, "status": "present"})
    )
    db.session.commit()
    before = len(runs(RULE))
    process()
    assert len(runs(RULE)) == before and count(EmailMessage, EmailMessage.related_id == imported.id) == 0


def test_processing_the_same_events_again_sends_nothing_more(make_event):
    event = make_event(capacity=1)
    registrations.register(event, person(1), source="public")
    registrations.register(event, person(2), source="public")
    process()
    tokens = dict(db.session.execute(select(Registration.id, Registration.cancel_token_hash)).all())
    assert count(EmailMessage) == 2
    process_again()
    assert count(EmailMessage) == 2 and len(runs(RULE)) == 2
    assert dict(db.session.execute(select(Registration.id, Registration.cancel_token_hash)).all()) == tokens
    # Even without the run log (a rule run by hand, a run row lost): the dedupe key holds.
    from workflows.models import RuleRun

    db.session.execute(RuleRun.__table__.delete())
    db.session.commit()
    process_again()
    assert count(EmailMessage) == 2
    assert dict(db.session.execute(select(Registration.id, Registration.cancel_token_hash)).all()) == tokens


def test_a_disabled_rule_sends_nothing_and_lets_the_events_pass(make_event):
    set_rule(RULE, enabled=False)
    event = make_event(capacity=5)
    registrations.register(event, person(1), source="public")
    process()
    assert emails() == [] and runs(RULE) == []
    assert outbox("registration.created")[0].processed_at is not None


def test_a_failing_email_fails_its_event_with_back_off_and_not_the_others(make_event, break_rule):
    event = make_event(capacity=5)
    first, _ = registrations.register(event, person(1), source="public")
    registrations.register(event, person(2), source="public")
    break_rule(RULE, fails=lambda domain_event: domain_event.aggregate_id == first.id)
    result = process()
    assert result.failed == 1 and result.processed >= 1
    assert [m.to_address for m in emails()] == ["personne2@ehpad.example.fr"]
    failed = next(e for e in outbox("registration.created") if e.aggregate_id == first.id)
    assert failed.processed_at is None and failed.attempts == 1 and as_utc(failed.next_attempt_at) > utcnow()
    assert "panne simulée" in failed.last_error
    assert state(RULE).failures == 1 and "panne simulée" in state(RULE).last_error
    [failure] = runs(RULE, "echec")
    assert failure.event_id == failed.id and failure.run_key is None


def test_a_real_worker_on_the_outbox_queue_sends_the_confirmation(make_event, test_env, redis_conn):
    event = make_event(capacity=5)
    registration, _ = registrations.register(event, person(1), source="public")
    run_worker_burst(test_env, queues=("outbox",))
    db.session.expire_all()
    [message] = emails("registration.confirmation")
    assert message.related_id == registration.id
    assert outbox("registration.created")[0].processed_at is not None
