"""Marking attendance from a video tool's report: preview, then apply in one transaction.

The uploaded file is kept under ``UPLOAD_DIR/attendance`` between the preview and the
confirmation (the organiser may change the column mapping in between), then removed. Applying
twice changes nothing the second time: who is already present stays as is, a walk-in added by
the first import is found by its email the second time.
"""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from crm.events.followup.attendance_import import AttendanceReport, AttendanceRow
from crm.events.followup.matching import match_registration
from crm.events.models import Event, Registration
from crm.events.payloads import registration_payload
from crm.events.registration.checkin import before_the_day_error, mark_attendance
from crm.platform.events import record_change
from crm.platform.extensions import db
from crm.platform.locking import lock_row
from crm.platform.text import fold
from crm.platform.validation import ValidationFailed

UPLOAD_ID = re.compile(r"^[0-9a-f]{32}$")
UPLOAD_MAX_AGE_SECONDS = 24 * 3600


@dataclass
class ImportPlan:
    to_mark: list[tuple[AttendanceRow, Registration]] = field(default_factory=list)
    already_present: list[tuple[AttendanceRow, Registration]] = field(default_factory=list)
    not_attended: list[AttendanceRow] = field(default_factory=list)
    unknown: list[AttendanceRow] = field(default_factory=list)


@dataclass
class ImportResult:
    marked: int = 0
    walk_ins: int = 0
    unchanged: int = 0
    unknown: list[str] = field(default_factory=list)


def _upload_dir() -> Path:
    path = Path(current_app.config["UPLOAD_DIR"]) / "attendance"
    path.mkdir(parents=True, exist_ok=True)
    return path


def store_upload(data: bytes) -> str:
    """Keep the uploaded report until it is confirmed; files older than a day are removed on the way."""
    directory = _upload_dir()
    limit = time.time() - UPLOAD_MAX_AGE_SECONDS
    for old in directory.glob("*.csv"):
        try:
            if old.stat().st_mtime < limit:
                old.unlink()
        except OSError:
            pass
    upload_id = secrets.token_hex(16)
    (directory / f"{upload_id}.csv").write_bytes(data)
    return upload_id


def load_upload(upload_id: str | None) -> bytes | None:
    if not upload_id or not UPLOAD_ID.match(upload_id):
        return None
    path = _upload_dir() / f"{upload_id}.csv"
    return path.read_bytes() if path.is_file() else None


def discard_upload(upload_id: str | None) -> None:
    if upload_id and UPLOAD_ID.match(upload_id):
        (_upload_dir() / f"{upload_id}.csv").unlink(missing_ok=True)


def attendance_error(event: Event) -> str | None:
    if event.status not in ("publie", "clos"):
        return "La présence s'enregistre sur un événement publié ou clos."
    return before_the_day_error(event)


def plan_import(event: Event, report: AttendanceReport) -> ImportPlan:
    """What the report would change, matched by email to the event's registrations."""
    plan = ImportPlan()
    emails = [row.email for row in report.rows]
    registrations = {}
    for start in range(0, len(emails), 500):
        registrations.update(
            {
                r.email_key: r
                for r in db.session.scalars(
                    select(Registration).where(
                        Registration.event_id == event.id, Registration.email_key.in_(emails[start : start + 500])
                    )
                )
            }
        )
    for row in report.rows:
        registration = registrations.get(row.email)
        if not row.attended:
            plan.not_attended.append(row)
        elif registration is None:
            plan.unknown.append(row)
        elif registration.status == "present":
            plan.already_present.append((row, registration))
        else:
            plan.to_mark.append((row, registration))
    return plan


def _walk_in(event: Event, row: AttendanceRow, user_id: int | None) -> Registration:
    """A participant the report shows but who never registered: added as present, source import."""
    first, last = row.person_name()
    if not last:
        last = row.email.split("@")[0]
    registration = Registration(
        event_id=event.id,
        first_name=first[:80],
        last_name=last[:80],
        email=row.email,
        email_key=row.email,
        name_key=fold(f"{last} {first}")[:170],
        status="inscrit",
        source="import",
        created_by_id=user_id,
    )
    db.session.add(registration)
    db.session.flush()
    record_change(
        entity_type="registration",
        entity_id=registration.id,
        action="create",
        changes={"status": [None, "inscrit"], "source": [None, "import"]},
        event_type="registration.created",
        payload=registration_payload(registration, event),
        user_id=user_id,
        parent=("event", event.id),
    )
    return registration


def apply_import(event: Event, report: AttendanceReport, *, add_walk_ins: bool, user_id: int | None) -> ImportResult:
    """Mark the report's participants present through ``mark_attendance`` (``attendance.recorded``), one commit."""
    reason = attendance_error(event)
    if reason:
        raise ValidationFailed({"event": reason})
    lock_row(Event, event.id)
    plan = plan_import(event, report)
    result = ImportResult(unchanged=len(plan.already_present))
    try:
        for _row, registration in plan.to_mark:
            mark_attendance(registration, "present", user_id=user_id, commit=False)
            result.marked += 1
        for row in plan.unknown:
            if not add_walk_ins:
                result.unknown.append(row.email)
                continue
            registration = _walk_in(event, row, user_id)
            mark_attendance(registration, "present", user_id=user_id, commit=False)
            match_registration(registration, user_id=user_id)
            result.walk_ins += 1
        db.session.commit()
    except (IntegrityError, StaleDataError):  # a simultaneous import or check-in changed the same rows
        db.session.rollback()
        raise ValidationFailed(
            {
                "event": "Un autre import de présence est en cours pour cet événement : "
                "rechargez la page puis recommencez."
            }
        ) from None
    return result
