"""Follow-up tasks ("relances"): created by hand, from an activity's next step, or by workflows."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import select

from crm.accounts.models import User
from crm.core.events import record_change
from crm.core.models import utcnow
from crm.core.validation import ValidationFailed, parse_date, parse_int, text
from crm.extensions import db
from crm.structures.models import Structure
from crm.tasks.models import TASK_SOURCES, Task


def task_payload(task: Task) -> dict:
    return {"task_id": task.id, "owner_id": task.owner_id, "structure_id": task.structure_id,
            "department": task.structure.department_code if task.structure else None,
            "due_on": task.due_on, "source": task.source, "opportunity_id": task.opportunity_id,
            "project_id": task.project_id, "activity_id": task.activity_id}


def clean_task_data(data: dict, *, default_owner: User) -> dict:
    errors: dict[str, str] = {}
    out = {
        "title": text(data.get("title"), errors, "title", max_length=300, required=True,
                      message="Indiquez l'objet de la relance."),
        "description": text(data.get("description"), errors, "description", max_length=5000),
        "due_on": parse_date(data.get("due_on"), errors, "due_on"),
    }
    owner_id = parse_int(data.get("owner_id"), errors, "owner_id", minimum=1, message="Responsable invalide.")
    owner = db.session.get(User, owner_id) if owner_id else default_owner
    if owner_id and (owner is None or not owner.active or owner.role == "manager"):
        errors["owner_id"] = "Responsable inconnu ou qui ne peut pas recevoir de relance."
    out["owner_id"] = owner.id if owner else None
    structure_id = parse_int(data.get("structure_id"), errors, "structure_id", minimum=1,
                             message="Structure invalide.")
    if structure_id and db.session.get(Structure, structure_id) is None:
        errors["structure_id"] = "Structure inconnue."
    out["structure_id"] = structure_id
    for key in ("opportunity_id", "project_id"):
        out[key] = parse_int(data.get(key), errors, key, minimum=1, message="Identifiant invalide.")
    if errors:
        raise ValidationFailed(errors)
    return out


def add_task(*, title: str, owner_id: int, created_by_id: int | None, source: str = "manuel",
             due_on: date | None = None, description: str | None = None, structure_id: int | None = None,
             opportunity_id: int | None = None, project_id: int | None = None,
             activity_id: int | None = None) -> Task:
    """Add a task and its event to the session (the caller commits): used by activities and workflows."""
    assert source in TASK_SOURCES
    task = Task(title=title, owner_id=owner_id, created_by_id=created_by_id, source=source, due_on=due_on,
                description=description, structure_id=structure_id, opportunity_id=opportunity_id,
                project_id=project_id, activity_id=activity_id)
    db.session.add(task)
    db.session.flush()
    record_change(entity_type="task", entity_id=task.id, action="create",
                  changes={"title": [None, title], "due_on": [None, due_on]}, event_type="task.created",
                  payload=task_payload(task), user_id=created_by_id)
    return task


def create_task(data: dict, *, user: User) -> Task:
    """Create a task by hand (the owner defaults to the user)."""
    values = clean_task_data(data, default_owner=user)
    for key in ("opportunity_id", "project_id"):
        if values[key] is not None:
            from crm.pipeline.models import Opportunity, Project

            model = Opportunity if key == "opportunity_id" else Project
            if db.session.get(model, values[key]) is None:
                raise ValidationFailed({key: "Élément lié introuvable."})
    task = add_task(created_by_id=user.id, source="manuel", **values)
    db.session.commit()
    return task


def update_task(task: Task, data: dict, *, user: User) -> Task:
    values = clean_task_data({**{"owner_id": task.owner_id}, **data}, default_owner=user)
    before = {k: getattr(task, k) for k in ("title", "description", "due_on", "owner_id")}
    for key in before:
        setattr(task, key, values[key])
    changes = {k: [v, getattr(task, k)] for k, v in before.items() if v != getattr(task, k)}
    if changes:
        record_change(entity_type="task", entity_id=task.id, action="update", changes=changes,
                      event_type="task.updated", payload=task_payload(task), user_id=user.id)
    db.session.commit()
    return task


def set_done(task: Task, done: bool, *, user: User) -> Task:
    """Mark a task done (or open again); idempotent."""
    if task.is_done == done:
        return task
    task.done_at = utcnow() if done else None
    task.done_by_id = user.id if done else None
    record_change(entity_type="task", entity_id=task.id, action="update",
                  changes={"done": [not done, done]}, event_type="task.done" if done else "task.reopened",
                  payload=task_payload(task), user_id=user.id)
    db.session.commit()
    return task


@dataclass
class TaskBuckets:
    overdue: list[Task] = field(default_factory=list)
    today: list[Task] = field(default_factory=list)
    this_week: list[Task] = field(default_factory=list)
    later: list[Task] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.overdue) + len(self.today) + len(self.this_week) + len(self.later)


def open_tasks_for(user_id: int, today: date | None = None) -> TaskBuckets:
    """The user's open tasks: overdue first, due today, this week, then later or undated."""
    today = today or date.today()
    end_of_week = today + timedelta(days=6 - today.weekday())
    tasks = db.session.scalars(
        select(Task).where(Task.owner_id == user_id, Task.done_at.is_(None))
        .order_by(Task.due_on.is_(None), Task.due_on, Task.id)).all()
    buckets = TaskBuckets()
    for task in tasks:
        if task.due_on is None:
            buckets.later.append(task)
        elif task.due_on < today:
            buckets.overdue.append(task)
        elif task.due_on == today:
            buckets.today.append(task)
        elif task.due_on <= end_of_week:
            buckets.this_week.append(task)
        else:
            buckets.later.append(task)
    return buckets
