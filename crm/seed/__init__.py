"""Demo data at three scales: ``demo`` (a few hundred establishments in the configured region),
``region`` (~6,000 establishments, the full team of ~25 animators) and ``national``
(100,000 establishments over the 101 departments).

Establishments go through the same code path as a real FINESS import: a file in the official
layout is generated, then loaded by :func:`crm.structures.finess.import_finess`. Partners that
FINESS does not list (CPTS, DAC, institutions...) and contacts are inserted in bulk, each with
its audit entry and domain event. Accounts go through ``save_user``. Then two years of the
animators' work (``daily_work``): activities, opportunities and their stage history, projects,
milestones and follow-up tasks, in bulk with their domain events. Every step is idempotent:
seeding twice leaves the same counts.
"""

from __future__ import annotations

import secrets
import tempfile
import time
from datetime import datetime
from pathlib import Path

from flask import current_app
from sqlalchemy import func, select, update

from crm.indicators.readmodel.rebuild import rebuild
from crm.platform.extensions import db
from crm.platform.models import OutboxEvent, utcnow
from crm.referential.services import all_department_codes, region_department_codes
from crm.structures.finess import import_finess
from crm.structures.models import Structure

SCALES = {
    # scale: (establishments, whole country?, share of structures given contacts)
    "demo": (400, False, 0.30),
    "region": (6000, False, 0.30),
    "national": (100_000, True, 0.10),
}
SCALE_LABELS = {"demo": "démonstration", "region": "région", "national": "national"}
LOGINS_FILE = "demo_logins.txt"


def _fmt_seconds(seconds: float) -> str:
    return f"{seconds:.1f}".replace(".", ",") + " s"


def _load_establishments(scale: str, department_codes: list[str], count: int, all_regions: bool, echo) -> list[str]:
    # The generators load only when seeding: the CLI, thus every app, imports this package.
    from crm.seed.finess_file import write_finess_file
    from crm.seed.showcase import showcase_lines

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="maillage-seed-") as tmp:
        path = write_finess_file(
            Path(tmp) / f"finess-{scale}.csv",
            department_codes,
            count,
            seed=0,
            extra_lines=showcase_lines(department_codes),
        )
        echo(
            f"Fichier FINESS généré ({count} établissements) en {_fmt_seconds(time.perf_counter() - started)}, import…"
        )
        summary = import_finess(
            path,
            all_regions=all_regions,
            region_code=None if all_regions else current_app.config["CRM_REGION_CODE"],
            origin="seed",
            close_absent=False,
        )
    elapsed = time.perf_counter() - started
    lines = [f"Établissements FINESS ({_fmt_seconds(elapsed)}) :"]
    lines += ["  " + line for line in summary.lines()]
    return lines


def _write_logins(scale: str, password: str, users) -> Path:
    path = Path(current_app.instance_path) / LOGINS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.exists()
    with path.open("a", encoding="utf-8") as out:
        if new:
            out.write("# Comptes créés par « flask crm seed » (jeu de démonstration). Ne pas utiliser en production.\n")
        out.write(f"\n## Seed « {scale} » du {datetime.now():%d/%m/%Y %H:%M} – mot de passe : {password}\n")
        for user in users:
            out.write(f"{user.email}\t{user.role_label}\t{', '.join(sorted(user.department_codes)) or '-'}\n")
    path.chmod(0o600)
    return path


def run_seed(scale: str, echo=print) -> list[str]:
    """Load the demo data of ``scale`` (demo, region or national); returns the French report lines."""
    # Lazy, as in _load_establishments: the generators load only when seeding.
    from crm.seed.daily_work import seed_daily_work
    from crm.seed.deployment import seed_deployment
    from crm.seed.events import seed_events
    from crm.seed.networks import seed_networks
    from crm.seed.networks_scale import seed_network_partners, seed_networks_at_scale
    from crm.seed.partners import seed_partners
    from crm.seed.people import seed_contacts, seed_users
    from crm.seed.targets import seed_targets

    if scale not in SCALES:
        raise ValueError(f"Échelle inconnue : {scale} (demo, region ou national).")
    count, all_regions, contact_share = SCALES[scale]
    region_code = current_app.config["CRM_REGION_CODE"]
    department_codes = all_department_codes() if all_regions else region_department_codes()
    started = time.perf_counter()
    report = [f"Jeu de données « {SCALE_LABELS[scale]} » ({len(department_codes)} départements)."]
    first_new_event = db.session.scalar(select(func.max(OutboxEvent.id))) or 0

    password = secrets.token_urlsafe(12)
    echo("Comptes de l'équipe…")
    users = seed_users(scale, region_code, password)

    report += _load_establishments(scale, department_codes, count, all_regions, echo)

    echo("Partenaires hors FINESS…")
    step = time.perf_counter()
    partners = seed_partners(department_codes)
    report.append(
        f"Partenaires hors FINESS (CPTS, DAC, CRT, PCO, institutions, fédérations, éditeurs) : "
        f"{partners} créés ({_fmt_seconds(time.perf_counter() - step)})."
    )

    if scale != "demo":
        step = time.perf_counter()
        created = seed_network_partners(department_codes)
        report.append(
            f"Partenaires des réseaux (collectivités, associations d'usagers) : {created} créés "
            f"({_fmt_seconds(time.perf_counter() - step)})."
        )

    echo("Contacts…")
    step = time.perf_counter()
    contacts = seed_contacts(contact_share)
    report.append(f"Contacts : {contacts} créés ({_fmt_seconds(time.perf_counter() - step)}).")

    report += seed_daily_work(scale, department_codes, echo)
    report += seed_events(region_department_codes(), echo)
    echo("Services numériques : statuts et usage…")
    step = time.perf_counter()
    report += seed_deployment(scale)
    report.append(f"Services numériques : {_fmt_seconds(time.perf_counter() - step)}.")
    echo("Réseaux (référents, partenaires, grappes)…")
    step = time.perf_counter()
    # The demo's small network in the region; at larger scales, every department of the scale in bulk.
    networks = seed_networks(region_department_codes()) if scale == "demo" else seed_networks_at_scale(department_codes)
    report += [line + f" ({_fmt_seconds(time.perf_counter() - step)})" for line in networks]
    report += _settle_history(first_new_event, echo)
    echo("Cibles…")
    report += seed_targets(region_department_codes())

    report.append(f"Comptes : {len(users.created)} créés, {len(users.existing)} déjà présents (mot de passe inchangé).")
    if users.created:
        path = _write_logins(scale, password, users.created)
        report.append(f"Mot de passe des comptes créés : {password}")
        for user in users.created:
            departments = ", ".join(sorted(user.department_codes))
            report.append(
                f"  {user.email}  –  {user.role_label}" + (f"  –  départements {departments}" if departments else "")
            )
        report.append(f"Identifiants enregistrés dans {path}.")
    total = db.session.scalar(select(func.count()).select_from(Structure)) or 0
    report.append(f"Terminé en {_fmt_seconds(time.perf_counter() - started)} : {total} structures en base.")
    return report


def _settle_history(first_new_event: int, echo) -> list[str]:
    """The seeded history is history: its events are marked processed and the indicators are computed
    from the records at once (``crm indicators rebuild``), rather than replayed through the rules."""
    echo("Indicateurs…")
    step = time.perf_counter()
    db.session.execute(
        update(OutboxEvent)
        .where(OutboxEvent.id > first_new_event, OutboxEvent.processed_at.is_(None))
        .values(processed_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    rebuild()
    return [f"Indicateurs calculés ({_fmt_seconds(time.perf_counter() - step)})."]


def seed_demo_if_empty() -> list[str]:
    """Seed the ``demo`` scale when the database holds no structure yet (first ``make run``)."""
    if db.session.scalar(select(func.count()).select_from(Structure)):
        return []
    return run_seed("demo")
