"""The .ics of an event, parsed back with the icalendar library."""

from datetime import timedelta
from zoneinfo import ZoneInfo

from icalendar import Calendar

from crm.events import services
from crm.events.ics import event_calendar
from crm.events.models import as_utc
from crm.events.registration import registrations
from tests.events.conftest import person


def _parse(data: bytes):
    calendar = Calendar.from_ical(data)
    [vevent] = calendar.walk("VEVENT")
    return calendar, vevent


def test_invitation_has_uid_sequence_timezone_organizer_and_attendee(make_event):
    event = make_event(capacity=5)
    registration, _ = registrations.register(event, person(1), source="public")
    calendar, vevent = _parse(event_calendar(event, method="REQUEST", attendee=registration))
    assert calendar["METHOD"] == "REQUEST" and calendar["VERSION"] == "2.0" and calendar["PRODID"]
    [timezone] = calendar.walk("VTIMEZONE")
    assert timezone["TZID"] == "Europe/Paris"
    assert str(vevent["UID"]) == event.uid and vevent["SEQUENCE"] == event.sequence
    assert vevent["DTSTAMP"].dt.tzinfo is not None
    start = vevent["DTSTART"]
    assert start.params["TZID"] == "Europe/Paris"
    assert start.dt.astimezone(ZoneInfo("UTC")) == as_utc(event.starts_at)
    assert vevent["DTEND"].dt - start.dt == timedelta(hours=7)
    assert str(vevent["SUMMARY"]) == event.title and "Hôtel de région" in str(vevent["LOCATION"])
    assert str(vevent["STATUS"]) == "CONFIRMED"
    assert str(vevent["ORGANIZER"]).startswith("mailto:organisateur")
    assert str(vevent["ATTENDEE"]) == "mailto:personne1@ehpad.example.fr"
    assert vevent["ATTENDEE"].params["PARTSTAT"] == "ACCEPTED"


def test_a_change_raises_the_sequence_and_cancel_keeps_the_uid(make_event, organiser):
    event = make_event(capacity=5)
    before = event.sequence
    services.update_event(event, {"place_name": "Salle des fêtes de Muret"}, user=organiser)
    assert event.sequence == before + 1
    services.update_event(event, {"description": "Programme détaillé"}, user=organiser)
    assert event.sequence == before + 1  # not a change that matters to an attendee
    services.change_status(event, "annule", user=organiser)
    calendar, vevent = _parse(event_calendar(event, method="CANCEL"))
    assert calendar["METHOD"] == "CANCEL" and str(vevent["STATUS"]) == "CANCELLED"
    assert str(vevent["UID"]) == event.uid and vevent["SEQUENCE"] == before + 2


def test_online_event_carries_its_link_for_staff_and_invitations_only(make_event):
    event = make_event(place_name="", department_code="", address="", online_url="https://visio.example.fr/abc")
    _, vevent = _parse(event_calendar(event, private=True))
    assert str(vevent["URL"]) == "https://visio.example.fr/abc"
    assert "https://visio.example.fr/abc" in str(vevent["DESCRIPTION"])
    _, public = _parse(event_calendar(event))
    assert "URL" not in public and str(public["LOCATION"]) == "En ligne"
    assert "https://visio.example.fr/abc" not in str(public["DESCRIPTION"])
