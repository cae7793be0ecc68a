"""Calendar feeds and downloads, each read back with icalendar and vobject."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from itsdangerous import URLSafeSerializer
from sqlalchemy import select

from crm.accounts.services import save_user
from crm.events import services
from crm.events.feeds import feed_token
from crm.events.ics import event_calendar
from crm.events.models import Event, as_utc
from crm.events.registration import registrations
from crm.platform.dates import local_today
from crm.platform.extensions import db
from crm.tasks.services import create_task, set_done, update_task
from tests.conftest import login
from tests.events.calendars import parse_both, vevents_by_uid
from tests.events.conftest import person

PARIS_TZID = "Europe/Paris"


def _get_calendar(client, url):
    response = client.get(url)
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    assert response.headers["Content-Type"] == "text/calendar; charset=utf-8"
    return response, *parse_both(response.data)


def _utc(value: datetime) -> datetime:
    return as_utc(value)


def test_public_feed_lists_published_events_only(client, make_event, organiser):
    published = make_event(title="TOP e-santé Tarn")
    cancelled = make_event(title="Webinaire annulé", days=20)
    services.change_status(cancelled, "annule", user=organiser)
    draft = make_event(title="Brouillon secret", status="brouillon")
    old = make_event(title="Journée de 2023", days=-500)

    response, first, second = _get_calendar(client, "/calendrier/evenements.ics")
    assert response.headers["Content-Disposition"].startswith("inline")
    assert str(first["X-WR-CALNAME"]).startswith("Événements") and first["METHOD"] == "PUBLISH"
    assert [str(tz["TZID"]) for tz in first.walk("VTIMEZONE")] == [PARIS_TZID]
    by_uid = vevents_by_uid(second)
    assert set(by_uid) == {published.uid, cancelled.uid}
    assert draft.uid not in by_uid and old.uid not in by_uid
    item = by_uid[published.uid]
    assert item.summary.value == "TOP e-santé Tarn"
    assert second.vtimezone.tzid.value == PARIS_TZID
    start = item.dtstart.value  # vobject resolves TZID through the calendar's own VTIMEZONE
    assert start.utcoffset() == start.astimezone(ZoneInfo(PARIS_TZID)).utcoffset()
    assert item.dtstart.value.astimezone(UTC) == _utc(published.starts_at)
    assert item.dtend.value.astimezone(UTC) == _utc(published.ends_at)
    assert int(item.sequence.value) == published.sequence
    assert by_uid[cancelled.uid].status.value == "CANCELLED" and item.status.value == "CONFIRMED"
    [ical_event] = [e for e in first.walk("VEVENT") if str(e["UID"]) == published.uid]
    assert ical_event["DTSTART"].params["TZID"] == PARIS_TZID


def test_a_change_raises_the_sequence_seen_by_subscribers(client, make_event, organiser):
    event = make_event()
    _, _, before = _get_calendar(client, "/calendrier/evenements.ics")
    services.update_event(
        event,
        {"starts_at": _utc(event.starts_at) + timedelta(hours=1), "ends_at": _utc(event.ends_at) + timedelta(hours=1)},
        user=organiser,
    )
    _, _, after = _get_calendar(client, "/calendrier/evenements.ics")
    old, new = vevents_by_uid(before)[event.uid], vevents_by_uid(after)[event.uid]
    assert int(new.sequence.value) == int(old.sequence.value) + 1
    assert new.dtstart.value - old.dtstart.value == timedelta(hours=1)


def test_event_download(client, make_event):
    event = make_event(title="Rendez-vous ESMS numérique – Gers", department_code="32")
    response, first, second = _get_calendar(client, f"/calendrier/evenements/{event.slug}.ics")
    assert response.headers["Content-Disposition"] == f'attachment; filename="evenement-{event.id}.ics"'
    [item] = second.vevent_list
    assert item.uid.value == event.uid and item.summary.value == "Rendez-vous ESMS numérique – Gers"
    assert item.organizer.value.startswith("mailto:")
    assert first.walk("VEVENT")[0]["UID"] == event.uid

    draft = make_event(status="brouillon")
    assert client.get(f"/calendrier/evenements/{draft.slug}.ics").status_code == 404
    assert client.get("/calendrier/evenements/inconnu.ics").status_code == 404
    assert client.get("/calendrier/evenements/" + "x" * 3000 + ".ics").status_code == 404


def _personal_url(client, user) -> str:
    login(client, user)
    html = client.get("/calendrier/mon-agenda").get_data(as_text=True)
    match = re.search(r'id="personal-feed"[^>]*value="http://localhost(/calendrier/personnel/[^"]+\.ics)"', html)
    assert match, html[:2000]
    assert "Copier l&#39;adresse" in html or "Copier l'adresse" in html
    client.post("/deconnexion", data={"csrf_token": re.search(r'name="csrf-token" content="([^"]+)"', html)[1]})
    return match.group(1)


def test_personal_feed_has_my_events_and_my_due_tasks(app, client, make_event, organiser, make_user, make_structure):
    other = make_user("organisateur")
    mine = make_event(title="Webinaire DMP en EHPAD")
    draft = make_event(title="Atelier en préparation", status="brouillon")
    theirs = make_event(title="Pas le mien", organiser_id=other.id)
    structure = make_structure(name="EHPAD Les Tilleuls")
    due = local_today() + timedelta(days=3)
    task = create_task(
        {"title": "Rappeler la directrice", "due_on": due.isoformat(), "structure_id": structure.id}, user=organiser
    )
    create_task({"title": "Sans échéance"}, user=organiser)
    done = create_task({"title": "Déjà faite", "due_on": due.isoformat()}, user=organiser)
    set_done(done, True, user=organiser)
    create_task({"title": "Relance d'un autre", "due_on": due.isoformat()}, user=other)
    db.session.commit()

    url = _personal_url(client, organiser)
    response, first, second = _get_calendar(client, url)  # no session: calendar clients cannot log in
    assert response.headers["Cache-Control"].startswith("private")
    assert response.headers["X-Robots-Tag"] == "noindex"
    by_uid = vevents_by_uid(second)
    assert set(by_uid) == {mine.uid, draft.uid, f"task-{task.id}@maillage"}
    assert theirs.uid not in by_uid
    reminder = by_uid[f"task-{task.id}@maillage"]
    assert reminder.summary.value == "Relance : Rappeler la directrice"
    assert reminder.dtstart.value == due and reminder.dtend.value == due + timedelta(days=1)  # all day
    assert "EHPAD Les Tilleuls" in reminder.description.value
    assert reminder.transp.value == "TRANSPARENT" and int(reminder.sequence.value) == 0
    [ical_task] = [e for e in first.walk("VEVENT") if str(e["UID"]) == f"task-{task.id}@maillage"]
    assert ical_task["DTSTART"].dt == due and ical_task["DTSTART"].params.get("VALUE") == "DATE"

    update_task(
        task, {"title": "Rappeler la directrice", "due_on": (due + timedelta(days=2)).isoformat()}, user=organiser
    )
    db.session.commit()
    _, _, again = _get_calendar(client, url)
    moved = vevents_by_uid(again)[f"task-{task.id}@maillage"]
    assert moved.dtstart.value == due + timedelta(days=2) and int(moved.sequence.value) == 1
    assert moved.last_modified.value.tzinfo is not None


def test_personal_feed_url_is_secret_and_revoked_by_a_new_password(client, organiser, make_user):
    url = _personal_url(client, organiser)
    assert client.get(url).status_code == 200
    token = url.rsplit("/", 1)[1][:-4]
    assert client.get(f"/calendrier/personnel/{token[:-2]}xx.ics").status_code == 404  # forged signature
    other = make_user("animateur")
    assert client.get(f"/calendrier/personnel/{feed_token(other)}.ics").status_code == 200
    for junk in ("x", "a.b", "W10.xyz", "WzEsMl0.abc", "é" * 50, "x" * 5000):
        assert client.get(f"/calendrier/personnel/{junk}.ics").status_code == 404
    assert client.get("/calendrier/personnel/%00.ics").status_code == 400  # refused before any route
    signed = URLSafeSerializer(client.application.config["SECRET_KEY"], salt="calendar-feed")
    for payload in ("x", [organiser.id], [str(organiser.id), "abc"], [2**40, "abc"], [organiser.id, 12], {}):
        assert client.get(f"/calendrier/personnel/{signed.dumps(payload)}.ics").status_code == 404
    other_salt = URLSafeSerializer(client.application.config["SECRET_KEY"], salt="autre-chose")
    assert client.get(f"/calendrier/personnel/{other_salt.dumps([organiser.id, 'x'])}.ics").status_code == 404

    save_user(
        organiser,
        email=organiser.email,
        role=organiser.role,
        first_name=organiser.first_name,
        last_name=organiser.last_name,
        department_codes=[],
        password="un-nouveau-mot-de-passe",
    )
    db.session.commit()
    assert client.get(url).status_code == 404
    assert feed_token(organiser) != token

    other.active = False
    db.session.commit()
    assert client.get(f"/calendrier/personnel/{feed_token(other)}.ics").status_code == 404


def test_my_calendar_page_needs_a_login(client):
    response = client.get("/calendrier/mon-agenda")
    assert response.status_code == 302 and "/connexion" in response.headers["Location"]


def test_invitation_and_cancellation_parse_with_both_parsers(make_event, organiser):
    event = make_event(capacity=3)
    registration, _ = registrations.register(event, person(1), source="public")
    for method in ("REQUEST", "CANCEL", "PUBLISH"):
        _, second = parse_both(event_calendar(event, method=method, attendee=registration))
        assert second.method.value == method
        [item] = second.vevent_list
        assert item.uid.value == event.uid
    _, second = parse_both(event_calendar(event, method="REQUEST", attendee=registration))
    assert second.vevent.attendee.value == "mailto:personne1@ehpad.example.fr"
    assert second.vevent.attendee.params["PARTSTAT"] == ["ACCEPTED"]
    assert db.session.scalar(select(Event.id).where(Event.id == event.id))


def test_summer_and_winter_times_resolve_through_our_vtimezone(client, make_event):
    """vobject reads the times through the calendar's own VTIMEZONE (its RRULEs), not a system database."""
    summer = datetime(2027, 7, 1, 7, 30, tzinfo=UTC)  # 9:30 in Paris (UTC+2)
    winter = datetime(2027, 12, 2, 8, 30, tzinfo=UTC)  # 9:30 in Paris (UTC+1)
    events = [make_event(starts_at=start, ends_at=start + timedelta(hours=3)) for start in (summer, winter)]
    _, first, second = _get_calendar(client, "/calendrier/evenements.ics")
    by_uid = vevents_by_uid(second)
    for event, start in zip(events, (summer, winter)):
        local = by_uid[event.uid].dtstart.value
        assert (local.hour, local.minute) == (9, 30) and local.astimezone(UTC) == start
    [paris] = first.walk("VTIMEZONE")
    assert {str(c["TZNAME"]) for c in paris.subcomponents} == {"CET", "CEST"}


def test_a_client_that_keeps_the_first_vtimezone_still_reads_later_years_right(client, make_event):
    """vobject keeps the first VTIMEZONE it meets for a TZID, as some mail clients do: ours holds for every year."""
    winter = datetime(2027, 1, 14, 8, 0, tzinfo=UTC)
    summer = datetime(2033, 6, 16, 7, 0, tzinfo=UTC)  # 9:00 in Paris
    first, later = (make_event(starts_at=start, ends_at=start + timedelta(hours=2)) for start in (winter, summer))
    for event, start in ((first, winter), (later, summer)):
        _, _, calendar = _get_calendar(client, f"/calendrier/evenements/{event.slug}.ics")
        assert calendar.vevent.dtstart.value.astimezone(UTC) == start
    assert calendar.vevent.dtstart.value.hour == 9
