"""Capacity and one-registration-per-email hold when people register at the same instant (PostgreSQL)."""

import threading

import pytest
from sqlalchemy import func, select

from crm.events.followup import survey
from crm.events.models import Event, Registration
from crm.events.registration import registrations
from crm.mail.models import EmailMessage
from crm.platform.extensions import db
from crm.platform.validation import ValidationFailed
from tests.conftest import csrf_token
from tests.events.conftest import person
from tests.events.factories import add_registration
from tests.events.factories import make_event as make_past_event


@pytest.fixture(autouse=True)
def _postgresql_only():
    if db.engine.dialect.name != "postgresql":
        pytest.skip(
            "row locks (SELECT ... FOR UPDATE) and concurrent writers need PostgreSQL; "
            "SQLite serialises every writer, so there is no race to test"
        )


def _race(app, event_id: int, people: list[dict]) -> list:
    """Register ``people`` from as many threads, each with its own app context and connection, at once."""
    barrier = threading.Barrier(len(people))
    results: list = [None] * len(people)

    def run(index: int, data: dict) -> None:
        with app.app_context():
            try:
                event = db.session.get(Event, event_id)
                barrier.wait(timeout=30)
                registration, outcome = registrations.register(event, data, source="public")
                results[index] = outcome
            except Exception as error:  # reported by the assertion below
                results[index] = error
                db.session.rollback()
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(i, data)) for i, data in enumerate(people)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(isinstance(r, Exception) for r in results), results
    return results


def test_many_people_for_the_last_seat_only_one_gets_it(app, make_event):
    event = make_event(capacity=3)
    for n in (1, 2):
        registrations.register(event, person(n), source="public")
    outcomes = _race(app, event.id, [person(n) for n in range(10, 22)])
    assert sorted(outcomes) == ["attente"] * 11 + ["inscrit"]
    seated = db.session.scalar(
        select(func.count()).where(Registration.event_id == event.id, Registration.status == "inscrit")
    )
    assert seated == 3


def test_the_same_email_sent_at_once_is_one_registration(app, make_event):
    event = make_event(capacity=50)
    outcomes = _race(app, event.id, [person(7, first_name=f"Essai{n}") for n in range(8)])
    assert sorted(outcomes) == ["existant"] * 7 + ["inscrit"]
    assert db.session.scalar(select(func.count()).select_from(Registration)) == 1


def test_the_per_address_limit_holds_when_requests_arrive_at_once(app, make_event):
    """40 visitors behind one address post the form at the same instant: exactly the limit is stored."""
    event = make_event(capacity=None)
    limit, attempts = app.config["EVENT_REGISTRATIONS_PER_IP"], 40
    barrier = threading.Barrier(attempts)
    statuses: list = [None] * attempts

    def run(index: int) -> None:
        with app.app_context():
            try:
                client = app.test_client()
                token = csrf_token(client)
                barrier.wait(timeout=60)
                response = client.post(
                    f"/e/{event.slug}",
                    data={**person(100 + index), "csrf_token": token},
                    environ_base={"REMOTE_ADDR": "203.0.113.7"},
                )
                statuses[index] = response.status_code
            except Exception as error:  # reported by the assertion below
                statuses[index] = error
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(attempts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sorted(statuses, key=str) == [302] * limit + [429] * (attempts - limit), statuses
    stored = db.session.scalar(select(func.count()).where(Registration.client_ip == "203.0.113.7"))
    assert stored == limit


def test_two_clicks_on_send_survey_at_once_send_each_link_once(app):
    """Each invitation's message is flushed for its personal link: the loser of the race is told, not a 500."""
    event = make_past_event(title="Webinaire INS", days_ago=2)
    for n in range(5):
        add_registration(event, f"present{n}@ehpad.fr", status="present")
    barrier = threading.Barrier(2)
    results: list = [None, None]

    def run(index: int) -> None:
        with app.app_context():
            try:
                barrier.wait(timeout=30)
                results[index] = survey.send_survey(db.session.get(Event, event.id))
            except Exception as error:  # ValidationFailed expected for the loser, anything else reported
                results[index] = error
                db.session.rollback()
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert 5 in results, results
    other = results[1 - results.index(5)]
    assert other == 0 or isinstance(other, ValidationFailed), results
    assert db.session.scalar(select(func.count()).select_from(EmailMessage)) == 5
