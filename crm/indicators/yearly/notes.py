"""The manager's notes on the yearly pack: one text per year, department (or the region) and section."""

from __future__ import annotations

from sqlalchemy import select

from crm.accounts.models import User
from crm.indicators.yearly.models import REGION, ReportNote
from crm.platform.events import record_change
from crm.platform.extensions import db
from crm.platform.models import utcnow
from crm.platform.validation import ValidationFailed

MAX_NOTE = 5000


def notes_for(year: int, department: str | None) -> dict[str, str]:
    """section -> note text of that year's pack (the region's when ``department`` is None)."""
    rows = db.session.scalars(
        select(ReportNote).where(ReportNote.year == year, ReportNote.department_code == (department or REGION))
    )
    return {note.section: note.text for note in rows if note.text}


def save_notes(year: int, department: str | None, texts: dict[str, str], sections, *, user: User) -> int:
    """Write the notes of the sections given (an empty text empties the note); each note that changed gets its
    audit entry and ``report_note.saved`` event in the same transaction. Returns how many changed."""
    errors = {
        section: f"Note trop longue ({MAX_NOTE} caractères au plus)."
        for section, text in texts.items()
        if len(text or "") > MAX_NOTE
    }
    unknown = [section for section in texts if section not in sections]
    if unknown:
        errors["section"] = "Section inconnue."
    if errors:
        raise ValidationFailed(errors)
    code = department or REGION
    existing = {
        note.section: note
        for note in db.session.scalars(
            select(ReportNote).where(ReportNote.year == year, ReportNote.department_code == code)
        )
    }
    changed = 0
    for section, text in texts.items():
        text = (text or "").replace("\r\n", "\n").strip()
        note = existing.get(section)
        before = note.text if note is not None else ""
        if text == before:
            continue
        if note is None:
            note = ReportNote(year=year, department_code=code, section=section, text=text)
            db.session.add(note)
        note.text, note.updated_by_id, note.updated_at = text, user.id, utcnow()
        db.session.flush()
        record_change(
            entity_type="report_note",
            entity_id=note.id,
            action="create" if not before and note is not existing.get(section) else "update",
            changes={"text": [before, text]},
            event_type="report_note.saved",
            payload={"report_note_id": note.id, "year": year, "department": department, "section": section},
            user_id=user.id,
        )
        changed += 1
    db.session.commit()
    return changed
