"""Demo data: ``run_seed("demo")`` through the real FINESS import, partners, people, idempotence."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from crm.platform.dates import local_today

ROOT = Path(__file__).resolve().parent.parent
OCCITANIE = {"09", "11", "12", "30", "31", "32", "34", "46", "48", "65", "66", "81", "82"}


def _counts() -> dict[str, int]:
    from crm.accounts.models import User
    from crm.activities.models import Activity, activity_structures
    from crm.pipeline.models import Milestone, Opportunity, Project, StageChange
    from crm.platform.extensions import db
    from crm.platform.models import AuditEntry, OutboxEvent
    from crm.structures.models import Contact, Structure
    from crm.tasks.models import Task

    counts = {
        model.__name__: db.session.scalar(select(func.count()).select_from(model))
        for model in (
            Structure,
            Contact,
            User,
            AuditEntry,
            OutboxEvent,
            Activity,
            Opportunity,
            StageChange,
            Project,
            Milestone,
            Task,
        )
    }
    counts["activity_structures"] = db.session.scalar(select(func.count()).select_from(activity_structures))
    return counts


def test_demo_seed_fills_every_department_and_role(app):
    from crm.accounts.models import User
    from crm.platform.extensions import db
    from crm.platform.models import AuditEntry, OutboxEvent
    from crm.referential.models import Category
    from crm.seed import run_seed
    from crm.structures.models import Contact, Structure

    report = run_seed("demo", echo=lambda *a, **k: None)

    finess_departments = set(
        db.session.scalars(select(Structure.department_code).where(Structure.source == "finess").distinct())
    )
    assert OCCITANIE <= finess_departments
    assert db.session.scalar(select(func.count()).select_from(Structure).where(Structure.source == "finess")) >= 300

    users = list(db.session.scalars(select(User)))
    assert {u.role for u in users} == {"admin", "manager", "organisateur", "animateur"}
    animators = [u for u in users if u.role == "animateur"]
    assert len(animators) == 4
    assert set().union(*(u.department_codes for u in animators)) == OCCITANIE
    assert all(3 <= len(u.department_codes) <= 4 for u in animators)
    assert all(u.email.endswith("@esante-occitanie.fr") for u in users)

    partner_counts = dict(
        db.session.execute(
            select(Category.code, func.count())
            .join(Structure, Structure.category_id == Category.id)
            .where(Structure.source == "manuel")
            .group_by(Category.code)
        ).all()
    )
    assert partner_counts["DAC"] == 13 and partner_counts["ARS"] == 14 and partner_counts["CPAM"] == 13
    for code in ("CPTS", "CRT", "PCO", "CD", "MDPH", "URPS", "FEDERATION", "EDITEUR"):
        assert partner_counts.get(code, 0) >= 1, code
    partner = db.session.scalar(select(Structure).where(Structure.name == "DAC Haute-Garonne"))
    assert partner.sector.code == "dispositif_coordination"
    assert "dac haute garonne" in partner.search_text

    structures = db.session.scalar(select(func.count()).select_from(Structure))
    contacts = db.session.scalar(select(func.count()).select_from(Contact))
    with_contacts = db.session.scalar(select(func.count(Contact.structure_id.distinct())))
    assert 0.2 * structures <= with_contacts <= 0.4 * structures
    assert contacts >= with_contacts
    consenting = db.session.scalar(select(func.count()).select_from(Contact).where(Contact.consent.is_(True)))
    assert consenting > contacts / 2
    assert (
        db.session.scalar(
            select(func.count()).select_from(Contact).where(Contact.consent.is_(True), Contact.consent_at.is_(None))
        )
        == 0
    )

    # Every structure and contact has its audit entry and its domain event.
    for entity_type, total in (("structure", structures), ("contact", contacts)):
        assert (
            db.session.scalar(
                select(func.count(AuditEntry.entity_id.distinct())).where(
                    AuditEntry.entity_type == entity_type, AuditEntry.action == "create"
                )
            )
            == total
        )
        assert (
            db.session.scalar(
                select(func.count()).select_from(OutboxEvent).where(OutboxEvent.type == f"{entity_type}.created")
            )
            == total
        )
    assert (
        db.session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.entity_type == "structure", AuditEntry.origin != "seed")
        )
        == 0
    )

    # The report gives the logins and the shared password, also written under instance/.
    text = "\n".join(report)
    password = next(line.split(" : ", 1)[1] for line in report if line.startswith("Mot de passe"))
    assert len(password) >= 12
    for user in users:
        assert user.email in text
        assert user.check_password(password)
    logins = (Path(app.instance_path) / "demo_logins.txt").read_text(encoding="utf-8")
    assert password in logins and animators[0].email in logins

    # Targets (issue 13): this year's and last year's, for the region and each department.
    from crm.targets.services import target_values

    this_year = local_today().year
    for year in (this_year - 1, this_year):
        targets = target_values(year)
        assert {department for _, department, _ in targets} == {None} | OCCITANIE, year
        assert ("participation", None, None) in targets and ("territorial_events", "31", None) in targets
        assert all(0 < value <= 100 for (code, _, _), value in targets.items() if code == "participation")
    assert (
        target_values(this_year)[("participation", None, None)]
        > target_values(this_year - 1)[("participation", None, None)]
    )


def test_demo_seed_twice_leaves_the_same_counts():
    from crm.seed import run_seed

    run_seed("demo", echo=lambda *a, **k: None)
    first = _counts()
    report = run_seed("demo", echo=lambda *a, **k: None)
    assert _counts() == first
    assert first["Activity"] == 1500 and first["Opportunity"] > 0
    assert any("0 créés, 8 déjà présents" in line for line in report)
    assert any(line.startswith("Activités, opportunités, projets et relances : déjà présents") for line in report)


def test_search_finds_the_saint_gaudens_ehpad():
    from crm.seed import run_seed
    from crm.structures.services import search_structures

    run_seed("demo", echo=lambda *a, **k: None)
    page = search_structures("ehpad saint gaudens")
    names = [s.name for s in page.items]
    assert "EHPAD L'OUSTAL" in names
    oustal = next(s for s in page.items if s.name == "EHPAD L'OUSTAL")
    assert oustal.source == "finess" and oustal.department_code == "31" and oustal.category.code == "EHPAD"
    assert all(s.department_code == "31" for s in search_structures("ehpad saint gaudens", department="31").items)
    assert search_structures(oustal.finess_et).items[0].id == oustal.id


def test_seed_demo_if_empty_only_seeds_an_empty_database(make_structure):
    from crm.seed import seed_demo_if_empty

    make_structure()
    assert seed_demo_if_empty() == []
    assert _counts()["Structure"] == 1


def test_seed_command_prints_the_logins(test_env):
    env = {**os.environ, **test_env, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "crm", "seed", "--scale", "demo"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Mot de passe des comptes créés" in result.stdout
    assert "@esante-occitanie.fr" in result.stdout and "Animateur territorial" in result.stdout
    assert _counts()["User"] == 8


def test_a_smaller_seed_after_a_larger_one_closes_nothing():
    from sqlalchemy import func, select

    from crm.platform.extensions import db
    from crm.seed import run_seed
    from crm.structures.models import Structure

    run_seed("demo")
    extra = Structure(
        name="EHPAD hors démo",
        department_code="31",
        source="finess",
        finess_et="319999990",
        search_text="ehpad hors demo",
        manual_fields=[],
    )
    db.session.add(extra)
    db.session.commit()
    run_seed("demo")
    closed = db.session.scalar(select(func.count()).select_from(Structure).where(Structure.is_open.is_(False)))
    assert closed == 0


# --- the animators' seeded history (activities, pipeline, projects, tasks) ---------------------------


def _utc(value):
    """Naive UTC (SQLite returns naive datetimes, PostgreSQL aware ones)."""
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def _jsonable(payload: dict) -> dict:
    from crm.platform.events import _jsonable as plain

    return {key: plain(value) for key, value in payload.items()}


def test_demo_seed_logs_two_years_of_activities_by_the_departments_animators():
    from datetime import date, timedelta

    from crm.accounts.models import User
    from crm.activities.models import Activity, activity_offers, activity_structures
    from crm.platform.extensions import db
    from crm.referential.models import Category, Offer, Programme
    from crm.seed import run_seed
    from crm.structures.models import Structure

    report = run_seed("demo", echo=lambda *a, **k: None)
    assert any(line.startswith("Activités : 1\u202f500 créées") for line in report)
    # The list's keys per department, written by the bulk seed, are those the links derive.
    from crm.activities.departments import rebuild_all
    from crm.activities.models import activity_departments

    written = set(db.session.execute(select(activity_departments)).all())
    rebuild_all()
    assert written and written == set(db.session.execute(select(activity_departments)).all())

    activities = db.session.execute(
        select(
            Activity.id,
            Activity.occurred_on,
            Activity.author_id,
            Activity.kind,
            Activity.is_information,
            Activity.subject,
        )
    ).all()
    assert len(activities) == 1500
    today = local_today()
    assert all(today - timedelta(days=731) <= a.occurred_on <= today for a in activities)
    assert all(a.subject for a in activities)
    assert len({a.kind for a in activities}) >= 8
    kinds = {kind: sum(a.kind == kind for a in activities) for kind in ("visite", "appel", "webinaire")}
    assert kinds["visite"] > kinds["appel"] > kinds["webinaire"] > 0
    assert 0.2 <= sum(a.is_information for a in activities) / 1500 <= 0.4
    by_month = [sum(a.occurred_on.month == m for a in activities) for m in range(1, 13)]
    assert by_month[7] < 0.5 * (sum(by_month) - by_month[7]) / 11  # August is quiet

    # Every structure of an activity is in a department of its author, an animator.
    departments = {u.id: u.department_codes for u in db.session.scalars(select(User).where(User.role == "animateur"))}
    links = db.session.execute(
        select(activity_structures.c.activity_id, Structure.department_code, Category.code)
        .join(Structure, Structure.id == activity_structures.c.structure_id)
        .outerjoin(Category, Category.id == Structure.category_id)
    ).all()
    author = {a.id: a.author_id for a in activities}
    assert all(dep in departments[author[activity_id]] for activity_id, dep, _ in links)

    # 10-15 % gather a CPTS (or DAC, CRT) and 2-4 structures of the same department.
    per_activity: dict[int, list] = {}
    for activity_id, dep, category in links:
        per_activity.setdefault(activity_id, []).append((dep, category))
    multi = [rows for rows in per_activity.values() if len(rows) > 1]
    assert 0.08 * 1500 <= len(multi) <= 0.18 * 1500
    assert all(3 <= len(rows) <= 5 and len({dep for dep, _ in rows}) == 1 for rows in multi)
    assert all(
        rows[0][1] in ("CPTS", "DAC", "CRT") or any(c in ("CPTS", "DAC", "CRT") for _, c in rows) for rows in multi
    )
    assert len(per_activity) == 1500

    # Coordination offers most of the time, ~30 % others.
    codes = (
        db.session.execute(
            select(Programme.code)
            .join(Offer, Offer.programme_id == Programme.id)
            .join(activity_offers, activity_offers.c.offer_id == Offer.id)
        )
        .scalars()
        .all()
    )
    other = sum(code != "COORDINATION" for code in codes) / len(codes)
    assert 0.2 <= other <= 0.4


def test_demo_seed_pipeline_history_is_consistent():
    from crm.pipeline.models import Opportunity, Project, StageChange
    from crm.platform.extensions import db
    from crm.seed import run_seed

    run_seed("demo", echo=lambda *a, **k: None)
    opportunities = db.session.scalars(select(Opportunity)).unique().all()
    assert 200 <= len(opportunities) <= 250
    changes: dict[int, list[StageChange]] = {}
    for change in db.session.scalars(select(StageChange).order_by(StageChange.id)).unique():
        changes.setdefault(change.opportunity_id, []).append(change)
    stages = {}
    for opportunity in opportunities:
        history = changes[opportunity.id]
        first = history[0]
        assert (first.from_stage, first.to_stage) == (None, "identifiee")
        assert first.changed_at.date() == opportunity.identified_on
        for before, after in zip(history, history[1:]):
            assert after.from_stage == before.to_stage and after.changed_at > before.changed_at
        assert history[-1].to_stage == opportunity.stage
        assert opportunity.stage_changed_at == history[-1].changed_at
        assert opportunity.version == len(history)
        assert all(c.changed_by_id == opportunity.owner_id for c in history)
        if opportunity.stage in ("perdue", "abandonnee"):
            assert opportunity.loss_reason_id and history[-1].reason_id == opportunity.loss_reason_id
            assert opportunity.closed_on == history[-1].changed_at.date()
        elif opportunity.stage == "gagnee":
            assert opportunity.project is not None
            assert opportunity.project.started_on == opportunity.closed_on
        else:
            assert opportunity.closed_on is None and opportunity.loss_reason_id is None
        stages[opportunity.stage] = stages.get(opportunity.stage, 0) + 1
    # About a third won (37 % eventually, less those still open): 250 draws that depend on today's date
    # spread by about 3 points either way, and on 2026-12-03 the demo seed drew 24.8 %.
    assert 0.2 <= stages["gagnee"] / len(opportunities) <= 0.45
    assert all(stages.get(stage) for stage in ("identifiee", "qualifiee", "proposee", "perdue", "abandonnee"))
    projects = db.session.scalars(select(Project)).unique().all()
    direct = [p for p in projects if p.opportunity_id is None]
    assert len(projects) == stages["gagnee"] + len(direct) and 0 < len(direct) <= 0.2 * len(projects)
    assert all(p.milestones for p in projects)
    assert all(p.ended_on and p.ended_on >= p.started_on for p in projects if p.status == "termine")
    assert {p.status for p in projects} == {"en_cours", "suspendu", "termine"}


def test_demo_seed_tasks_follow_next_steps_and_open_opportunities():
    from datetime import date

    from crm.activities.models import Activity
    from crm.platform.extensions import db
    from crm.seed import run_seed
    from crm.tasks.models import Task

    run_seed("demo", echo=lambda *a, **k: None)
    tasks = db.session.scalars(select(Task)).unique().all()
    open_tasks = [t for t in tasks if t.done_at is None]
    assert 30 <= len(open_tasks) <= 120
    assert any(t.due_on < local_today() for t in open_tasks)  # some overdue
    assert all(t.structure_id for t in tasks)
    from_steps = [t for t in tasks if t.source == "activite"]
    assert from_steps and any(t.opportunity_id for t in tasks) and any(t.project_id for t in tasks)
    for task in from_steps[:50]:
        activity = db.session.get(Activity, task.activity_id)
        assert (task.title, task.due_on, task.owner_id) == (
            activity.next_step,
            activity.next_step_due_on,
            activity.author_id,
        )
        assert task.structure_id in {s.id for s in activity.structures}


def test_demo_seed_events_carry_the_services_payloads():
    from crm.activities.models import Activity
    from crm.activities.services import activity_payload
    from crm.pipeline.models import Opportunity, Project, StageChange
    from crm.pipeline.services import opportunity_payload, project_payload
    from crm.platform.extensions import db
    from crm.platform.models import AuditEntry, OutboxEvent
    from crm.seed import run_seed
    from crm.tasks.models import Task
    from crm.tasks.services import task_payload

    run_seed("demo", echo=lambda *a, **k: None)
    counts = dict(db.session.execute(select(OutboxEvent.type, func.count()).group_by(OutboxEvent.type)).all())
    total = {
        model: db.session.scalar(select(func.count()).select_from(model))
        for model in (Activity, Opportunity, StageChange, Project, Task)
    }
    assert counts["activity.logged"] == total[Activity]
    assert counts["opportunity.created"] == total[Opportunity]
    assert counts["opportunity.stage_changed"] == total[StageChange] - total[Opportunity]
    assert counts["project.created"] == total[Project]
    assert counts["task.created"] == total[Task]
    done = db.session.scalar(select(func.count()).select_from(Task).where(Task.done_at.is_not(None)))
    assert counts["task.done"] == done
    assert (
        db.session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.entity_type == "activity"))
        == total[Activity]
    )

    def events(event_type, limit=40):
        return db.session.scalars(
            select(OutboxEvent).where(OutboxEvent.type == event_type).order_by(OutboxEvent.id).limit(limit)
        ).all()

    for event in events("activity.logged"):
        assert event.payload == _jsonable(activity_payload(db.session.get(Activity, event.aggregate_id)))
    for event in events("opportunity.created"):
        opportunity = db.session.get(Opportunity, event.aggregate_id)
        assert event.payload == _jsonable({**opportunity_payload(opportunity), "stage": "identifiee"})
    for event in events("opportunity.stage_changed", 200):
        opportunity = db.session.get(Opportunity, event.aggregate_id)
        if event.payload["to_stage"] == opportunity.stage:
            payload = dict(event.payload)
            assert _utc(datetime.fromisoformat(payload.pop("changed_at"))) == _utc(opportunity.stage_changed_at)
            expected = {
                **opportunity_payload(opportunity),
                "from_stage": event.payload["from_stage"],
                "to_stage": opportunity.stage,
                "reason_id": opportunity.loss_reason_id,
            }
            assert payload == _jsonable(expected)
    for event in events("project.created"):
        project = db.session.get(Project, event.aggregate_id)
        assert event.payload == _jsonable({**project_payload(project), "status": "en_cours", "ended_on": None})
    for event in events("task.created"):
        created = {**task_payload(db.session.get(Task, event.aggregate_id)), "done_at": None, "done_by_id": None}
        assert event.payload == _jsonable(created)
    for event in events("task.done"):
        task = db.session.get(Task, event.aggregate_id)
        assert event.payload["done_by_id"] == task.done_by_id
        assert _utc(datetime.fromisoformat(event.payload["done_at"])) == _utc(task.done_at)


def test_add_structure_activities_tops_one_structure_up():
    from crm.accounts.models import User
    from crm.activities.models import Activity, activity_structures
    from crm.platform.extensions import db
    from crm.seed import run_seed
    from crm.seed.daily_work import add_structure_activities
    from crm.structures.models import Structure

    run_seed("demo", echo=lambda *a, **k: None)
    oustal = db.session.scalar(select(Structure).where(Structure.name == "EHPAD L'OUSTAL"))
    before = db.session.scalar(
        select(func.count()).select_from(activity_structures).where(activity_structures.c.structure_id == oustal.id)
    )
    assert add_structure_activities(oustal.id, 30) == 30
    rows = (
        db.session.execute(
            select(Activity.author_id)
            .join(activity_structures, activity_structures.c.activity_id == Activity.id)
            .where(activity_structures.c.structure_id == oustal.id)
        )
        .scalars()
        .all()
    )
    assert len(rows) == before + 30
    assert all("31" in db.session.get(User, author_id).department_codes for author_id in rows)


def _foreign_keys(db) -> set[tuple[str, str]]:
    return set(
        db.session.execute(
            text("SELECT conrelid::regclass::text, pg_get_constraintdef(oid) FROM pg_constraint WHERE contype = 'f'")
        ).all()
    )


def test_bulk_load_puts_the_foreign_keys_back_and_checks_them(app, monkeypatch):
    """National scale on PostgreSQL: constraints set aside during the load, re-created (checked) after."""
    from crm.pipeline.models import Opportunity
    from crm.platform.extensions import db
    from crm.seed import daily_work, run_seed

    if db.engine.dialect.name != "postgresql":
        pytest.skip("bulk mode is PostgreSQL only")
    before = _foreign_keys(db)
    monkeypatch.setattr(daily_work, "BULK_SCALES", ("demo",))
    report = run_seed("demo", echo=lambda *a, **k: None)
    assert any(line.startswith("Chargement en masse") for line in report)
    assert _foreign_keys(db) == before
    assert db.session.scalar(select(func.count()).select_from(Opportunity)) > 0


def test_a_failed_history_leaves_nothing_and_keeps_the_constraints(app, monkeypatch):
    from crm.activities.models import Activity
    from crm.platform.extensions import db
    from crm.referential.services import region_department_codes
    from crm.seed import daily_work, run_seed
    from crm.seed.pipeline import PipelineGenerator

    monkeypatch.setattr(daily_work, "HISTORY", {**daily_work.HISTORY, "demo": (0, 0)})
    run_seed("demo", echo=lambda *a, **k: None)
    monkeypatch.undo()
    postgres = db.engine.dialect.name == "postgresql"
    before = _foreign_keys(db) if postgres else None
    if postgres:
        monkeypatch.setattr(daily_work, "BULK_SCALES", ("demo",))

    def broken(self, origins, target):
        raise RuntimeError("panne")

    monkeypatch.setattr(PipelineGenerator, "run", broken)
    with pytest.raises(RuntimeError):
        daily_work.seed_daily_work("demo", region_department_codes(), echo=lambda *a, **k: None)
    assert db.session.scalar(select(func.count()).select_from(Activity)) == 0
    if postgres:
        assert _foreign_keys(db) == before
