"""After an event: each structure that came and has no open opportunity on the event's programmes gets a
follow-up task for the animator of its department, so that the day's contacts turn into needs."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import exists, or_, select

from crm.accounts.services import department_animator
from crm.events.models import Event, Registration, event_programmes
from crm.pipeline.models import OPEN_STAGES, Opportunity
from crm.platform.extensions import db
from crm.platform.formatting import format_date
from crm.structures.models import Structure
from crm.tasks.models import Task
from crm.tasks.services import add_task


def _open_opportunity_on_programmes(event_id, structure_id):
    """An open opportunity of the structure on one of the event's programmes (any, for an event without)."""
    programmes = select(event_programmes.c.programme_id).where(event_programmes.c.event_id == event_id)
    return exists().where(
        Opportunity.structure_id == structure_id,
        Opportunity.stage.in_(OPEN_STAGES),
        or_(Opportunity.programme_id.in_(programmes), ~exists(programmes)),
    )


def structures_to_follow_up(ended_after: datetime, ended_before: datetime, limit: int = 1000) -> list[tuple[int, int]]:
    """``(event id, structure id)``: a structure present at a published or closed event that ended in
    ``[ended_after, ended_before]``, with no open opportunity on its programmes and no follow-up yet."""
    followed_up = exists().where(Task.event_id == Registration.event_id, Task.structure_id == Registration.structure_id)
    return list(
        db.session.execute(
            select(Registration.event_id, Registration.structure_id)
            .distinct()
            .join(Event, Event.id == Registration.event_id)
            .where(
                Event.status.in_(("publie", "clos")),
                Event.ends_at >= ended_after,
                Event.ends_at <= ended_before,
                Registration.status == "present",
                Registration.structure_id.is_not(None),
                ~_open_opportunity_on_programmes(Registration.event_id, Registration.structure_id),
                ~followed_up,
            )
            .order_by(Registration.event_id, Registration.structure_id)
            .limit(limit)
        ).tuples()
    )


def follow_up_attendance(
    event: Event, structure: Structure, *, due_on: date, origin: str | None = None
) -> tuple[Task | None, str]:
    """The follow-up task of a structure that came to ``event``, for the animator of its department
    (the caller commits); returns the task (None when there is nothing to do) and what was done."""
    if db.session.scalar(select(Task.id).where(Task.event_id == event.id, Task.structure_id == structure.id)):
        return None, "relance déjà créée"
    if db.session.scalar(select(_open_opportunity_on_programmes(event.id, structure.id))):
        return None, "une opportunité est ouverte sur les programmes de l'événement"
    animator = department_animator(structure.department_code)
    if animator is None:
        return None, f"aucun animateur pour le département {structure.department_code} : pas de relance"
    scope = f" sur {', '.join(p.label for p in event.programmes)}" if event.programmes else ""
    task = add_task(
        title=f"Relancer {structure.name} après « {event.title} »",
        owner_id=animator.id,
        created_by_id=None,
        source="workflow",
        due_on=due_on,
        structure_id=structure.id,
        event_id=event.id,
        origin=origin,
        description=(
            f"La structure était présente le {format_date(event.starts_at)} et n'a pas d'opportunité "
            f"ouverte{scope} : prendre contact pour identifier un besoin."
        ),
    )
    return task, f"relance {task.id} pour {animator.display_name}"
