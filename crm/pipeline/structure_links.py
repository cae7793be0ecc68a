"""How the pipeline follows the structures it builds on, through the platform's signals.

Structures sit below the pipeline and do not import it: they send a signal (crm/platform/signals.py)
in their own transaction, and the receivers here answer. ``connect`` runs at app creation.
"""

from __future__ import annotations

from sqlalchemy import func, select

from crm.pipeline.models import OPEN_STAGES, Opportunity, Project
from crm.pipeline.services import sync_departments
from crm.platform import signals
from crm.platform.extensions import db


def follow_department(_sender, *, structure_ids: list[int]) -> None:
    """A structure changed department: its opportunities and projects follow it in the same transaction,
    so the board, the filters and the indicators never see them apart."""
    sync_departments(structure_ids)


def live_work(_sender) -> dict[str, dict[int, int]]:
    """Per structure, its open opportunities and its running or suspended projects."""
    projects = dict(
        db.session.execute(
            select(Project.structure_id, func.count())
            .where(Project.status.in_(("en_cours", "suspendu")))
            .group_by(Project.structure_id)
        ).all()
    )
    opportunities = dict(
        db.session.execute(
            select(Opportunity.structure_id, func.count())
            .where(Opportunity.stage.in_(OPEN_STAGES))
            .group_by(Opportunity.structure_id)
        ).all()
    )
    return {"projects": projects, "opportunities": opportunities}


def connect() -> None:
    """Subscribe to the structures' signals (idempotent: blinker keeps one connection per receiver)."""
    signals.structure_department_changed.connect(follow_department)
    signals.structures_live_work.connect(live_work)
