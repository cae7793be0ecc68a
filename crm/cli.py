"""``flask --app wsgi crm ...`` commands."""
from __future__ import annotations

import json
import secrets
import sys

import click

from flask.cli import AppGroup
from sqlalchemy import func, select

from crm.extensions import db

crm_cli = AppGroup("crm", help="Commandes d'administration de Maillage.")
users_cli = AppGroup("users", help="Comptes utilisateurs.")
token_cli = AppGroup("token", help="Jetons d'API personnels.")
mail_cli = AppGroup("mail", help="Emails sortants.")
crm_cli.add_command(users_cli)
crm_cli.add_command(token_cli)
crm_cli.add_command(mail_cli)


def _fail(message: str) -> None:
    click.echo(f"Erreur : {message}", err=True)
    sys.exit(2)


@users_cli.command("create")
@click.option("--email", required=True)
@click.option("--role", required=True, help="animateur, organisateur, manager ou admin")
@click.option("--departments", default="", help="Codes séparés par des virgules, ex. 31,81 (animateurs)")
@click.option("--first-name", default="")
@click.option("--last-name", default="")
@click.option("--password", default=None, help="Généré et affiché s'il est omis.")
def users_create(email, role, departments, first_name, last_name, password):
    """Create an account."""
    from crm.accounts.services import AccountError, save_user

    generated = password is None
    password = password or secrets.token_urlsafe(12)
    try:
        user = save_user(None, email=email, role=role, first_name=first_name, last_name=last_name,
                         department_codes=[c for c in departments.split(",") if c.strip()],
                         password=password, origin="cli")
    except AccountError as error:
        db.session.rollback()
        _fail(str(error))
    click.echo(f"Compte créé : {user.email} ({user.role_label})")
    if generated:
        click.echo(f"Mot de passe : {password}")


@token_cli.command("create")
@click.option("--email", required=True)
def token_create(email):
    """Print a new personal API token for the user."""
    from crm.accounts.models import User
    from crm.accounts.services import create_api_token, normalise_email

    user = db.session.scalar(select(User).where(User.email == normalise_email(email)))
    if user is None:
        _fail(f"aucun compte pour {email}.")
    click.echo(create_api_token(user))


@crm_cli.command("load-reference")
def load_reference():
    """Insert missing reference data (departments, sectors, programmes...)."""
    from crm.referential.services import load_reference_data

    added = load_reference_data()
    click.echo("Référentiels : " + (", ".join(f"{k} +{v}" for k, v in added.items()) or "à jour"))


@crm_cli.command("seed")
@click.option("--scale", type=click.Choice(["demo", "region", "national"]), default="demo")
@click.option("--if-empty", is_flag=True, help="Ne rien faire si des structures existent déjà.")
def seed(scale, if_empty):
    """Load demo data at the given scale."""
    from crm.referential.services import load_reference_data
    from crm.seed import run_seed
    from crm.structures.models import Structure

    load_reference_data()
    if if_empty and db.session.scalar(select(func.count()).select_from(Structure)):
        click.echo("Des données existent déjà : jeu de démonstration non rechargé.")
        return
    report = run_seed(scale, echo=click.echo)
    for line in report:
        click.echo(line)


@crm_cli.command("import-finess")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--all-regions", is_flag=True, help="Importer toutes les régions (par défaut : la région configurée).")
@click.option("--json", "as_json", is_flag=True, help="Afficher le bilan en un objet JSON.")
def import_finess_command(path, all_regions, as_json):
    """Import the FINESS establishments extract (etalab cs1100507 layout)."""
    from crm.referential.services import load_reference_data
    from crm.structures.finess import FinessFileError, import_finess

    load_reference_data()
    try:
        summary = import_finess(path, all_regions=all_regions, origin="cli")
    except FinessFileError as error:
        if as_json:
            click.echo(json.dumps({"error": str(error)}, ensure_ascii=False))
        _fail(str(error))
    if as_json:
        click.echo(json.dumps(summary.as_dict(), ensure_ascii=False))
    else:
        for line in summary.lines():
            click.echo(line)


@mail_cli.command("sweep")
@click.option("--grace-minutes", type=click.IntRange(min=0), default=2, show_default=True,
              help="Laisser tranquilles les emails plus récents (leur envoi est peut-être en cours).")
def mail_sweep(grace_minutes):
    """Enqueue again the emails left pending (Redis was down) or whose retry was lost.

    The periodic sweep (``crm outbox sweep``, and every OUTBOX_SWEEP_SECONDS in the workers) does it too.
    """
    from datetime import timedelta

    from crm.mail.services import sweep_pending_emails

    count = sweep_pending_emails(timedelta(minutes=grace_minutes))
    click.echo(f"Emails remis en file d'envoi : {count}")


backup_cli = AppGroup("backup", help="Sauvegardes de la base (pg_dump -Fc) : vérification.")
crm_cli.add_command(backup_cli)


@backup_cli.command("check")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--keep", is_flag=True, help="Garder la base temporaire (pour l'examiner) au lieu de la supprimer.")
def backup_check(path, keep):
    """Restore a pg_dump -Fc file into a scratch database, run the indicators check there, drop it.

    Exit status 0 if the dump restores and its indicators match a recomputation, 1 on differences, 2 if it
    cannot be restored.
    """
    from flask import current_app

    from crm.backup import BackupCheckError, check_backup

    try:
        report = check_backup(path, current_app.config["SQLALCHEMY_DATABASE_URI"], echo=click.echo, keep=keep)
    except BackupCheckError as error:
        _fail(str(error))
    if not report.indicators_ok:
        click.echo("Sauvegarde restaurée, mais ses indicateurs diffèrent d'un recalcul complet.", err=True)
        sys.exit(1)
    click.echo("Sauvegarde vérifiée : restaurable, indicateurs conformes.")


def register(app) -> None:
    from crm.events.cli import events_cli
    from crm.indicators.cli import indicators_cli
    from workflows.cli import outbox_cli

    crm_cli.add_command(events_cli)
    crm_cli.add_command(indicators_cli)
    crm_cli.add_command(outbox_cli)
    app.cli.add_command(crm_cli)
