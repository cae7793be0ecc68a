"""Opportunities through their stages, projects and milestones, engagement per programme."""

from __future__ import annotations

from datetime import UTC, date, timedelta

from sqlalchemy import func, select, update

from crm.accounts.models import User
from crm.accounts.permissions import can_edit_structure
from crm.accounts.services import department_animator
from crm.activities.models import Activity
from crm.pipeline.models import (
    ENGAGED_STATUSES,
    OPEN_STAGES,
    PROJECT_STATUSES,
    SOURCES,
    LossReason,
    Milestone,
    Opportunity,
    Project,
    StageChange,
)
from crm.pipeline.stages import transition_error
from crm.platform.concurrency import StaleEdit, commit_changes
from crm.platform.dates import local_date, local_today
from crm.platform.events import record_change
from crm.platform.extensions import db
from crm.platform.models import utcnow
from crm.platform.validation import ValidationFailed, parse_date, parse_int, text
from crm.referential.models import Offer
from crm.structures.models import Structure

MAX_ID = 2**31 - 1


def _parse_id(value, errors: dict, field: str, message: str, required: bool = False) -> int | None:
    """A positive id that fits the database's integer (a larger one would be a database error, not a 422)."""
    number = parse_int(value, errors, field, minimum=1, maximum=MAX_ID, required=required, message=message)
    if field in errors and errors[field].startswith("Valeur attendue"):
        errors[field] = message
    return number


def _structure_for(user: User, structure_id, errors: dict) -> Structure | None:
    structure_id = _parse_id(structure_id, errors, "structure_id", "Structure invalide.", required=True)
    structure = db.session.get(Structure, structure_id) if structure_id else None
    if structure_id and structure is None:
        errors["structure_id"] = "Structure inconnue."
    elif structure is not None and not can_edit_structure(user, structure):
        errors["structure_id"] = "Cette structure n'est pas dans vos départements."
    return structure


def _offer(value, errors: dict) -> Offer | None:
    offer_id = _parse_id(value, errors, "offer_id", "Offre invalide.", required=True)
    offer = db.session.get(Offer, offer_id) if offer_id else None
    if offer_id and offer is None:
        errors["offer_id"] = "Offre inconnue."
    return offer


def _user(value, errors: dict, field: str) -> User | None:
    user_id = _parse_id(value, errors, field, "Utilisateur invalide.")
    user = db.session.get(User, user_id) if user_id else None
    if user_id and (user is None or not user.active or user.role not in ("animateur", "admin")):
        errors[field] = "Responsable inconnu (un animateur ou un administrateur actif)."
        return None
    return user


def _source_event(value, source: str, errors: dict):
    """The event an opportunity came from: only with the source "evenement", and an event that took place."""
    event_id = _parse_id(value, errors, "source_event_id", "Événement invalide.")
    if not event_id:
        return None
    # Events sit above the pipeline: the opportunity's relationship names their model, so the
    # pipeline reaches it through the mapper instead of importing it.
    event = db.session.get(Opportunity.source_event.property.mapper.class_, event_id)
    if event is None:
        errors["source_event_id"] = "Événement inconnu."
    elif source != "evenement":
        errors["source_event_id"] = "Un événement d'origine suppose l'origine « Événement »."
    elif event.status in ("brouillon", "annule"):
        errors["source_event_id"] = "Cet événement n'a pas eu lieu (brouillon ou annulé)."
    elif event.starts_at.replace(tzinfo=event.starts_at.tzinfo or UTC) > utcnow():  # SQLite: naive UTC
        errors["source_event_id"] = "Cet événement n'a pas encore commencé."
    else:
        return event
    return None


def default_owner(structure: Structure, creator: User) -> User:
    """The animator of the structure's department (the creator when it is theirs)."""
    if creator.role == "animateur" and structure.department_code in creator.department_codes:
        return creator
    return department_animator(structure.department_code) or creator


def opportunity_payload(opportunity: Opportunity) -> dict:
    return {
        "opportunity_id": opportunity.id,
        "structure_id": opportunity.structure_id,
        "department": opportunity.department_code,
        "sector": opportunity.structure.sector.code if opportunity.structure.sector else None,
        "programme_id": opportunity.programme_id,
        "offer_id": opportunity.offer_id,
        "owner_id": opportunity.owner_id,
        "source": opportunity.source,
        "stage": opportunity.stage,
        "identified_on": opportunity.identified_on,
    }


def project_payload(project: Project) -> dict:
    return {
        "project_id": project.id,
        "structure_id": project.structure_id,
        "department": project.department_code,
        "sector": project.structure.sector.code if project.structure.sector else None,
        "programme_id": project.programme_id,
        "offer_id": project.offer_id,
        "opportunity_id": project.opportunity_id,
        "status": project.status,
        "started_on": project.started_on,
        "ended_on": project.ended_on,
        "owner_id": project.owner_id,
    }


MAX_PAST_DAYS = 366 * 3


def _identified_on(value, errors: dict) -> date | None:
    """The day the need was identified: today by default, or earlier (an animator types last week's needs);
    never in the future. It, not the day of typing, places the opportunity in the transformation cohort."""
    day = parse_date(value, errors, "identified_on")
    if day is None:
        return None if "identified_on" in errors else local_today()
    if day > local_today():
        errors["identified_on"] = "Un besoin s'identifie avant d'être saisi : la date ne peut pas être dans le futur."
    elif day < local_today() - timedelta(days=MAX_PAST_DAYS):
        errors["identified_on"] = "Date trop ancienne (plus de trois ans)."
    return day


def create_opportunity(data: dict, *, user: User, commit: bool = True) -> Opportunity:
    """Open an opportunity at "identifiée"; its first stage change is recorded too."""
    errors: dict[str, str] = {}
    structure = _structure_for(user, data.get("structure_id"), errors)
    offer = _offer(data.get("offer_id"), errors)
    title = text(
        data.get("title"),
        errors,
        "title",
        max_length=200,
        one_line=True,
        required=True,
        message="Donnez un titre à l'opportunité.",
    )
    need = text(data.get("need"), errors, "need", max_length=20000)
    source = data.get("source") or "visite"
    if source not in SOURCES:
        errors["source"] = "Origine inconnue."
    owner = _user(data.get("owner_id"), errors, "owner_id")
    expected_on = parse_date(data.get("expected_on"), errors, "expected_on")
    identified_on = _identified_on(data.get("identified_on"), errors)
    activity_id = _parse_id(data.get("source_activity_id"), errors, "source_activity_id", "Activité invalide.")
    activity = db.session.get(Activity, activity_id) if activity_id else None
    if activity_id and activity is None:
        errors["source_activity_id"] = "Activité inconnue."
    elif activity is not None and structure is not None and structure.id not in {s.id for s in activity.structures}:
        errors["source_activity_id"] = "Cette activité ne concerne pas la structure de l'opportunité."
    event = _source_event(data.get("source_event_id"), source, errors)
    if errors:
        raise ValidationFailed(errors)
    opportunity = Opportunity(
        structure_id=structure.id,
        offer_id=offer.id,
        programme_id=offer.programme_id,
        department_code=structure.department_code,
        title=title,
        need=need,
        source=source,
        source_activity_id=activity_id,
        source_event_id=event.id if event else None,
        owner_id=(owner or default_owner(structure, user)).id,
        expected_on=expected_on,
        stage="identifiee",
        identified_on=identified_on,
        created_by_id=user.id,
        stage_changed_at=utcnow(),
    )
    db.session.add(opportunity)
    db.session.flush()
    db.session.add(
        StageChange(
            opportunity_id=opportunity.id,
            from_stage=None,
            to_stage="identifiee",
            changed_by_id=user.id,
            changed_at=opportunity.stage_changed_at,
        )
    )
    db.session.refresh(opportunity)
    record_change(
        entity_type="opportunity",
        entity_id=opportunity.id,
        action="create",
        changes={"title": [None, title], "stage": [None, "identifiee"]},
        event_type="opportunity.created",
        payload=opportunity_payload(opportunity),
        user_id=user.id,
    )
    if commit:
        db.session.commit()
    return opportunity


def update_opportunity(
    opportunity: Opportunity, data: dict, *, user: User, expected_version: int | None = None, commit: bool = True
) -> Opportunity:
    """Edit title, need, owner and expected date (the stage moves through ``change_stage``).

    ``commit=False`` leaves the change in the session, so that the API can edit and move
    an opportunity in one transaction.
    """
    if expected_version is not None and expected_version != opportunity.version:
        raise StaleEdit("Cette opportunité a été modifiée entre-temps. Rechargez la page.")
    errors: dict[str, str] = {}
    values = {
        "title": text(
            data.get("title", opportunity.title),
            errors,
            "title",
            max_length=200,
            one_line=True,
            required=True,
            message="Donnez un titre à l'opportunité.",
        ),
        "need": text(data.get("need", opportunity.need), errors, "need", max_length=20000),
        "expected_on": parse_date(data.get("expected_on", opportunity.expected_on), errors, "expected_on"),
    }
    if "owner_id" in data:
        owner = _user(data.get("owner_id"), errors, "owner_id")
        if owner is not None:
            values["owner_id"] = owner.id
    if errors:
        raise ValidationFailed(errors)
    changes = {k: [getattr(opportunity, k), v] for k, v in values.items() if getattr(opportunity, k) != v}
    if not changes:
        return opportunity
    for key, value in values.items():
        setattr(opportunity, key, value)
    record_change(
        entity_type="opportunity",
        entity_id=opportunity.id,
        action="update",
        changes=changes,
        event_type="opportunity.updated",
        payload=opportunity_payload(opportunity),
        user_id=user.id,
    )
    if commit:
        commit_changes()
    return opportunity


def change_stage(
    opportunity: Opportunity,
    to_stage: str,
    *,
    user: User,
    reason_id=None,
    comment: str | None = None,
    expected_version: int | None = None,
    commit: bool = True,
) -> Opportunity:
    """Move an opportunity. A won one becomes a project through the ``won_opportunity_project`` workflow
    rule (:func:`start_won_project`), a few seconds later."""
    errors: dict[str, str] = {}
    reason_id = _parse_id(reason_id, errors, "reason_id", "Raison invalide.")
    comment = text(comment, errors, "comment", max_length=500)
    if errors:
        raise ValidationFailed(errors)
    if expected_version is not None and expected_version != opportunity.version:
        raise StaleEdit("Cette opportunité a été modifiée entre-temps. Rechargez la page.")
    message = transition_error(opportunity.stage, to_stage, reason_id)
    if message:
        raise ValidationFailed({"stage": message})
    reason = None
    if reason_id:
        reason = db.session.get(LossReason, reason_id)
        if reason is None or not reason.active:
            raise ValidationFailed({"reason_id": "Raison inconnue."})
    from_stage = opportunity.stage
    now = utcnow()
    opportunity.stage = to_stage
    opportunity.stage_changed_at = now
    opportunity.loss_reason_id = reason.id if to_stage in ("perdue", "abandonnee") else None
    opportunity.closed_on = local_date(now) if to_stage not in OPEN_STAGES else None
    db.session.add(
        StageChange(
            opportunity_id=opportunity.id,
            from_stage=from_stage,
            to_stage=to_stage,
            changed_at=now,
            changed_by_id=user.id,
            reason_id=opportunity.loss_reason_id,
            comment=comment,
        )
    )
    payload = {
        **opportunity_payload(opportunity),
        "from_stage": from_stage,
        "to_stage": to_stage,
        "changed_at": now,
        "reason_id": opportunity.loss_reason_id,
    }
    record_change(
        entity_type="opportunity",
        entity_id=opportunity.id,
        action="update",
        changes={"stage": [from_stage, to_stage]},
        event_type="opportunity.stage_changed",
        payload=payload,
        user_id=user.id,
    )
    if commit:
        commit_changes()
    return opportunity


def _add_project(
    *,
    structure: Structure,
    offer: Offer,
    title: str,
    owner_id: int | None,
    user_id: int | None,
    opportunity: Opportunity | None = None,
    started_on: date | None = None,
    notes: str | None = None,
    origin: str | None = None,
) -> Project:
    project = Project(
        structure_id=structure.id,
        offer_id=offer.id,
        programme_id=offer.programme_id,
        department_code=structure.department_code,
        opportunity_id=opportunity.id if opportunity else None,
        title=title,
        status="en_cours",
        started_on=started_on or local_today(),
        owner_id=owner_id,
        notes=notes,
    )
    db.session.add(project)
    db.session.flush()
    db.session.refresh(project)
    record_change(
        entity_type="project",
        entity_id=project.id,
        action="create",
        changes={"title": [None, title], "status": [None, "en_cours"]},
        event_type="project.created",
        payload=project_payload(project),
        user_id=user_id,
        origin=origin,
    )
    return project


def start_won_project(opportunity: Opportunity, *, user_id: int | None, origin: str | None = None) -> Project | None:
    """The project of a won opportunity, for its structure and offer, started the day it was won, added
    to the session (the caller commits); None when the opportunity is not won or has its project already
    (one per opportunity)."""
    if opportunity.stage != "gagnee":
        return None
    if db.session.scalar(select(Project.id).where(Project.opportunity_id == opportunity.id)) is not None:
        return None
    return _add_project(
        structure=opportunity.structure,
        offer=opportunity.offer,
        title=opportunity.title,
        owner_id=opportunity.owner_id,
        opportunity=opportunity,
        user_id=user_id,
        origin=origin,
        started_on=opportunity.closed_on,
    )


def create_project(data: dict, *, user: User, commit: bool = True) -> Project:
    """A project started directly (it counts as engagement, not as a transformed opportunity)."""
    errors: dict[str, str] = {}
    structure = _structure_for(user, data.get("structure_id"), errors)
    offer = _offer(data.get("offer_id"), errors)
    title = text(
        data.get("title"),
        errors,
        "title",
        max_length=200,
        one_line=True,
        required=True,
        message="Donnez un titre au projet.",
    )
    started_on = parse_date(data.get("started_on"), errors, "started_on")
    notes = text(data.get("notes"), errors, "notes", max_length=20000)
    owner = _user(data.get("owner_id"), errors, "owner_id")
    if errors:
        raise ValidationFailed(errors)
    project = _add_project(
        structure=structure,
        offer=offer,
        title=title,
        user_id=user.id,
        started_on=started_on,
        owner_id=(owner or default_owner(structure, user)).id,
        notes=notes,
    )
    if commit:
        db.session.commit()
    return project


def update_project(project: Project, data: dict, *, user: User, expected_version: int | None = None) -> Project:
    """Edit a project; a status change (en cours, suspendu, terminé) is its own event."""
    if expected_version is not None and expected_version != project.version:
        raise StaleEdit("Ce projet a été modifié entre-temps. Rechargez la page.")
    errors: dict[str, str] = {}
    status = data.get("status", project.status)
    if status not in PROJECT_STATUSES:
        errors["status"] = "Statut inconnu."
    values = {
        "title": text(
            data.get("title", project.title),
            errors,
            "title",
            max_length=200,
            one_line=True,
            required=True,
            message="Donnez un titre au projet.",
        ),
        "notes": text(data.get("notes", project.notes), errors, "notes", max_length=20000),
        "started_on": parse_date(data.get("started_on", project.started_on), errors, "started_on", required=True),
        "ended_on": parse_date(data.get("ended_on", project.ended_on), errors, "ended_on"),
        "status": status,
    }
    if values["ended_on"] and values["started_on"] and values["ended_on"] < values["started_on"]:
        errors["ended_on"] = "La date de fin précède la date de début."
    if errors:
        raise ValidationFailed(errors)
    if status == "termine" and not values["ended_on"]:
        values["ended_on"] = local_today()
    elif status != "termine" and project.status == "termine" and "ended_on" not in data:
        values["ended_on"] = None  # taken up again: no end date while it runs
    changes = {k: [getattr(project, k), v] for k, v in values.items() if getattr(project, k) != v}
    if not changes:
        return project
    old_status = project.status
    for key, value in values.items():
        setattr(project, key, value)
    event = "project.status_changed" if old_status != project.status else "project.updated"
    record_change(
        entity_type="project",
        entity_id=project.id,
        action="update",
        changes=changes,
        event_type=event,
        payload={**project_payload(project), "from_status": old_status},
        user_id=user.id,
    )
    commit_changes()
    return project


def add_milestone(project: Project, data: dict, *, user: User, commit: bool = True) -> Milestone:
    errors: dict[str, str] = {}
    label = text(
        data.get("label"), errors, "label", max_length=200, one_line=True, required=True, message="Décrivez le jalon."
    )
    due_on = parse_date(data.get("due_on"), errors, "due_on")
    if errors:
        raise ValidationFailed(errors)
    milestone = Milestone(project_id=project.id, label=label, due_on=due_on)
    db.session.add(milestone)
    db.session.flush()
    record_change(
        entity_type="project",
        entity_id=project.id,
        action="update",
        changes={"jalon": [None, label]},
        event_type="project.milestone_added",
        payload={**project_payload(project), "milestone_id": milestone.id},
        user_id=user.id,
    )
    if commit:
        db.session.commit()
    return milestone


def set_milestone_done(milestone: Milestone, done: bool, *, user: User) -> Milestone:
    if (milestone.done_on is not None) == done:
        return milestone
    milestone.done_on = local_today() if done else None
    record_change(
        entity_type="project",
        entity_id=milestone.project_id,
        action="update",
        changes={"jalon": [milestone.label, "atteint" if done else "à faire"]},
        event_type="project.milestone_done" if done else "project.milestone_reopened",
        payload={**project_payload(milestone.project), "milestone_id": milestone.id},
        user_id=user.id,
    )
    db.session.commit()
    return milestone


def engagements(structure_id: int) -> list[dict]:
    """Programmes the structure is engaged in (a project in progress or finished), with their projects."""
    projects = db.session.scalars(
        select(Project)
        .where(Project.structure_id == structure_id, Project.status.in_(ENGAGED_STATUSES))
        .order_by(Project.programme_id, Project.started_on)
    ).all()
    by_programme: dict[int, dict] = {}
    for project in projects:
        entry = by_programme.setdefault(project.programme_id, {"programme": project.programme, "projects": []})
        entry["projects"].append(project)
    return list(by_programme.values())


def opportunity_counts_by_stage(clauses: list) -> dict[str, int]:
    rows = db.session.execute(select(Opportunity.stage, func.count()).where(*clauses).group_by(Opportunity.stage)).all()
    return {stage: count for stage, count in rows}


def sync_departments(structure_ids: list[int] | None = None) -> int:
    """Give the opportunities and projects of these structures (all if None) their structure's current
    department, in the caller's transaction; returns how many rows moved. Called when a structure
    changes department, by hand or through a FINESS import."""
    moved = 0
    for model in (Opportunity, Project):
        current = select(Structure.department_code).where(Structure.id == model.structure_id).scalar_subquery()
        statement = update(model).where(model.department_code != current).values(department_code=current)
        if structure_ids is not None:
            if not structure_ids:
                return 0
            statement = statement.where(model.structure_id.in_(structure_ids))
        moved += db.session.execute(statement.execution_options(synchronize_session=False)).rowcount or 0
    return moved
