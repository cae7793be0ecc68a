"""event_reminder: a reminder before the event, once per person, to seats only, never for a cancelled or begun event."""

from datetime import timedelta

from sqlalchemy import select

from crm.events import services
from crm.events.models import as_utc
from crm.events.registration import registrations
from crm.mail.models import EmailMessage
from crm.platform.extensions import db
from tests.events.conftest import person
from tests.workflows.conftest import count, process, runs, set_rule, state, sweep

RULE = "event_reminder"


def reminders() -> list[EmailMessage]:
    return list(
        db.session.scalars(
            select(EmailMessage).where(EmailMessage.kind == "registration.reminder").order_by(EmailMessage.id)
        )
    )


def when(event, before: timedelta):
    """The sweep's clock, ``before`` the event starts."""
    return as_utc(event.starts_at) - before


def test_sent_once_to_each_seat_however_many_sweeps(make_event):
    event = make_event(capacity=2, days=10)
    seated = [registrations.register(event, person(n), source="public")[0] for n in (1, 2)]
    process()
    sweep(when(event, timedelta(days=2, minutes=-1)))
    sweep(when(event, timedelta(days=1)))
    assert sorted(m.to_address for m in reminders()) == sorted(r.email for r in seated)
    message = reminders()[0]
    assert message.subject == "Rappel : TOP e-santé Haute-Garonne" and "Petit rappel" in message.body_text
    assert message.dedupe_key == f"reminder:{message.related_id}"
    assert [run.run_key for run in runs(RULE)] == [f"{RULE}:registration:{r.id}" for r in seated]
    assert state(RULE).runs == 2


def test_delay_is_respected_and_configurable(make_event):
    event = make_event(days=10)
    registrations.register(event, person(1), source="public")
    sweep(when(event, timedelta(days=2, minutes=1)))  # two days and a minute before: not yet
    assert reminders() == []
    set_rule(RULE, days_before=5)
    sweep(when(event, timedelta(days=4)))
    assert len(reminders()) == 1


def test_not_for_a_cancelled_event(make_event, organiser):
    event = make_event(days=10)
    registrations.register(event, person(1), source="public")
    services.change_status(event, "annule", user=organiser)
    sweep(when(event, timedelta(days=1)))
    assert reminders() == [] and runs(RULE) == []


def test_not_once_the_event_has_begun(make_event):
    event = make_event(days=10)
    registrations.register(event, person(1), source="public")
    sweep(when(event, timedelta(minutes=-1)))  # a minute after the start: too late
    assert reminders() == []
    started = make_event(days=0)  # starts now
    registrations.register(started, person(2), source="back_office")
    sweep()
    assert reminders() == []


def test_not_to_a_cancelled_or_waiting_registration_nor_a_late_one(make_event):
    event = make_event(capacity=1, days=10)
    cancelled, _ = registrations.register(event, person(1), source="public")
    registrations.register(event, person(2), source="public")  # waiting, then given the seat
    registrations.register(event, person(3), source="public")  # waiting
    registrations.cancel(cancelled)
    sweep(when(event, timedelta(days=1)))
    assert [m.to_address for m in reminders()] == ["personne2@ehpad.example.fr"]
    # Registered after the reminder time: the confirmation was just sent, no reminder on top.
    soon = make_event(days=1)
    registrations.register(soon, person(4), source="public")
    sweep()
    assert len(reminders()) == 1


def test_disabled_rule_sends_nothing(make_event):
    set_rule(RULE, enabled=False)
    event = make_event(days=10)
    registrations.register(event, person(1), source="public")
    sweep(when(event, timedelta(days=1)))
    assert reminders() == [] and runs(RULE) == []


def test_a_failing_reminder_is_retried_and_does_not_stop_the_others(make_event, break_rule):
    event = make_event(days=10)
    first, _ = registrations.register(event, person(1), source="public")
    registrations.register(event, person(2), source="public")
    repair = break_rule(RULE, fails=lambda registration_id: registration_id == first.id)
    sweep(when(event, timedelta(days=1)))
    assert [m.to_address for m in reminders()] == ["personne2@ehpad.example.fr"]
    [failure] = runs(RULE, "echec")
    assert failure.run_key is None and f"registration:{first.id}" in failure.detail
    assert state(RULE).failures == 1 and "panne simulée" in state(RULE).last_error
    repair()  # fixed: the next sweep sends it (the failed subject was not marked done)
    sweep(when(event, timedelta(days=1)))
    assert count(EmailMessage, EmailMessage.kind == "registration.reminder") == 2
