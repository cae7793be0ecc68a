"""``flask --app wsgi crm events ...``: event commands run by cron."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from crm.events.followup.retention import anonymise_registrants
from crm.platform.formatting import format_date

events_cli = AppGroup("events", help="Événements et inscriptions.")


@events_cli.command("anonymise")
@click.option(
    "--months",
    type=click.IntRange(min=0),
    default=None,
    help="Délai en mois après l'événement (défaut : REGISTRANT_RETENTION_MONTHS, 24).",
)
@click.option("--dry-run", is_flag=True, help="Compter sans rien modifier.")
def anonymise(months, dry_run):
    """Anonymiser les inscrits qui ne sont pas des contacts, passé le délai de conservation."""
    summary = anonymise_registrants(months=months, dry_run=dry_run)
    verb = "à anonymiser" if dry_run else "anonymisé(s)"
    click.echo(
        f"Événements terminés avant le {format_date(summary.cutoff)} "
        f"(délai de {summary.months} mois) : {summary.total} inscrit(s) {verb} "
        f"sur {len(summary.events)} événement(s)."
    )
