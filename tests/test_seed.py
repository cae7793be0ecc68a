"""Demo data: ``run_seed("demo")`` through the real FINESS import, partners, people, idempotence."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import func, select

ROOT = Path(__file__).resolve().parent.parent
OCCITANIE = {"09", "11", "12", "30", "31", "32", "34", "46", "48", "65", "66", "81", "82"}


def _counts() -> dict[str, int]:
    from crm.accounts.models import User
    from crm.core.models import AuditEntry, OutboxEvent
    from crm.extensions import db
    from crm.structures.models import Contact, Structure

    return {model.__name__: db.session.scalar(select(func.count()).select_from(model))
            for model in (Structure, Contact, User, AuditEntry, OutboxEvent)}


def test_demo_seed_fills_every_department_and_role(app):
    from crm.accounts.models import User
    from crm.core.models import AuditEntry, OutboxEvent
    from crm.extensions import db
    from crm.referential.models import Category
    from crm.seed import run_seed
    from crm.structures.models import Contact, Structure

    report = run_seed("demo", echo=lambda *a, **k: None)

    finess_departments = set(db.session.scalars(
        select(Structure.department_code).where(Structure.source == "finess").distinct()))
    assert OCCITANIE <= finess_departments
    assert db.session.scalar(select(func.count()).select_from(Structure).where(Structure.source == "finess")) >= 300

    users = list(db.session.scalars(select(User)))
    assert {u.role for u in users} == {"admin", "manager", "organisateur", "animateur"}
    animators = [u for u in users if u.role == "animateur"]
    assert len(animators) == 4
    assert set().union(*(u.department_codes for u in animators)) == OCCITANIE
    assert all(3 <= len(u.department_codes) <= 4 for u in animators)
    assert all(u.email.endswith("@esante-occitanie.fr") for u in users)

    partner_counts = dict(db.session.execute(
        select(Category.code, func.count()).join(Structure, Structure.category_id == Category.id)
        .where(Structure.source == "manuel").group_by(Category.code)).all())
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
    assert db.session.scalar(select(func.count()).select_from(Contact)
                             .where(Contact.consent.is_(True), Contact.consent_at.is_(None))) == 0

    # Every structure and contact has its audit entry and its domain event.
    for entity_type, total in (("structure", structures), ("contact", contacts)):
        assert db.session.scalar(select(func.count(AuditEntry.entity_id.distinct())).where(
            AuditEntry.entity_type == entity_type, AuditEntry.action == "create")) == total
        assert db.session.scalar(select(func.count()).select_from(OutboxEvent).where(
            OutboxEvent.type == f"{entity_type}.created")) == total
    assert db.session.scalar(select(func.count()).select_from(AuditEntry).where(
        AuditEntry.entity_type == "structure", AuditEntry.origin != "seed")) == 0

    # The report gives the logins and the shared password, also written under instance/.
    text = "\n".join(report)
    password = next(line.split(" : ", 1)[1] for line in report if line.startswith("Mot de passe"))
    assert len(password) >= 12
    for user in users:
        assert user.email in text
        assert user.check_password(password)
    logins = (Path(app.instance_path) / "demo_logins.txt").read_text(encoding="utf-8")
    assert password in logins and animators[0].email in logins


def test_demo_seed_twice_leaves_the_same_counts():
    from crm.seed import run_seed

    run_seed("demo", echo=lambda *a, **k: None)
    first = _counts()
    report = run_seed("demo", echo=lambda *a, **k: None)
    assert _counts() == first
    assert any("0 créés, 8 déjà présents" in line for line in report)


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
    result = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "crm", "seed", "--scale", "demo"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Mot de passe des comptes créés" in result.stdout
    assert "@esante-occitanie.fr" in result.stdout and "Animateur territorial" in result.stdout
    assert _counts()["User"] == 8


def test_a_smaller_seed_after_a_larger_one_closes_nothing():
    from sqlalchemy import func, select

    from crm.extensions import db
    from crm.seed import run_seed
    from crm.structures.models import Structure

    run_seed("demo")
    extra = Structure(name="EHPAD hors démo", department_code="31", source="finess", finess_et="319999990",
                      search_text="ehpad hors demo", manual_fields=[])
    db.session.add(extra)
    db.session.commit()
    run_seed("demo")
    closed = db.session.scalar(select(func.count()).select_from(Structure).where(Structure.is_open.is_(False)))
    assert closed == 0
