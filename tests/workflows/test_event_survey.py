"""event_survey: the survey after the event, once per participant (shared with the organiser's button), never
for a cancelled event nor to a cancelled registration, after the delay and not weeks later."""

from datetime import timedelta

from sqlalchemy import select

from crm.events.followup import survey
from crm.events.followup.survey_models import SurveyInvitation
from crm.events.models import as_utc
from crm.mail.models import EmailMessage
from crm.platform.extensions import db
from crm.platform.models import OutboxEvent
from tests.events.factories import add_registration
from tests.events.factories import make_event as event_row
from tests.workflows.conftest import count, runs, set_rule, state, sweep

RULE = "event_survey"


def surveys() -> list[EmailMessage]:
    return list(
        db.session.scalars(
            select(EmailMessage).where(EmailMessage.kind == "survey.invitation").order_by(EmailMessage.id)
        )
    )


def after_end(event, delay: timedelta):
    return as_utc(event.ends_at) + delay


def ended_event(**values):
    """An event that ended an hour ago (``days_ago=0`` starts it three hours ago, for two hours)."""
    event = event_row(days_ago=0, **values)
    event.starts_at = as_utc(event.starts_at) - timedelta(hours=3)
    event.ends_at = as_utc(event.starts_at) + timedelta(hours=2)
    db.session.commit()
    return event


def test_sent_once_to_each_participant_present_however_many_sweeps():
    event = ended_event(title="TOP e-santé Gers")
    present = [add_registration(event, f"p{n}@ehpad.fr", status="present") for n in range(2)]
    add_registration(event, "absent@ehpad.fr", status="absent")
    add_registration(event, "inscrit@ehpad.fr", status="inscrit")
    sweep(after_end(event, timedelta(hours=3)))
    sweep(after_end(event, timedelta(hours=4)))
    assert [m.to_address for m in surveys()] == [r.email for r in present]
    assert [m.dedupe_key for m in surveys()] == [f"survey:{r.id}" for r in present]
    assert count(SurveyInvitation) == 2 and state(RULE).runs == 2
    assert count(OutboxEvent, OutboxEvent.type == "event.survey_sent") == 2
    # The organiser's button afterwards: nobody is invited twice.
    assert survey.send_survey(event) == 0 and len(surveys()) == 2


def test_the_button_first_then_the_rule_sends_nothing_more():
    event = ended_event()
    add_registration(event, "p@ehpad.fr", status="present")
    assert survey.send_survey(event) == 1
    sweep(after_end(event, timedelta(hours=3)))
    assert len(surveys()) == 1 and runs(RULE) == []
    late = add_registration(event, "late@ehpad.fr", status="present")  # attendance recorded later
    sweep(after_end(event, timedelta(hours=5)))
    assert [m.to_address for m in surveys()] == ["p@ehpad.fr", late.email]


def test_delay_is_respected_and_configurable():
    event = ended_event()
    add_registration(event, "p@ehpad.fr", status="present")
    sweep(after_end(event, timedelta(hours=1, minutes=59)))  # the default: two hours after the end
    assert surveys() == []
    set_rule(RULE, hours_after=1)
    sweep(after_end(event, timedelta(hours=1, minutes=1)))
    assert len(surveys()) == 1


def test_not_weeks_after_the_event():
    event = ended_event()
    add_registration(event, "p@ehpad.fr", status="present")
    sweep(after_end(event, timedelta(days=14, minutes=1)))
    assert surveys() == []


def test_not_for_a_cancelled_event():
    event = ended_event(status="annule")
    add_registration(event, "p@ehpad.fr", status="present")
    sweep(after_end(event, timedelta(hours=3)))
    assert surveys() == [] and runs(RULE) == []


def test_not_to_a_cancelled_registration():
    event = ended_event()
    add_registration(event, "annule@ehpad.fr", status="annule")
    add_registration(event, "excuse@ehpad.fr", status="excuse")
    sweep(after_end(event, timedelta(hours=3)))
    assert surveys() == [] and runs(RULE) == []


def test_disabled_rule_sends_nothing():
    set_rule(RULE, enabled=False)
    event = ended_event()
    add_registration(event, "p@ehpad.fr", status="present")
    sweep(after_end(event, timedelta(hours=3)))
    assert surveys() == [] and runs(RULE) == []


def test_a_failing_invitation_is_retried_and_does_not_stop_the_others(break_rule):
    event = ended_event()
    first = add_registration(event, "first@ehpad.fr", status="present")
    add_registration(event, "second@ehpad.fr", status="present")
    repair = break_rule(RULE, fails=lambda registration_id: registration_id == first.id)
    sweep(after_end(event, timedelta(hours=3)))
    assert [m.to_address for m in surveys()] == ["second@ehpad.fr"]
    assert state(RULE).failures == 1 and len(runs(RULE, "echec")) == 1
    repair()
    sweep(after_end(event, timedelta(hours=4)))
    assert sorted(m.to_address for m in surveys()) == ["first@ehpad.fr", "second@ehpad.fr"]
