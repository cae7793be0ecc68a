"""Follow-up tasks ("relances"): created by hand, from an activity's next step, or by workflows."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import func, select, update
from sqlalchemy.orm import lazyload

from crm.accounts.models import User
from crm.accounts.permissions import can_edit_structure
from crm.platform.dates import iso_week, local_today
from crm.platform.events import record_change
from crm.platform.extensions import db
from crm.platform.models import utcnow
from crm.platform.paging import Page
from crm.platform.records import insert_record
from crm.platform.validation import ValidationFailed, parse_date, parse_int, text
from crm.structures.models import Structure
from crm.tasks.models import TASK_SOURCES, Task

MAX_ID = 2**31 - 1


def task_payload(task: Task) -> dict:
    return {
        "task_id": task.id,
        "owner_id": task.owner_id,
        "structure_id": task.structure_id,
        "department": task.structure.department_code if task.structure else None,
        "due_on": task.due_on,
        "source": task.source,
        "opportunity_id": task.opportunity_id,
        "project_id": task.project_id,
        "activity_id": task.activity_id,
        "event_id": task.event_id,
        "done_at": task.done_at,
        "done_by_id": task.done_by_id,
    }


def _id(value, errors: dict, field: str, message: str) -> int | None:
    """A record id: out of the database's integer range is as invalid as a word."""
    number = parse_int(value, errors, field, minimum=1, maximum=MAX_ID, message=message)
    if field in errors:
        errors[field] = message
    return number


def clean_task_data(data: dict, *, default_owner: User) -> dict:
    errors: dict[str, str] = {}
    out = {
        "title": text(
            data.get("title"),
            errors,
            "title",
            max_length=300,
            one_line=True,
            required=True,
            message="Indiquez l'objet de la relance.",
        ),
        "description": text(data.get("description"), errors, "description", max_length=5000),
        "due_on": parse_date(data.get("due_on"), errors, "due_on"),
    }
    owner_id = _id(data.get("owner_id"), errors, "owner_id", "Responsable invalide.")
    owner = db.session.get(User, owner_id) if owner_id else default_owner
    if owner_id and (owner is None or not owner.active or owner.role == "manager"):
        errors["owner_id"] = "Responsable inconnu ou qui ne peut pas recevoir de relance."
    out["owner_id"] = owner.id if owner else None
    structure_id = _id(data.get("structure_id"), errors, "structure_id", "Structure invalide.")
    if structure_id and db.session.get(Structure, structure_id) is None:
        errors["structure_id"] = "Structure inconnue."
    out["structure_id"] = structure_id
    for key in ("opportunity_id", "project_id"):
        out[key] = _id(data.get(key), errors, key, "Identifiant invalide.")
    if errors:
        raise ValidationFailed(errors)
    return out


def add_task(
    *,
    title: str,
    owner_id: int,
    created_by_id: int | None,
    source: str = "manuel",
    due_on: date | None = None,
    description: str | None = None,
    structure_id: int | None = None,
    opportunity_id: int | None = None,
    project_id: int | None = None,
    activity_id: int | None = None,
    event_id: int | None = None,
    origin: str | None = None,
) -> Task:
    """Add a task and its event to the session (the caller commits): used by activities and workflows."""
    assert source in TASK_SOURCES
    task = insert_record(
        Task,
        {
            "title": title,
            "owner_id": owner_id,
            "created_by_id": created_by_id,
            "source": source,
            "due_on": due_on,
            "description": description,
            "structure_id": structure_id,
            "opportunity_id": opportunity_id,
            "project_id": project_id,
            "activity_id": activity_id,
            "event_id": event_id,
            "created_at": utcnow(),
            "done_at": None,
            "done_by_id": None,
        },
    )
    record_change(
        entity_type="task",
        entity_id=task.id,
        action="create",
        changes={"title": [None, title], "due_on": [None, due_on]},
        event_type="task.created",
        payload=task_payload(task),
        user_id=created_by_id,
        origin=origin,
    )
    return task


def create_task(data: dict, *, user: User) -> Task:
    """Create a task by hand (the owner defaults to the user).

    A linked opportunity or project must be of the task's structure (which it gives when none is
    chosen); an animator links only structures of their departments.
    """
    values = clean_task_data(data, default_owner=user)
    errors: dict[str, str] = {}
    # The pipeline sits above tasks: the task's relationships name its models, reached through the mapper.
    for key, relation in (("opportunity_id", Task.opportunity), ("project_id", Task.project)):
        model = relation.property.mapper.class_
        if values[key] is None:
            continue
        linked = db.session.get(model, values[key])
        if linked is None:
            errors[key] = "Élément lié introuvable."
        elif values["structure_id"] is None:
            values["structure_id"] = linked.structure_id
        elif linked.structure_id != values["structure_id"]:
            errors[key] = "Cet élément concerne une autre structure que la relance."
    structure = db.session.get(Structure, values["structure_id"]) if values["structure_id"] else None
    if structure is not None and user.role == "animateur" and not can_edit_structure(user, structure):
        errors["structure_id"] = "Vous ne pouvez lier une relance qu'aux structures de vos départements."
    if errors:
        raise ValidationFailed(errors)
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
        record_change(
            entity_type="task",
            entity_id=task.id,
            action="update",
            changes=changes,
            event_type="task.updated",
            payload=task_payload(task),
            user_id=user.id,
        )
    db.session.commit()
    return task


def set_done(task: Task, done: bool, *, user: User) -> Task:
    """Mark a task done (or open again); idempotent, also when two clicks race: the row is
    changed only if it is still in the other state, and only that change writes its event."""
    if task.is_done == done:
        return task
    now = utcnow() if done else None
    still = Task.done_at.is_(None) if done else Task.done_at.is_not(None)
    changed = db.session.execute(
        update(Task)
        .where(Task.id == task.id, still)
        .values(done_at=now, done_by_id=user.id if done else None)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.refresh(task)
    if not changed:
        db.session.commit()
        return task
    record_change(
        entity_type="task",
        entity_id=task.id,
        action="update",
        changes={"done": [not done, done]},
        event_type="task.done" if done else "task.reopened",
        payload=task_payload(task),
        user_id=user.id,
    )
    db.session.commit()
    return task


@dataclass
class TaskBuckets:
    overdue: list[Task] = field(default_factory=list)
    today: list[Task] = field(default_factory=list)
    this_week: list[Task] = field(default_factory=list)
    later: list[Task] = field(default_factory=list)
    week_end: date | None = None  # the Sunday "cette semaine" runs to

    @property
    def total(self) -> int:
        return len(self.overdue) + len(self.today) + len(self.this_week) + len(self.later)


def open_tasks_for(user_id: int, today: date | None = None) -> TaskBuckets:
    """The user's open tasks: overdue first, due today, this week, then later or undated.

    "Cette semaine" is the rest of the current ISO week, Monday to Sunday, in Paris time (``today`` is
    Paris's day): on a Sunday it is empty, and a task due on Tuesday is "plus tard" (next week)."""
    today = today or local_today()
    end_of_week = iso_week(today)[1]
    tasks = db.session.scalars(
        select(Task)
        .where(Task.owner_id == user_id, Task.done_at.is_(None))
        .order_by(Task.due_on.is_(None), Task.due_on, Task.id)
    ).all()
    buckets = TaskBuckets(week_end=end_of_week)
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


def due_count_for(user_id: int, today: date | None = None) -> int:
    """Open tasks overdue or due today: the badge of the navigation (one indexed count)."""
    today = today or local_today()
    return (
        db.session.scalar(
            select(func.count())
            .select_from(Task)
            .where(Task.owner_id == user_id, Task.done_at.is_(None), Task.due_on <= today)
        )
        or 0
    )


def recently_done_for(user_id: int, limit: int = 10) -> list[Task]:
    """The user's last completed tasks, to reopen one ticked by mistake."""
    return list(
        db.session.scalars(
            select(Task)
            .where(Task.owner_id == user_id, Task.done_at.is_not(None))
            .order_by(Task.done_at.desc(), Task.id.desc())
            .limit(limit)
        )
    )


def open_tasks_of_structure(structure_id: int, limit: int = 50) -> list[Task]:
    """Open tasks about a structure, whoever owns them, the most urgent first."""
    return list(
        db.session.scalars(
            select(Task)
            .where(Task.structure_id == structure_id, Task.done_at.is_(None))
            .options(lazyload(Task.structure))
            .order_by(Task.due_on.is_(None), Task.due_on, Task.id)
            .limit(limit)
        )
    )


def list_tasks(*, owner_id: int, status: str = "open", page: int = 1, per_page: int = 50):
    """A user's tasks, open ones by due date (undated last), done ones most recent first."""
    clauses = [Task.owner_id == owner_id]
    if status == "open":
        clauses.append(Task.done_at.is_(None))
        order = (Task.due_on.is_(None), Task.due_on, Task.id)
    elif status == "done":
        clauses.append(Task.done_at.is_not(None))
        order = (Task.done_at.desc(), Task.id.desc())
    else:
        order = (Task.done_at.is_not(None), Task.due_on.is_(None), Task.due_on, Task.id)
    total = db.session.scalar(select(func.count()).select_from(Task).where(*clauses)) or 0
    items = db.session.scalars(
        select(Task).where(*clauses).order_by(*order).offset((max(page, 1) - 1) * per_page).limit(per_page)
    ).all()
    return Page(items=list(items), total=total, page=max(page, 1), per_page=per_page)
