"""The animators' seeded history: two years of activities, the opportunities spotted during them,
their projects and the follow-up tasks, in one transaction.

Idempotent per department: a department whose structures already have activities is skipped, so
running the same scale twice adds nothing. Every record gets its outbox event (the service's
payload, dated when the change happened); audit entries are written too, except at national
scale where the seeded history (millions of rows) has events only, to stay within minutes.
"""

from __future__ import annotations

import time

from sqlalchemy import func, select

from crm.activities.models import (
    Activity,
    activity_contacts,
    activity_departments,
    activity_offers,
    activity_programmes,
    activity_structures,
)
from crm.pipeline.models import Milestone, Opportunity, Project, StageChange
from crm.platform.extensions import db
from crm.platform.formatting import format_number
from crm.platform.models import AuditEntry, OutboxEvent
from crm.seed.activity import ActivityGenerator
from crm.seed.context import SeedContext
from crm.seed.loader import Loader
from crm.seed.payloads import Journal
from crm.seed.pipeline import PipelineGenerator
from crm.structures.models import Structure
from crm.tasks.models import Task

# scale: (activities, opportunities) over two years, all departments of the scale together
HISTORY = {"demo": (1_500, 250), "region": (20_000, 3_000), "national": (2_000_000, 200_000)}
AUDITED_SCALES = ("demo", "region")
BULK_SCALES = ("national",)  # foreign keys set aside during the load (see loader)
TABLES = (
    Activity.__table__,
    activity_structures,
    activity_departments,
    activity_contacts,
    activity_offers,
    activity_programmes,
    Opportunity.__table__,
    StageChange.__table__,
    Project.__table__,
    Milestone.__table__,
    Task.__table__,
    OutboxEvent.__table__,
)
STAGE_WORDS = (
    ("identifiee", "identifiées"),
    ("qualifiee", "qualifiées"),
    ("proposee", "proposées"),
    ("gagnee", "gagnées"),
    ("perdue", "perdues"),
    ("abandonnee", "abandonnées"),
)


def _n(value: int) -> str:
    return format_number(value)


def _seconds(seconds: float) -> str:
    return f"{seconds:.1f}".replace(".", ",") + " s"


def departments_with_activities(department_codes: list[str]) -> set[str]:
    """Departments of ``department_codes`` where some structure already has an activity."""
    found = set()
    for code in department_codes:
        if (
            db.session.scalar(
                select(activity_structures.c.activity_id)
                .join(Structure, Structure.id == activity_structures.c.structure_id)
                .where(Structure.department_code == code)
                .limit(1)
            )
            is not None
        ):
            found.add(code)
    return found


def seed_daily_work(scale: str, department_codes: list[str], echo=print) -> list[str]:
    """Seed the history of ``scale`` in the departments that have none yet; returns French report lines."""
    started = time.perf_counter()
    done = departments_with_activities(department_codes)
    todo = [code for code in department_codes if code not in done]
    if not todo:
        return [
            f"Activités, opportunités, projets et relances : déjà présents dans les {len(done)} départements, "
            "rien d'ajouté."
        ]
    activity_target, opportunity_target = HISTORY[scale]
    if done:  # a partial seed: keep the scale's density in the remaining departments
        counts = dict(
            db.session.execute(
                select(Structure.department_code, func.count())
                .where(Structure.department_code.in_(department_codes))
                .group_by(Structure.department_code)
            ).all()
        )
        share = sum(counts.get(c, 0) for c in todo) / max(1, sum(counts.values()))
        activity_target, opportunity_target = round(activity_target * share), round(opportunity_target * share)
    ctx = SeedContext(todo, seed=f"history-{scale}")
    if not ctx.structures:
        return ["Activités : aucun animateur ni structure dans ces départements, rien d'ajouté."]
    with_audit = scale in AUDITED_SCALES
    loader = Loader(list(TABLES) + ([AuditEntry.__table__] if with_audit else []), bulk=scale in BULK_SCALES)
    journal = Journal(loader, with_audit=with_audit)
    try:
        echo(f"Activités ({_n(activity_target)})…")
        # Activities an opportunity may come from: more than needed, some pairs repeat.
        origin_share = min(1.0, 2.5 * opportunity_target / max(1, activity_target))
        acts = ActivityGenerator(ctx, journal, origin_share=origin_share).run(activity_target)
        step = time.perf_counter()
        activity_seconds = step - started
        echo(f"Opportunités ({_n(opportunity_target)}), projets et relances…")
        pipe = PipelineGenerator(ctx, journal).run(acts.origins, opportunity_target)
        if loader.bulk:
            echo("Contrôle des clés étrangères…")
        finishing = time.perf_counter()
        loader.finish()
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    pipeline_seconds = finishing - step
    finish_seconds = time.perf_counter() - finishing
    lines = []
    if done:
        lines.append(
            f"Activités déjà présentes dans {len(done)} départements ({', '.join(sorted(done))}) : non rechargées."
        )
    lines.append(
        f"Activités : {_n(acts.activities)} créées sur deux ans dans {len(ctx.animators)} départements, "
        f"dont {_n(acts.multi)} multi-structures et {_n(acts.information)} d'information "
        f"({_seconds(activity_seconds)})."
    )
    stages = ", ".join(f"{_n(pipe.by_stage.get(stage, 0))} {word}" for stage, word in STAGE_WORDS)
    lines.append(
        f"Opportunités : {_n(pipe.opportunities)} créées ({stages}), "
        f"{_n(pipe.changes)} changements d'étape ({_seconds(pipeline_seconds)} avec projets et relances)."
    )
    lines.append(
        f"Projets : {_n(pipe.projects)} créés ({_n(pipe.projects - pipe.direct_projects)} issus d'une "
        f"opportunité gagnée, {_n(pipe.direct_projects)} directs), {_n(pipe.milestones)} jalons."
    )
    tasks, open_tasks = acts.tasks + pipe.tasks, acts.open_tasks + pipe.open_tasks
    lines.append(
        f"Relances : {_n(tasks)} créées ({_n(acts.tasks)} issues d'une prochaine étape), "
        f"{_n(open_tasks)} encore ouvertes."
    )
    audit = (
        f"{_n(journal.audit_count)} entrées d'audit"
        if journal.with_audit
        else "sans entrées d'audit pour cet historique en masse"
    )
    lines.append(f"Événements de domaine : {_n(journal.event_count)} écrits ({audit}).")
    if loader.bulk:
        lines.append(
            f"Chargement en masse : clés étrangères remises et contrôlées en {_seconds(finish_seconds)} ; "
            f"historique complet en {_seconds(time.perf_counter() - started)}."
        )
    return lines


def add_structure_activities(structure_id: int, count: int, *, seed: str = "bench") -> int:
    """Give one structure ``count`` more seeded activities, by the animator of its department, through
    the same bulk path (benchmarks); committed. Returns how many were added."""
    structure = db.session.get(Structure, structure_id)
    if structure is None or count <= 0:
        return 0
    existing = db.session.scalar(
        select(func.count()).select_from(activity_structures).where(activity_structures.c.structure_id == structure_id)
    )
    ctx = SeedContext([structure.department_code], seed=f"{seed}-{structure_id}-{existing}")
    ref = next((r for r in ctx.all_structures if r.id == structure_id), None)
    if ref is None:  # no animator in its department
        return 0
    journal = Journal(Loader(list(TABLES) + [AuditEntry.__table__]), with_audit=True)
    ActivityGenerator(ctx, journal).run(count, structures=[ref])
    db.session.commit()
    return count
