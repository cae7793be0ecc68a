"""Every calendar we produce is read back by two independent parsers: icalendar and vobject."""

from __future__ import annotations

import icalendar
import vobject


def parse_both(data: bytes | str):
    """``(icalendar.Calendar, vobject VCALENDAR)``; vobject validates cardinalities (one UID, one DTSTAMP...)."""
    text = data.decode("utf-8") if isinstance(data, bytes) else data
    assert text.startswith("BEGIN:VCALENDAR\r\n") and text.endswith("END:VCALENDAR\r\n")
    assert all(len(line.encode("utf-8")) <= 75 for line in text.split("\r\n")), "RFC 5545 folds lines at 75 octets"
    first = icalendar.Calendar.from_ical(text)
    second = vobject.readOne(text, validate=True)
    assert second.name == "VCALENDAR" and second.version.value == "2.0" and second.prodid.value
    return first, second


def vevents_by_uid(calendar) -> dict:
    """vobject's VEVENTs keyed by UID (each UID must appear once)."""
    events = list(getattr(calendar, "vevent_list", []))
    by_uid = {event.uid.value: event for event in events}
    assert len(by_uid) == len(events), "duplicate UID"
    for event in events:
        assert event.dtstamp.value.tzinfo is not None  # DTSTAMP is UTC
    return by_uid
