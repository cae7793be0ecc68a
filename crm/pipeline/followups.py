"""Follow-ups the pipeline asks for: an opportunity left in its stage too long gets a task for its owner."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import exists, select

from crm.pipeline.models import OPEN_STAGES, Opportunity
from crm.platform.dates import local_date
from crm.platform.extensions import db
from crm.platform.formatting import format_date
from crm.tasks.models import Task
from crm.tasks.services import add_task


def idle_opportunities(now: datetime, days: int, limit: int = 1000) -> list[tuple[int, datetime]]:
    """``(id, stage_changed_at)`` of the open opportunities whose stage has not changed for ``days`` days,
    that have an owner, no open task, and no idle follow-up since their last stage change."""
    open_task = exists().where(Task.opportunity_id == Opportunity.id, Task.done_at.is_(None))
    followed_up = exists().where(
        Task.opportunity_id == Opportunity.id,
        Task.source == "workflow",
        Task.created_at >= Opportunity.stage_changed_at,
    )
    return list(
        db.session.execute(
            select(Opportunity.id, Opportunity.stage_changed_at)
            .where(
                Opportunity.stage.in_(OPEN_STAGES),
                Opportunity.stage_changed_at <= now - timedelta(days=days),
                Opportunity.owner_id.is_not(None),
                ~open_task,
                ~followed_up,
            )
            .order_by(Opportunity.stage_changed_at, Opportunity.id)
            .limit(limit)
        ).tuples()
    )


def follow_up_idle(opportunity: Opportunity, *, days: int, now: datetime, origin: str | None = None) -> Task | None:
    """A task for the owner of an opportunity idle for ``days`` days, due today (the caller commits);
    None when it moved meanwhile, is closed or has no owner."""
    if opportunity.stage not in OPEN_STAGES or opportunity.owner_id is None:
        return None
    changed = opportunity.stage_changed_at
    if changed.tzinfo is None:  # SQLite
        changed = changed.replace(tzinfo=now.tzinfo)
    if now - changed < timedelta(days=days):
        return None
    return add_task(
        title=f"Relancer l'opportunité « {opportunity.title} »",
        owner_id=opportunity.owner_id,
        created_by_id=None,
        source="workflow",
        due_on=local_date(now),
        structure_id=opportunity.structure_id,
        opportunity_id=opportunity.id,
        origin=origin,
        description=(
            f"Aucun changement d'étape depuis le {format_date(local_date(changed))} "
            f"({opportunity.stage_label.lower()}) : faire le point avec la structure, puis avancer "
            "l'opportunité ou la clore."
        ),
    )
