"""An event as an iCalendar (RFC 5545) object: invitations, downloads and cancellations."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from flask import current_app
from icalendar import Calendar, Timezone, vCalAddress, vText
from icalendar import Event as VEvent
from sqlalchemy import select

from crm.accounts.models import User
from crm.events.models import Event, Registration
from crm.platform.extensions import db
from crm.platform.formatting import PARIS
from crm.platform.models import utcnow
from crm.tasks.models import Task

PRODID = "-//Maillage//Evenements//FR"
METHODS = ("REQUEST", "PUBLISH", "CANCEL")


def _address(email: str, name: str | None = None, **params) -> vCalAddress:
    address = vCalAddress(f"mailto:{email}")
    if name:
        address.params["CN"] = vText(name)
    for key, value in params.items():
        address.params[key.upper().replace("_", "-")] = vText(value)
    return address


# Where an online event's join link would be, for the people who are not given it.
ONLINE = "En ligne"


def location(event: Event, *, join_link: bool = False) -> str | None:
    """The place; an online-only event's join link only with ``join_link`` (people holding a seat, staff)."""
    parts = [p for p in (event.place_name, event.address) if p]
    if parts:
        return ", ".join(parts)
    if event.online_url:
        return event.online_url if join_link else ONLINE
    return None


def organiser_address(event: Event, *, staff: bool = True) -> vCalAddress:
    """The organiser: the staff member's own address, or (``staff=False``, what the public sees) the
    organisation's sending address, so that no staff email is published."""
    organisation = current_app.config.get("CRM_ORGANISATION_NAME", "Maillage")
    # Three columns, not the user and its departments: this runs inside the registration's lock.
    row = (
        db.session.execute(
            select(User.email, User.first_name, User.last_name).where(User.id == event.organiser_id)
        ).first()
        if event.organiser_id and staff
        else None
    )
    if row is not None and row.email:
        name = f"{row.first_name or ''} {row.last_name or ''}".strip()
        return _address(row.email, f"{name} ({organisation})" if name else organisation)
    return _address(current_app.config.get("MAIL_FROM") or "ne-pas-repondre@maillage.invalid", organisation)


def vevent(
    event: Event, *, cancelled: bool = False, attendee: Registration | None = None, private: bool = False
) -> VEvent:
    """The VEVENT of ``event``: stable UID, SEQUENCE, Europe/Paris times.

    The join link of an online event and the organiser's own address are only in an invitation (with
    its ``attendee``) and in a ``private`` calendar (staff's own feed): public feeds and downloads
    are read by anyone.
    """
    private = private or attendee is not None
    item = VEvent()
    item.add("uid", event.uid)
    item.add("dtstamp", utcnow().astimezone(UTC))
    item.add("sequence", event.sequence)
    item.add("dtstart", event.starts_at.astimezone(PARIS))
    item.add("dtend", event.ends_at.astimezone(PARIS))
    item.add("summary", event.title)
    description = event.description or ""
    if event.online_url:
        link = (
            f"Lien de connexion : {event.online_url}"
            if private
            else "Lien de connexion : envoyé aux personnes inscrites avec leur confirmation."
        )
        description = (description + "\n\n" if description else "") + link
    if description:
        item.add("description", description)
    place = location(event, join_link=private)
    if place:
        item.add("location", place)
    if event.online_url and private:
        item.add("url", event.online_url)
    item.add("status", "CANCELLED" if cancelled or event.status == "annule" else "CONFIRMED")
    item.add("organizer", organiser_address(event, staff=private))
    if attendee is not None:
        item.add(
            "attendee",
            _address(
                attendee.email,
                attendee.display_name,
                role="REQ-PARTICIPANT",
                partstat="DECLINED" if attendee.status == "annule" else "ACCEPTED",
                rsvp="FALSE",
            ),
        )
    return item


def event_calendar(
    event: Event, method: str = "PUBLISH", attendee: Registration | None = None, *, private: bool = False
) -> bytes:
    """One event as a complete calendar, with its VTIMEZONE.

    ``REQUEST`` is an invitation (with the ATTENDEE), ``CANCEL`` withdraws it (STATUS:CANCELLED,
    same UID, higher SEQUENCE), ``PUBLISH`` is a plain download (``private``: for staff, see :func:`vevent`).
    """
    calendar = new_calendar(method)
    calendar.add_component(paris_timezone())
    calendar.add_component(vevent(event, cancelled=method == "CANCEL", attendee=attendee, private=private))
    return calendar.to_ical()


def new_calendar(method: str = "PUBLISH", *, name: str | None = None, description: str | None = None) -> Calendar:
    """An empty calendar; with a ``name`` it is a subscribed feed (RFC 7986 NAME, REFRESH-INTERVAL)."""
    if method not in METHODS:
        raise ValueError(f"unknown iCalendar method {method!r}")
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", method)
    if name:
        calendar.add("name", name)
        calendar.add("x-wr-calname", name)  # the name Outlook and Google show
        if description:
            calendar.add("description", description)
            calendar.add("x-wr-caldesc", description)
        calendar.add("refresh-interval", timedelta(hours=1), parameters={"VALUE": "DURATION"})
        calendar.add("x-published-ttl", "PT1H")
    return calendar


def task_vevent(task: Task, *, sequence: int = 0, last_modified: datetime | None = None) -> VEvent:
    """A task with a due date as an all-day event on that day: unlike a VTODO, every calendar shows it.

    ``sequence``: the number of changes the task had (from its audit trail), so a moved due date
    replaces the old day in the subscriber's calendar.
    """
    item = VEvent()
    item.add("uid", f"task-{task.id}@maillage")
    item.add("dtstamp", utcnow().astimezone(UTC))
    item.add("sequence", sequence)
    if last_modified is not None:
        item.add("last-modified", last_modified.astimezone(UTC))
    item.add("dtstart", task.due_on)
    item.add("dtend", task.due_on + timedelta(days=1))
    item.add("summary", f"Relance : {task.title}")
    details = [task.description or ""]
    if task.structure is not None:
        details.append(f"Structure : {task.structure.name}")
    description = "\n\n".join(d for d in details if d)
    if description:
        item.add("description", description)
    item.add("transp", "TRANSPARENT")  # a reminder, not a busy slot
    item.add("categories", ["Relance"])
    return item


def feed_calendar(
    name: str,
    events: Iterable[Event],
    tasks: Iterable[tuple[Task, int, datetime | None]] = (),
    *,
    description: str | None = None,
    private: bool = False,
) -> bytes:
    """A subscribed calendar: events (cancelled ones kept, as CANCELLED, so clients drop them) and
    ``(task, sequence, last_modified)`` tuples as all-day reminders; ``private``: see :func:`vevent`."""
    events, tasks = list(events), list(tasks)
    calendar = new_calendar("PUBLISH", name=name, description=description)
    calendar.add_component(paris_timezone())
    for event in events:
        calendar.add_component(vevent(event, private=private))
    for task, sequence, last_modified in tasks:
        calendar.add_component(task_vevent(task, sequence=sequence, last_modified=last_modified))
    return calendar.to_ical()


# Europe/Paris by its rules (EU summer time since 1996), as Outlook and Google write it: valid for every
# year. A VTIMEZONE listing only some years' transitions (icalendar's from_tzid with a date range) goes
# wrong in clients that keep the first definition they saw of a TZID (vobject does, so do some mail
# clients) for events outside those years; icalendar's full 1970-2037 list costs ~30 ms per invitation.
PARIS_VTIMEZONE = "\r\n".join(
    (
        "BEGIN:VTIMEZONE",
        "TZID:Europe/Paris",
        "X-LIC-LOCATION:Europe/Paris",
        "BEGIN:DAYLIGHT",
        "TZNAME:CEST",
        "TZOFFSETFROM:+0100",
        "TZOFFSETTO:+0200",
        "DTSTART:19700329T020000",
        "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU",
        "END:DAYLIGHT",
        "BEGIN:STANDARD",
        "TZNAME:CET",
        "TZOFFSETFROM:+0200",
        "TZOFFSETTO:+0100",
        "DTSTART:19701025T030000",
        "RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU",
        "END:STANDARD",
        "END:VTIMEZONE",
        "",
    )
)


@lru_cache(maxsize=1)
def paris_timezone() -> Timezone:
    """The Europe/Paris VTIMEZONE, parsed once and only read after (serialising does not change it)."""
    return Timezone.from_ical(PARIS_VTIMEZONE)
