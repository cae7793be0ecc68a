"""``crm indicators rebuild`` and ``crm indicators check``.

On the command-line floor, not in :mod:`crm.indicators`: ``check --process-pending`` first runs the outbox
dispatcher (:mod:`workflows.dispatch`), which runs the indicators' read model, not the reverse."""

from __future__ import annotations

import sys
import time

import click
from flask.cli import AppGroup

from crm.indicators.readmodel.check import check
from crm.indicators.readmodel.rebuild import rebuild
from crm.platform.formatting import format_number
from crm.platform.outbox_status import outbox_status
from workflows.dispatch import process_pending as process

indicators_cli = AppGroup("indicators", help="Indicateurs CPOM : reconstruction et vérification.")


@indicators_cli.command("rebuild")
def rebuild_command():
    """Recompute every indicator table from the records."""
    started = time.perf_counter()
    counts = rebuild()
    for table, rows in counts.items():
        click.echo(f"{table:32} {format_number(rows):>12} lignes")
    click.echo(f"Indicateurs reconstruits en {time.perf_counter() - started:.1f} s.")


@indicators_cli.command("check")
@click.option(
    "--process-pending",
    is_flag=True,
    help="Traiter d'abord les événements en attente (sinon ils comptent comme des écarts).",
)
def check_command(process_pending):
    """Compare the stored indicators with a recomputation; exit status 1 on any difference."""
    if process_pending:
        process()
    status = outbox_status()
    differences = check()
    if status.pending:
        click.echo(f"Attention : {status.pending} événement(s) en attente de traitement.")
    if not differences:
        click.echo("Indicateurs conformes à un recalcul complet.")
        return
    for difference in differences:
        click.echo(str(difference), err=True)
    sys.exit(1)
