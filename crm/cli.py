"""``flask --app wsgi crm ...`` commands."""

from __future__ import annotations

import json
import os
import secrets
import sys
from datetime import timedelta

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import func, select

from crm.accounts.models import ApiToken, User
from crm.accounts.services import (
    AccountError,
    api_tokens,
    create_api_token,
    normalise_email,
    revoke_api_tokens,
    save_user,
)
from crm.backup import BackupCheckError, check_backup
from crm.deployment.services import offer_by_code
from crm.deployment.usage import UsageFileError, import_usage
from crm.events.cli import events_cli
from crm.indicators_cli import indicators_cli
from crm.mail.services import sweep_pending_emails
from crm.platform.extensions import db
from crm.platform.formatting import format_datetime
from crm.platform.models import utcnow
from crm.referential.services import load_reference_data
from crm.reports_cli import report_cli
from crm.seed import run_seed
from crm.structures.finess import FinessFileError
from crm.structures.imports import import_from_cli
from crm.structures.models import Structure
from workflows.cli import outbox_cli

crm_cli = AppGroup("crm", help="Commandes d'administration de Maillage.")
users_cli = AppGroup("users", help="Comptes utilisateurs.")
token_cli = AppGroup("token", help="Jetons d'API personnels.")
mail_cli = AppGroup("mail", help="Emails sortants.")
crm_cli.add_command(users_cli)
crm_cli.add_command(token_cli)
crm_cli.add_command(mail_cli)
crm_cli.add_command(report_cli)


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
    generated = password is None
    password = password or secrets.token_urlsafe(12)
    try:
        user = save_user(
            None,
            email=email,
            role=role,
            first_name=first_name,
            last_name=last_name,
            department_codes=[c for c in departments.split(",") if c.strip()],
            password=password,
            origin="cli",
        )
    except AccountError as error:
        db.session.rollback()
        _fail(str(error))
    click.echo(f"Compte créé : {user.email} ({user.role_label})")
    if generated:
        click.echo(f"Mot de passe : {password}")


def _user_by_email(email):
    user = db.session.scalar(select(User).where(User.email == normalise_email(email)))
    if user is None:
        _fail(f"aucun compte pour {email}.")
    return user


@token_cli.command("create")
@click.option("--email", required=True)
@click.option("--days", type=int, default=None, help="Durée de validité en jours (par défaut : API_TOKEN_DAYS, 365).")
def token_create(email, days):
    """Print a new personal API token for the user."""
    user = _user_by_email(email)
    try:
        click.echo(create_api_token(user, days, origin="cli"))
    except AccountError as error:
        db.session.rollback()
        _fail(str(error))


@token_cli.command("list")
@click.option("--email", required=True)
def token_list(email):
    """List the user's API tokens: id, prefix, dates, status."""
    labels = {"active": "actif", "expired": "expiré", "revoked": "révoqué"}
    now = utcnow()
    tokens = api_tokens(_user_by_email(email))
    if not tokens:
        click.echo("Aucun jeton.")
    for token in tokens:
        click.echo(
            f"{token.id}\t{token.prefix}…\tcréé le {format_datetime(token.created_at)}"
            f"\texpire le {format_datetime(token.expires_at)}"
            f"\tdernière utilisation : {format_datetime(token.last_used_at) if token.last_used_at else 'jamais'}"
            f"\t{labels[token.status(now)]}"
        )


@token_cli.command("revoke")
@click.argument("token_id", type=int, required=False)
@click.option("--all", "revoke_all", is_flag=True, help="Révoquer tous les jetons du compte.")
@click.option("--email", required=True)
def token_revoke(token_id, revoke_all, email):
    """Revoke one API token of the user (ID, from ``token list``) or all of them (--all)."""
    if (token_id is None) == (not revoke_all):
        _fail("indiquez soit l'identifiant d'un jeton, soit --all.")
    user = _user_by_email(email)
    if token_id is not None:
        token = db.session.get(ApiToken, token_id) if 0 < token_id < 2**31 else None
        if token is None or token.user_id != user.id:
            _fail(f"aucun jeton {token_id} pour {user.email}.")
    count = revoke_api_tokens(user, token_id, origin="cli")
    click.echo(f"Jetons révoqués : {count}")


@crm_cli.command("load-reference")
def load_reference():
    """Insert missing reference data (departments, sectors, programmes...)."""
    added = load_reference_data()
    click.echo("Référentiels : " + (", ".join(f"{k} +{v}" for k, v in added.items()) or "à jour"))


@crm_cli.command("seed")
@click.option("--scale", type=click.Choice(["demo", "region", "national"]), default="demo")
@click.option("--if-empty", is_flag=True, help="Ne rien faire si des structures existent déjà.")
def seed(scale, if_empty):
    """Load demo data at the given scale."""
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
@click.option(
    "--confirm-closures",
    is_flag=True,
    help="Accepter de fermer plus de 5 % des structures FINESS ouvertes du périmètre "
    "(sinon l'import est refusé sans rien enregistrer, code de sortie 3).",
)
@click.option("--json", "as_json", is_flag=True, help="Afficher le bilan en un objet JSON.")
def import_finess_command(path, all_regions, confirm_closures, as_json):
    """Import the FINESS establishments extract (etalab cs1100507 layout).

    Recorded as an import run, listed on the admin page with the uploaded ones.
    """
    load_reference_data()
    try:
        summary = import_from_cli(path, all_regions=all_regions, confirm_closures=confirm_closures)
    except FinessFileError as error:
        if as_json:
            click.echo(json.dumps({"error": str(error)}, ensure_ascii=False))
        _fail(str(error))
    if as_json:
        click.echo(json.dumps(summary.as_dict(), ensure_ascii=False))
    else:
        for line in summary.lines():
            click.echo(line)
    if summary.refused:
        click.echo(f"Erreur : {summary.refusal_message()} Relancez avec --confirm-closures pour confirmer.", err=True)
        sys.exit(3)


@crm_cli.command("import-usage")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--offer", "offer_code", required=True, help="Code de l'offre (ex. SPICO_DOSSIERS).")
@click.option("--json", "as_json", is_flag=True, help="Afficher le bilan en un objet JSON.")
def import_usage_command(path, offer_code, as_json):
    """Import a service's usage statistics (FINESS or SIRET, month, value) for one offer.

    The columns are those saved for the offer (or guessed from the header); importing the same file again
    gives the same figures.
    """
    load_reference_data()
    offer = offer_by_code(offer_code)
    if offer is None:
        if as_json:
            click.echo(json.dumps({"error": f"Offre inconnue : {offer_code}"}, ensure_ascii=False))
        _fail(f"Offre inconnue : {offer_code}.")
    try:
        with open(path, "rb") as handle:
            summary = import_usage(handle.read(), offer, source=os.path.basename(str(path)), origin="cli")
    except UsageFileError as error:
        if as_json:
            click.echo(json.dumps({"error": str(error)}, ensure_ascii=False))
        _fail(str(error))
    if as_json:
        click.echo(json.dumps(summary.as_dict(), ensure_ascii=False))
    else:
        for line in summary.lines():
            click.echo(line)


@mail_cli.command("sweep")
@click.option(
    "--grace-minutes",
    type=click.IntRange(min=0),
    default=2,
    show_default=True,
    help="Laisser tranquilles les emails plus récents (leur envoi est peut-être en cours).",
)
def mail_sweep(grace_minutes):
    """Enqueue again the emails left pending (Redis was down) or whose retry was lost.

    The periodic sweep (``crm outbox sweep``, and every OUTBOX_SWEEP_SECONDS in the workers) does it too.
    """
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
    try:
        report = check_backup(path, current_app.config["SQLALCHEMY_DATABASE_URI"], echo=click.echo, keep=keep)
    except BackupCheckError as error:
        _fail(str(error))
    if not report.indicators_ok:
        click.echo("Sauvegarde restaurée, mais ses indicateurs diffèrent d'un recalcul complet.", err=True)
        sys.exit(1)
    click.echo("Sauvegarde vérifiée : restaurable, indicateurs conformes.")


def register(app) -> None:
    crm_cli.add_command(events_cli)
    crm_cli.add_command(indicators_cli)
    crm_cli.add_command(outbox_cli)
    app.cli.add_command(crm_cli)
