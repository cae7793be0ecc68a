"""Records as JSON: ISO 8601 dates, timestamps with their UTC offset, ids for links.

Each function returns exactly the properties its schema in ``crm/api/schemas.py``
declares; the tests check one against the other.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from flask import request
from sqlalchemy import select

from crm.pipeline.models import Project
from crm.platform.extensions import db

API_PREFIX = "/api/v1"


def iso(value: date | datetime | None) -> str | None:
    """Dates as YYYY-MM-DD; timestamps with their offset (SQLite hands back naive UTC values)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    return value.isoformat()


def url(kind: str, record_id: int) -> str:
    return f"{request.script_root}{API_PREFIX}/{kind}/{record_id}"


def me(user) -> dict:
    return {"id": user.id, "email": user.email, "role": user.role, "departments": sorted(user.department_codes)}


def structure_ref(structure) -> dict:
    return {"id": structure.id, "name": structure.name, "department_code": structure.department_code}


def structure(s) -> dict:
    return {
        "id": s.id,
        "url": url("structures", s.id),
        "name": s.name,
        "long_name": s.long_name,
        "finess_et": s.finess_et,
        "finess_ej": s.finess_ej,
        "siret": s.siret,
        "sector_id": s.sector_id,
        "category_id": s.category_id,
        "address": s.address,
        "postal_code": s.postal_code,
        "commune": s.commune,
        "department_code": s.department_code,
        "phone": s.phone,
        "email": s.email,
        "website": s.website,
        "is_open": s.is_open,
        "opened_on": iso(s.opened_on),
        "closed_on": iso(s.closed_on),
        "notes": s.notes,
        "source": s.source,
        "version": s.version,
        "created_at": iso(s.created_at),
        "updated_at": iso(s.updated_at),
    }


def contact(c) -> dict:
    erased = c.erased_at is not None
    personal = {
        field: None if erased else getattr(c, field)
        for field in ("civility", "first_name", "last_name", "function", "email", "phone")
    }
    return {
        "id": c.id,
        "url": url("contacts", c.id),
        "structure_id": c.structure_id,
        **personal,
        "consent": bool(c.consent) and not erased,
        "consent_at": None if erased else iso(c.consent_at),
        "source": c.source,
        "erased": erased,
        "erased_at": iso(c.erased_at),
        "created_at": iso(c.created_at),
        "updated_at": iso(c.updated_at),
    }


def activity(a) -> dict:
    return {
        "id": a.id,
        "url": url("activities", a.id),
        "kind": a.kind,
        "occurred_on": iso(a.occurred_on),
        "duration_minutes": a.duration_minutes,
        "author_id": a.author_id,
        "subject": a.subject,
        "notes": a.notes,
        "is_information": a.is_information,
        "next_step": a.next_step,
        "next_step_due_on": iso(a.next_step_due_on),
        "structures": [structure_ref(s) for s in a.structures],
        "contact_ids": sorted(c.id for c in a.contacts),
        "offer_ids": sorted(o.id for o in a.offers),
        "programme_ids": sorted(p.id for p in a.programmes),
        "created_at": iso(a.created_at),
    }


def opportunity(o, project_id: int | None = None) -> dict:
    return {
        "id": o.id,
        "url": url("opportunities", o.id),
        "structure": structure_ref(o.structure),
        "offer_id": o.offer_id,
        "programme_id": o.programme_id,
        "title": o.title,
        "need": o.need,
        "source": o.source,
        "source_activity_id": o.source_activity_id,
        "source_event_id": o.source_event_id,
        "owner_id": o.owner_id,
        "expected_on": iso(o.expected_on),
        "stage": o.stage,
        "identified_on": iso(o.identified_on),
        "stage_changed_at": iso(o.stage_changed_at),
        "closed_on": iso(o.closed_on),
        "loss_reason_id": o.loss_reason_id,
        "project_id": project_id,
        "version": o.version,
        "created_at": iso(o.created_at),
        "updated_at": iso(o.updated_at),
    }


def project_ids_for(opportunity_ids: list[int]) -> dict[int, int]:
    """Won opportunities' projects, in one query for a whole page."""
    if not opportunity_ids:
        return {}
    rows = db.session.execute(
        select(Project.opportunity_id, Project.id).where(Project.opportunity_id.in_(opportunity_ids))
    ).all()
    return dict(rows)


def opportunity_detail(o) -> dict:
    project = o.project
    return {
        **opportunity(o, project.id if project else None),
        "stage_history": [
            {
                "from_stage": c.from_stage,
                "to_stage": c.to_stage,
                "changed_at": iso(c.changed_at),
                "changed_by_id": c.changed_by_id,
                "reason_id": c.reason_id,
                "comment": c.comment,
            }
            for c in o.changes
        ],
    }


def project(p) -> dict:
    return {
        "id": p.id,
        "url": url("projects", p.id),
        "structure": structure_ref(p.structure),
        "offer_id": p.offer_id,
        "programme_id": p.programme_id,
        "opportunity_id": p.opportunity_id,
        "title": p.title,
        "status": p.status,
        "started_on": iso(p.started_on),
        "ended_on": iso(p.ended_on),
        "owner_id": p.owner_id,
        "notes": p.notes,
        "version": p.version,
        "created_at": iso(p.created_at),
        "updated_at": iso(p.updated_at),
    }


def milestone(m) -> dict:
    return {"id": m.id, "label": m.label, "due_on": iso(m.due_on), "done_on": iso(m.done_on)}


def project_detail(p) -> dict:
    return {**project(p), "milestones": [milestone(m) for m in p.milestones]}


def task(t) -> dict:
    return {
        "id": t.id,
        "url": url("tasks", t.id),
        "title": t.title,
        "description": t.description,
        "due_on": iso(t.due_on),
        "owner_id": t.owner_id,
        "structure_id": t.structure_id,
        "opportunity_id": t.opportunity_id,
        "project_id": t.project_id,
        "activity_id": t.activity_id,
        "source": t.source,
        "created_by_id": t.created_by_id,
        "created_at": iso(t.created_at),
        "done": t.done_at is not None,
        "done_at": iso(t.done_at),
        "done_by_id": t.done_by_id,
    }
