"""Logging activities, their timeline and their filtered list."""

from __future__ import annotations

from datetime import date, timedelta
from functools import cache

from sqlalchemy import bindparam, delete, exists, func, or_, select
from sqlalchemy.orm import joinedload, lazyload, load_only, selectinload

from crm.accounts.models import User
from crm.accounts.permissions import can_write_structures
from crm.activities import departments
from crm.activities.models import (
    ALL_PROGRAMMES,
    KINDS,
    Activity,
    activity_contacts,
    activity_departments,
    activity_offers,
    activity_programmes,
    activity_structures,
)
from crm.platform.dates import local_today
from crm.platform.events import record_change
from crm.platform.extensions import db
from crm.platform.models import utcnow
from crm.platform.paging import Page, by_id, keyset_page
from crm.platform.records import insert_links, insert_record
from crm.platform.validation import ValidationFailed, parse_date, parse_ids, parse_int, text
from crm.referential.models import Offer, Programme, Sector
from crm.structures.models import Contact, Structure
from crm.tasks.models import Task
from crm.tasks.services import add_task

MAX_PAST_DAYS = 366 * 3
# Two activities of one author, kind, day and structures logged this close together are one logged twice
# (a double click, a retried request), unless the author confirms.
DUPLICATE_WINDOW = timedelta(minutes=10)


class DuplicateActivity(Exception):
    """The activity looks like one logged a moment ago (``existing``); repeat with confirmation to log it."""

    def __init__(self, existing: Activity):
        super().__init__(f"duplicate of activity {existing.id}")
        self.existing = existing


@cache
def _structures_by_id():
    """The structures of an activity being logged, a statement built once (POST /api/v1/activities is hot).

    Only what the checks, the event's payload and the API's answer read: id, name, department and
    the sector's code (and the version, which an update checks); not the category nor the department
    with its region (the other columns load on first access). Built on first use, once every model
    is mapped.
    """
    return (
        select(Structure)
        .options(
            load_only(Structure.id, Structure.name, Structure.department_code, Structure.sector_id, Structure.version),
            joinedload(Structure.sector).load_only(Sector.code),
            lazyload(Structure.category),
            lazyload(Structure.department),
        )
        .where(Structure.id.in_(bindparam("ids", expanding=True)))
    )


@cache
def _offers_by_id():
    """The offers discussed, without their programme (its id is on the offer)."""
    return select(Offer).options(lazyload(Offer.programme)).where(Offer.id.in_(bindparam("ids", expanding=True)))


def clean_activity_data(data: dict, *, user: User, kept_structure_ids: frozenset[int] = frozenset()) -> dict:
    """Validate an activity; every error at once, in French. ``kept_structure_ids``: the structures an edited
    activity already concerned, which stay allowed even outside the editor's departments."""
    errors: dict[str, str] = {}
    kind = data.get("kind")
    if kind not in KINDS:
        errors["kind"] = "Choisissez le type d'activité."
    occurred_on = parse_date(data.get("occurred_on"), errors, "occurred_on") or (
        None if "occurred_on" in errors else local_today()
    )
    if occurred_on and occurred_on > local_today() + timedelta(days=1):
        errors["occurred_on"] = "Une activité se déclare une fois faite : la date ne peut pas être dans le futur."
    elif occurred_on and occurred_on < local_today() - timedelta(days=MAX_PAST_DAYS):
        errors["occurred_on"] = "Date trop ancienne (plus de trois ans)."
    duration = parse_int(
        data.get("duration_minutes"),
        errors,
        "duration_minutes",
        minimum=0,
        maximum=1440,
        message="Durée en minutes attendue.",
    )
    structure_ids = parse_ids(data.get("structure_ids"), errors, "structure_ids")
    structures = list(db.session.scalars(_structures_by_id(), {"ids": structure_ids})) if structure_ids else []
    if "structure_ids" in errors:
        pass
    elif not structure_ids:
        errors["structure_ids"] = "Choisissez au moins une structure."
    elif len(structures) != len(structure_ids):
        errors["structure_ids"] = "Structure inconnue."
    elif any(s.id not in kept_structure_ids for s in structures) and not can_write_structures(
        user, [s for s in structures if s.id not in kept_structure_ids]
    ):
        errors["structure_ids"] = "Vous ne pouvez déclarer une activité que pour des structures de vos départements."
    contact_ids = parse_ids(data.get("contact_ids"), errors, "contact_ids")
    contacts = list(db.session.scalars(select(Contact).where(Contact.id.in_(contact_ids)))) if contact_ids else []
    if len(contacts) != len(contact_ids) or any(c.structure_id not in structure_ids or c.erased_at for c in contacts):
        errors["contact_ids"] = "Les contacts doivent appartenir aux structures choisies."
    offer_ids = parse_ids(data.get("offer_ids"), errors, "offer_ids")
    offers = list(db.session.scalars(_offers_by_id(), {"ids": offer_ids})) if offer_ids else []
    if len(offers) != len(offer_ids):
        errors["offer_ids"] = "Offre inconnue."
    programme_ids = parse_ids(data.get("programme_ids"), errors, "programme_ids")
    programmes = (
        list(db.session.scalars(select(Programme).where(Programme.id.in_(programme_ids)))) if programme_ids else []
    )
    if len(programmes) != len(programme_ids):
        errors["programme_ids"] = "Programme inconnu."
    next_step = text(data.get("next_step"), errors, "next_step", max_length=300, one_line=True)
    next_due = parse_date(data.get("next_step_due_on"), errors, "next_step_due_on")
    if next_due and occurred_on and next_due < occurred_on:
        errors["next_step_due_on"] = "L'échéance de la prochaine étape ne peut pas précéder l'activité."
    # In the order chosen: the first structure is the one the next step's task is about.
    structures.sort(key=lambda s: structure_ids.index(s.id))
    if next_step and not next_due and "next_step_due_on" not in errors:
        errors["next_step_due_on"] = "Indiquez l'échéance de la prochaine étape."
    if next_due and not next_step:
        errors["next_step"] = "Décrivez la prochaine étape."
    out = {
        "kind": kind,
        "occurred_on": occurred_on,
        "duration_minutes": duration,
        "subject": text(data.get("subject"), errors, "subject", max_length=200, one_line=True),
        "notes": text(data.get("notes"), errors, "notes", max_length=20000),
        "is_information": bool(data.get("is_information"))
        if not isinstance(data.get("is_information"), str)
        else data.get("is_information").lower() in ("1", "true", "y", "on", "oui"),
        "next_step": next_step,
        "next_step_due_on": next_due,
        "structures": structures,
        "contacts": contacts,
        "offers": offers,
        "programmes": programmes,
    }
    if errors:
        raise ValidationFailed(errors)
    return out


def activity_payload(activity: Activity) -> dict:
    """What the indicator engine needs: one entry per structure concerned, with its department and sector."""
    return {
        "activity_id": activity.id,
        "kind": activity.kind,
        "occurred_on": activity.occurred_on,
        "is_information": activity.is_information,
        "author_id": activity.author_id,
        "structures": [
            {"structure_id": s.id, "department": s.department_code, "sector": s.sector.code if s.sector else None}
            for s in activity.structures
        ],
        "programme_ids": activity.all_programme_ids(),
        "offer_ids": sorted(o.id for o in activity.offers),
    }


_LINKS = (
    ("structures", activity_structures, "structure_id"),
    ("contacts", activity_contacts, "contact_id"),
    ("offers", activity_offers, "offer_id"),
    ("programmes", activity_programmes, "programme_id"),
)
_COLUMNS = (
    "kind",
    "occurred_on",
    "duration_minutes",
    "subject",
    "notes",
    "is_information",
    "next_step",
    "next_step_due_on",
)


def _write_activity(values: dict, *, user: User) -> Activity:
    """Insert the activity and its links with Core statements (the ORM's flush cost more than the rest)."""
    now = utcnow()
    activity = insert_record(
        Activity,
        {**{name: values[name] for name in _COLUMNS}, "author_id": user.id, "created_at": now, "updated_at": now},
        author=user,
        structures=sorted(values["structures"], key=lambda s: s.name),
        contacts=values["contacts"],
        offers=values["offers"],
        programmes=values["programmes"],
    )
    for name, table, column in _LINKS:
        insert_links(table, [{"activity_id": activity.id, column: record.id} for record in values[name]])
    _write_listing(activity, values, replace=False)
    return activity


def _write_listing(activity: Activity, values: dict, *, replace: bool) -> None:
    """The activity's rows of the list's keys per department (crm/activities/departments.py)."""
    programme_ids = {p.id for p in values["programmes"]} | {o.programme_id for o in values["offers"]}
    departments.write_for(activity, (s.department_code for s in values["structures"]), programme_ids, replace=replace)


def find_duplicate(values: dict, *, user: User) -> Activity | None:
    """The activity of this author, kind, day and exact structures logged within ``DUPLICATE_WINDOW``."""
    wanted = {s.id for s in values["structures"]}
    candidates = db.session.scalars(
        select(Activity)
        .where(
            Activity.author_id == user.id,
            Activity.kind == values["kind"],
            Activity.occurred_on == values["occurred_on"],
            Activity.created_at >= utcnow() - DUPLICATE_WINDOW,
        )
        .order_by(Activity.id.desc())
    )
    return next((a for a in candidates if {s.id for s in a.structures} == wanted), None)


def _confirmed(value) -> bool:
    if isinstance(value, str):
        return value.lower() in ("1", "true", "y", "on", "oui")
    return bool(value)


def log_activity(data: dict, *, user: User, commit: bool = True, check_duplicates: bool = False) -> Activity:
    """Log an activity. Its next step becomes a task for its author through the ``activity_next_step_task``
    workflow rule (:func:`plan_next_step`), a moment later.

    With ``check_duplicates`` (a person typing: the form, the API), one that repeats an activity logged
    a moment ago (:func:`find_duplicate`) raises :class:`DuplicateActivity` unless
    ``data["confirm_duplicate"]`` is true; imports and the seed log what they are given. ``commit=False``
    leaves the change in the session (the API's idempotency key commits with it)."""
    values = clean_activity_data(data, user=user)
    if check_duplicates and not _confirmed(data.get("confirm_duplicate")):
        existing = find_duplicate(values, user=user)
        if existing is not None:
            raise DuplicateActivity(existing)
    activity = _write_activity(values, user=user)
    payload = activity_payload(activity)
    if activity.next_step:
        # The structure chosen first is the one the next step is about; the links do not keep that order.
        payload["next_step_structure_id"] = values["structures"][0].id
    record_change(
        entity_type="activity",
        entity_id=activity.id,
        action="create",
        changes={
            "kind": [None, activity.kind],
            "occurred_on": [None, activity.occurred_on],
            "structures": [None, [s.id for s in activity.structures]],
        },
        event_type="activity.logged",
        payload=payload,
        user_id=user.id,
    )
    if commit:
        db.session.commit()
    return activity


def activity_values(activity: Activity) -> dict:
    """An activity as the input :func:`clean_activity_data` takes (to edit it field by field); a contact
    erased since (RGPD) is left out, as the form offers it no more."""
    return {name: getattr(activity, name) for name in _COLUMNS} | {
        column + "s": [record.id for record in getattr(activity, name) if not getattr(record, "erased_at", None)]
        for name, _, column in _LINKS
    }


def _snapshot(activity: Activity) -> dict:
    """What the audit keeps of an activity: its columns and the ids of what it links."""
    return {name: getattr(activity, name) for name in _COLUMNS} | {
        name: sorted(record.id for record in getattr(activity, name)) for name, _, _ in _LINKS
    }


def update_activity(activity: Activity, data: dict, *, user: User, commit: bool = True) -> Activity:
    """Edit an activity (``data``: the fields that change, the others keep their value).

    Its ``activity.updated`` event carries the activity before (``previous``) and after, so that the
    indicator maintenance moves the cells it left (a day moved out of a period, a structure removed,
    the information flag cleared) and those it enters. A next step added later becomes a task as at
    logging time (one per activity). The caller checks :func:`~crm.accounts.permissions.can_edit_activity`.
    """
    before = _snapshot(activity)
    previous = activity_payload(activity)
    kept = frozenset(s.id for s in activity.structures)
    values = clean_activity_data({**activity_values(activity), **data}, user=user, kept_structure_ids=kept)
    after = {name: values[name] for name in _COLUMNS} | {
        name: sorted(record.id for record in values[name]) for name, _, _ in _LINKS
    }
    changes = {key: [old, after[key]] for key, old in before.items() if old != after[key]}
    if not changes:
        return activity
    for name in _COLUMNS:
        setattr(activity, name, values[name])
    activity.updated_at = utcnow()
    connection = db.session.connection()
    for name, table, column in _LINKS:
        if name in changes:
            connection.execute(delete(table).where(table.c.activity_id == activity.id))
            insert_links(table, [{"activity_id": activity.id, column: record.id} for record in values[name]])
    if changes.keys() & {"structures", "occurred_on", "kind", "offers", "programmes"}:
        _write_listing(activity, values, replace=True)
    db.session.flush()
    db.session.expire(activity, [name for name, _, _ in _LINKS])
    payload = {**activity_payload(activity), "previous": previous}
    if activity.next_step:
        payload["next_step_structure_id"] = values["structures"][0].id
    record_change(
        entity_type="activity",
        entity_id=activity.id,
        action="update",
        changes=changes,
        event_type="activity.updated",
        payload=payload,
        user_id=user.id,
    )
    if commit:
        db.session.commit()
    return activity


def delete_activity(activity: Activity, *, user: User, commit: bool = True) -> None:
    """Delete an activity; its audit entry keeps what it was, and its ``activity.deleted`` event takes it
    out of the indicators. Its task, if any, stays (unlinked); an opportunity it started forgets it.
    The caller checks :func:`~crm.accounts.permissions.can_edit_activity`."""
    snapshot = _snapshot(activity)
    record_change(
        entity_type="activity",
        entity_id=activity.id,
        action="delete",
        changes={key: [value, None] for key, value in snapshot.items()},
        event_type="activity.deleted",
        payload={"previous": activity_payload(activity)},
        user_id=user.id,
    )
    # Core DELETE: the links go by their foreign keys' cascade, tasks and opportunities are unlinked.
    db.session.execute(delete(Activity.__table__).where(Activity.__table__.c.id == activity.id))
    db.session.expunge(activity)
    if commit:
        db.session.commit()


def plan_next_step(activity: Activity, *, structure_id: int | None, origin: str | None = None) -> Task | None:
    """The task of an activity's next step, for its author, added to the session (the caller commits);
    None when the activity has no next step or its task exists already (one per activity)."""
    if not activity.next_step or activity.author_id is None:
        return None
    if db.session.scalar(select(Task.id).where(Task.activity_id == activity.id, Task.source == "activite")) is not None:
        return None
    structure_ids = {s.id for s in activity.structures}
    if structure_id not in structure_ids:  # an event from before the payload said which: the first by name
        structure_id = activity.structures[0].id if activity.structures else None
    return add_task(
        title=activity.next_step,
        owner_id=activity.author_id,
        created_by_id=activity.author_id,
        source="activite",
        due_on=activity.next_step_due_on,
        structure_id=structure_id,
        activity_id=activity.id,
        origin=origin,
    )


def activity_filters(
    *,
    department: str | None = None,
    kind: str | None = None,
    programme: int | None = None,
    author: int | None = None,
    start: date | None = None,
    end: date | None = None,
    structure: int | None = None,
) -> list:
    """WHERE clauses on the activities (a department's list reads activity_departments instead)."""
    clauses = []
    if department:
        clauses.append(
            Activity.id.in_(
                select(activity_departments.c.activity_id).where(activity_departments.c.department_code == department)
            )
        )
    if structure:
        clauses.append(
            Activity.id.in_(
                select(activity_structures.c.activity_id).where(activity_structures.c.structure_id == structure)
            )
        )
    if kind:
        clauses.append(Activity.kind == kind)
    if programme:
        # Two correlated probes of primary keys per row read: the list walks its index newest first
        # and stops after a page, where a set of every activity of the programme would be built first.
        offers = select(Offer.id).where(Offer.programme_id == programme)
        clauses.append(
            or_(
                exists().where(
                    activity_programmes.c.activity_id == Activity.id, activity_programmes.c.programme_id == programme
                ),
                exists().where(activity_offers.c.activity_id == Activity.id, activity_offers.c.offer_id.in_(offers)),
            )
        )
    if author:
        clauses.append(Activity.author_id == author)
    if start:
        clauses.append(Activity.occurred_on >= start)
    if end:
        clauses.append(Activity.occurred_on <= end)
    return clauses


def activity_list_statement(**filters) -> tuple:
    """The list's keys statement (its filters set), its order (a unique key, newest first) and whether
    its rows are read from activity_departments.

    Filtered by department, the keys come from activity_departments: one index range per department
    (and programme), the type and the period read from the index too; the activities are joined only
    for a filter the index does not hold (author, structure)."""
    if not filters.get("department"):
        return select(Activity.id).where(*activity_filters(**filters)), (Activity.occurred_on, Activity.id)
    AD = activity_departments
    clauses = [
        AD.c.department_code == filters["department"],
        AD.c.programme_id == (filters.get("programme") or ALL_PROGRAMMES),
    ]
    if filters.get("kind"):
        clauses.append(AD.c.kind == filters["kind"])
    if filters.get("start"):
        clauses.append(AD.c.occurred_on >= filters["start"])
    if filters.get("end"):
        clauses.append(AD.c.occurred_on <= filters["end"])
    statement = select(AD.c.activity_id).where(*clauses)
    rest = {key: filters.get(key) for key in ("author", "structure") if filters.get(key)}
    if rest:
        statement = statement.join(Activity, Activity.id == AD.c.activity_id).where(*activity_filters(**rest))
    return statement, (AD.c.occurred_on, AD.c.activity_id)


def list_activities(*, page: int = 1, per_page: int = 50, cursor: str | None = None, **filters) -> Page:
    """A page of the list, newest first: numbered for the first pages, by ``cursor`` beyond
    (crm/platform/paging.py); raises CursorError or PageTooDeep for a page it cannot serve."""
    statement, order = activity_list_statement(**filters)
    return keyset_page(
        statement,
        order=order,
        kinds=(date, int),
        cursor=cursor,
        page=page,
        per_page=per_page,
        load=by_id(Activity),  # the keys may come from activity_departments: the rows are activities
    )


def structure_timeline(structure_id: int, limit: int = 50) -> list[Activity]:
    """The structure's latest activities, newest first.

    A plain join on the link table, without the list's count: the structure page must stay
    fast for a structure with hundreds of activities among millions.
    """
    # The timeline shows the other structures' names and the offers: contacts and programmes are
    # loaded only if asked for, the other structures without their joined reference rows.
    return list(
        db.session.scalars(
            select(Activity)
            .join(activity_structures, activity_structures.c.activity_id == Activity.id)
            .where(activity_structures.c.structure_id == structure_id)
            .options(
                lazyload(Activity.contacts),
                lazyload(Activity.programmes),
                joinedload(Activity.author).lazyload(User.departments),
                selectinload(Activity.structures).options(
                    load_only(Structure.id, Structure.name, Structure.department_code), lazyload("*")
                ),
            )
            .order_by(Activity.occurred_on.desc(), Activity.id.desc())
            .limit(limit)
        )
    )


def count_structure_activities(structure_id: int) -> int:
    return (
        db.session.scalar(
            select(func.count())
            .select_from(activity_structures)
            .where(activity_structures.c.structure_id == structure_id)
        )
        or 0
    )


def contact_choices(structure_ids: list[int]) -> list[Contact]:
    """Contacts one may tick on an activity of these structures (erased ones are gone for good)."""
    if not structure_ids:
        return []
    return list(
        db.session.scalars(
            select(Contact)
            .where(Contact.structure_id.in_(structure_ids), Contact.erased_at.is_(None))
            .order_by(Contact.structure_id, Contact.last_name, Contact.first_name, Contact.id)
        )
    )


def activity_authors() -> list[User]:
    """Users who may have logged activities, for the list's animator filter."""
    return list(
        db.session.scalars(
            select(User).where(User.role.in_(("animateur", "admin"))).order_by(User.last_name, User.first_name, User.id)
        )
    )


def programme_choices() -> list[Programme]:
    """Active programmes in CPOM order with their offers, for the form's checkbox groups."""
    return list(
        db.session.scalars(
            select(Programme)
            .where(Programme.active.is_(True))
            .order_by(Programme.number)
            .options(selectinload(Programme.offers))
        )
    )
