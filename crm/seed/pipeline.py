"""Seeded pipeline: opportunities spotted during the seeded activities, moved through their stages
with plausible delays (identifiée -> qualifiée -> proposée -> gagnée, or perdue / abandonnée with a
reason), every stage change in ``opportunity_stage_changes``; a project for each won opportunity
(plus direct ones) with milestones; follow-up tasks on open opportunities and running projects.

Each change writes the event its service would (``opportunity.created``, ``opportunity.stage_changed``,
``project.created``, ``project.status_changed``, ``task.created``, ``task.done``) with the service's
payload, dated when it happened."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from crm.pipeline.models import CLOSED_STAGES, OPEN_STAGES, Milestone, Opportunity, Project, StageChange
from crm.pipeline.models import SOURCE_OF_ACTIVITY_KIND as SOURCE_OF_KIND
from crm.pipeline.stages import NEEDS_REASON
from crm.seed.activity import Origin, write_task_rows
from crm.seed.context import SeedContext
from crm.seed.payloads import Journal, OpportunityRef, ProjectRef, TaskRef, opportunity_payload, project_payload
from crm.seed.wording import MILESTONES, NEEDS, OPPORTUNITY_TASKS, OPPORTUNITY_TITLES, PROJECT_TASKS
from crm.tasks.models import Task

OPPORTUNITY_COLUMNS = (
    "id",
    "structure_id",
    "offer_id",
    "programme_id",
    "department_code",
    "title",
    "need",
    "source",
    "source_activity_id",
    "owner_id",
    "expected_on",
    "stage",
    "identified_on",
    "stage_changed_at",
    "closed_on",
    "loss_reason_id",
    "created_by_id",
    "created_at",
    "updated_at",
    "version",
)
CHANGE_COLUMNS = ("opportunity_id", "from_stage", "to_stage", "changed_at", "changed_by_id", "reason_id", "comment")
PROJECT_COLUMNS = (
    "id",
    "structure_id",
    "offer_id",
    "programme_id",
    "department_code",
    "opportunity_id",
    "title",
    "status",
    "started_on",
    "ended_on",
    "owner_id",
    "notes",
    "created_at",
    "updated_at",
    "version",
)
MILESTONE_COLUMNS = ("project_id", "label", "due_on", "done_on")
DIRECT_PROJECT_SHARE = 0.10  # projects started without an opportunity, per won opportunity
PROJECT_SECTORS = ("sanitaire", "medico_social", "exercice_coordonne", "dispositif_coordination")


@dataclass
class PipelineStats:
    opportunities: int = 0
    by_stage: dict[str, int] = field(default_factory=dict)
    changes: int = 0
    projects: int = 0
    direct_projects: int = 0
    milestones: int = 0
    tasks: int = 0
    open_tasks: int = 0


@dataclass
class Won:
    opportunity: OpportunityRef
    title: str
    day: date
    at: datetime


def stage_path(ctx: SeedContext, source: str) -> list[tuple[str, int]]:
    """The stages an opportunity will go through after "identifiee", each with its delay in days.

    About 37 % are eventually won, the others lost, abandoned or left standing; the recent ones are
    still open because their next step falls after today."""
    rng = ctx.rng
    roll = rng.random()
    qualify, propose = ("qualifiee", rng.randint(5, 45)), ("proposee", rng.randint(10, 60))
    if roll < 0.37:
        if source == "demande_entrante" and rng.random() < 0.3:  # an inbound request can be won at once
            return [("gagnee", rng.randint(3, 30))]
        return [qualify, propose, ("gagnee", rng.randint(10, 90))]
    if roll < 0.60:
        return [qualify] + ([propose] if rng.random() < 0.7 else []) + [("perdue", rng.randint(20, 120))]
    if roll < 0.86:
        return ([qualify] if rng.random() < 0.5 else []) + [("abandonnee", rng.randint(45, 180))]
    return [qualify, propose][: rng.choice((0, 1, 1, 2))]


class PipelineGenerator:
    def __init__(self, ctx: SeedContext, journal: Journal):
        self.ctx, self.journal, self.loader, self.rng = ctx, journal, journal.loader, ctx.rng
        self.stats = PipelineStats()
        self.tasks: list[tuple[TaskRef, str, datetime, int | None]] = []

    def run(self, origins: list[Origin], target: int) -> PipelineStats:
        won = self._opportunities(self._pick(origins, target))
        self._projects(won)
        ids = self.loader.reserve(Task.__table__, len(self.tasks))
        for task_id, (ref, *_rest) in zip(ids, self.tasks):
            ref.id = task_id
        self.stats.open_tasks = write_task_rows(self.ctx, self.journal, self.tasks, self.rng)
        self.stats.tasks = len(self.tasks)
        self.journal.flush()
        return self.stats

    def _pick(self, origins: list[Origin], target: int) -> list[Origin]:
        """``target`` origins, at most one opportunity per structure and offer each half-year (a need
        lost or abandoned may come back later)."""
        self.rng.shuffle(origins)
        seen, picked = set(), []
        for origin in origins:
            key = (origin.structure.id, origin.offer.id, origin.day.toordinal() // 183)
            if key not in seen:
                seen.add(key)
                picked.append(origin)
                if len(picked) == target:
                    break
        picked.sort(key=lambda o: o.activity_id)
        return picked

    def _opportunities(self, origins: list[Origin]) -> list[Won]:
        ctx, rng, journal = self.ctx, self.rng, self.journal
        today = ctx.today
        rows, changes, won = [], [], []
        for opportunity_id, origin in zip(self.loader.reserve(Opportunity.__table__, len(origins)), origins):
            linked = rng.random() < 0.8
            source = SOURCE_OF_KIND[origin.kind] if linked else rng.choice(("demande_entrante", "autre"))
            owner = ctx.owner_of(origin.structure)
            ref = OpportunityRef(opportunity_id, origin.structure, origin.offer, owner, source, origin.day)
            title = OPPORTUNITY_TITLES.get(origin.offer.code) or f"Déploiement {origin.offer.short}"
            created_at = last_at = ctx.moment(origin.day, rng)
            changes.append((opportunity_id, None, "identifiee", created_at, owner, None, None))
            journal.record(
                entity_type="opportunity",
                entity_id=opportunity_id,
                action="create",
                changes={"title": [None, title], "stage": [None, "identifiee"]},
                event_type="opportunity.created",
                payload=opportunity_payload(ref),
                user_id=owner,
                at=created_at,
            )
            day, closed_on, version = origin.day, None, 1
            for to_stage, delay in stage_path(ctx, source):
                next_day = ctx.working_day_after(day, delay)
                if next_day > today:
                    break
                at = ctx.moment(next_day, rng)
                from_stage, ref.stage = ref.stage, to_stage
                ref.loss_reason_id = ctx.loss_reasons[to_stage].draw(rng) if to_stage in NEEDS_REASON else None
                changes.append((opportunity_id, from_stage, to_stage, at, owner, ref.loss_reason_id, None))
                journal.record(
                    entity_type="opportunity",
                    entity_id=opportunity_id,
                    action="update",
                    changes={"stage": [from_stage, to_stage]},
                    event_type="opportunity.stage_changed",
                    payload={
                        **opportunity_payload(ref),
                        "from_stage": from_stage,
                        "to_stage": to_stage,
                        "changed_at": at,
                        "reason_id": ref.loss_reason_id,
                    },
                    user_id=owner,
                    at=at,
                )
                day, last_at, version = next_day, at, version + 1
                if to_stage in CLOSED_STAGES:
                    closed_on = next_day
                if to_stage == "gagnee":
                    won.append(Won(ref, title, next_day, at))
            expected = ctx.working_day_after(origin.day, rng.randint(60, 180)) if rng.random() < 0.7 else None
            rows.append(
                (
                    opportunity_id,
                    origin.structure.id,
                    origin.offer.id,
                    origin.offer.programme_id,
                    origin.structure.department_code,
                    title,
                    rng.choice(NEEDS) if rng.random() < 0.7 else None,
                    source,
                    origin.activity_id if linked else None,
                    owner,
                    expected,
                    ref.stage,
                    origin.day,
                    last_at,
                    closed_on,
                    ref.loss_reason_id,
                    owner,
                    created_at,
                    last_at,
                    version,
                )
            )
            self.stats.by_stage[ref.stage] = self.stats.by_stage.get(ref.stage, 0) + 1
            if ref.stage in OPEN_STAGES and owner and rng.random() < 0.8:
                # The latest follow-up of an open opportunity: planned within the last two months.
                created_on = max(day, today - timedelta(days=rng.randint(0, 60)))
                due = ctx.working_day_after(created_on, rng.randint(10, 40))
                created_at = max(last_at, ctx.moment(created_on, rng))
                self.tasks.append(
                    (
                        TaskRef(0, owner, ref.structure, due, "manuel", opportunity_id=opportunity_id),
                        rng.choice(OPPORTUNITY_TASKS).format(offre=ref.offer.short),
                        created_at,
                        owner,
                    )
                )
        self.loader.write(Opportunity.__table__, OPPORTUNITY_COLUMNS, rows)
        self.loader.write(StageChange.__table__, CHANGE_COLUMNS, changes)
        journal.flush()
        self.stats.opportunities, self.stats.changes = len(rows), len(changes)
        return won

    def _direct(self, count: int) -> list[Won]:
        """Projects started without an opportunity (an ARS request, a regional programme)."""
        ctx, rng = self.ctx, self.rng
        out = []
        for _ in range(count):
            structure = ctx.structures.draw(rng)
            for _try in range(20):
                if structure.sector and structure.sector.code in PROJECT_SECTORS:
                    break
                structure = ctx.structures.draw(rng)
            offer = ctx.offer_for(structure)
            day = ctx.days.draw(rng)
            ref = OpportunityRef(0, structure, offer, ctx.owner_of(structure), "autre", day)
            out.append(
                Won(ref, OPPORTUNITY_TITLES.get(offer.code) or f"Déploiement {offer.short}", day, ctx.moment(day, rng))
            )
        return out

    def _projects(self, won: list[Won]) -> None:
        ctx, rng, journal, today = self.ctx, self.rng, self.journal, self.ctx.today
        direct = self._direct(round(len(won) * DIRECT_PROJECT_SHARE))
        rows, milestones = [], []
        for project_id, item in zip(self.loader.reserve(Project.__table__, len(won) + len(direct)), won + direct):
            opportunity = item.opportunity
            ref = ProjectRef(
                project_id,
                opportunity.structure,
                opportunity.offer,
                opportunity.id or None,
                opportunity.owner_id,
                item.day,
            )
            journal.record(
                entity_type="project",
                entity_id=project_id,
                action="create",
                changes={"title": [None, item.title], "status": [None, "en_cours"]},
                event_type="project.created",
                payload=project_payload(ref),
                user_id=ref.owner_id,
                at=item.at,
            )
            age = (today - item.day).days
            roll = rng.random()
            status = (
                "termine"
                if roll < (0.65 if age > 240 else 0.15 if age > 90 else 0)
                else "suspendu"
                if roll > (0.9 if age > 90 else 0.95)
                else "en_cours"
            )
            span = rng.randint(90, age) if status == "termine" else rng.randint(90, 240)
            changed_at = item.at
            if status != "en_cours":
                changed_on = item.day + timedelta(days=span if status == "termine" else rng.randint(20, max(20, age)))
                changed_on = min(changed_on, today)
                changed_at = ctx.moment(changed_on, rng)
                ref.status, ref.ended_on = status, changed_on if status == "termine" else None
                changes = {"status": ["en_cours", status]}
                if ref.ended_on:
                    changes["ended_on"] = [None, ref.ended_on.isoformat()]
                journal.record(
                    entity_type="project",
                    entity_id=project_id,
                    action="update",
                    changes=changes,
                    event_type="project.status_changed",
                    payload={**project_payload(ref), "from_status": "en_cours"},
                    user_id=ref.owner_id,
                    at=changed_at,
                )
            notes = None if opportunity.id else "Accompagnement démarré directement, à la demande de l'ARS."
            rows.append(
                (
                    project_id,
                    ref.structure_id,
                    ref.offer_id,
                    ref.programme_id,
                    ref.structure.department_code,
                    ref.opportunity_id,
                    item.title,
                    ref.status,
                    ref.started_on,
                    ref.ended_on,
                    ref.owner_id,
                    notes,
                    item.at,
                    changed_at,
                    2 if status != "en_cours" else 1,
                )
            )
            labels = sorted(rng.sample(range(len(MILESTONES)), rng.randint(2, 4)))
            for index, label in enumerate(labels, start=1):
                due = item.day + timedelta(days=span * index // len(labels))
                done = None
                if due <= today and (status == "termine" or (status == "en_cours" and rng.random() < 0.85)):
                    done = min(today, max(item.day, due + timedelta(days=rng.randint(-7, 10))))
                    if ref.ended_on:
                        done = min(done, ref.ended_on)
                milestones.append((project_id, MILESTONES[label], due, done))
            if status == "en_cours" and ref.owner_id and rng.random() < 0.35:
                created_on = max(item.day, today - timedelta(days=rng.randint(1, 30)))
                created = ctx.moment(created_on, rng)
                task = TaskRef(
                    0,
                    ref.owner_id,
                    ref.structure,
                    ctx.working_day_after(created_on, rng.randint(7, 45)),
                    "manuel",
                    project_id=project_id,
                )
                self.tasks.append(
                    (task, rng.choice(PROJECT_TASKS).format(offre=ref.offer.short), created, ref.owner_id)
                )
        self.loader.write(Project.__table__, PROJECT_COLUMNS, rows)
        self.loader.write(Milestone.__table__, MILESTONE_COLUMNS, milestones)
        journal.flush()
        self.stats.projects, self.stats.direct_projects = len(rows), len(direct)
        self.stats.milestones = len(milestones)
