"""``flask --app wsgi crm outbox ...``: the outbox from a terminal (status, processing without a worker,
a sweep now, replaying dead letters)."""

from __future__ import annotations

import sys

import click
from flask.cli import AppGroup
from redis.exceptions import RedisError

from crm.platform.formatting import format_age, format_datetime, format_number
from crm.platform.queue import QueueUnavailable, redis_connection
from workflows.dispatch import dead_letters, outbox_status, process_pending
from workflows.outbox import replay_dead_letters
from workflows.sweep import SWEEP_FLAG, run_sweep

outbox_cli = AppGroup("outbox", help="File d'événements (outbox) : état, traitement, balayage, lettres mortes.")


@outbox_cli.command("status")
def status():
    """Print the pending events, the age of the oldest, the dead letters and the sweep chain's state."""

    state = outbox_status()
    click.echo(
        f"En attente : {format_number(state.pending)}"
        + (f" (dont {format_number(state.retrying)} en échec, nouvel essai prévu)" if state.retrying else "")
    )
    click.echo(
        "Plus ancien en attente : "
        + (
            f"depuis {format_age(state.age_seconds)} ({format_datetime(state.oldest_pending_at)})"
            if state.oldest_pending_at
            else "—"
        )
    )
    click.echo(f"Lettres mortes : {format_number(state.dead)}")
    for event in dead_letters(limit=20):
        click.echo(
            f"  n°{event.id} {event.type} {event.aggregate_type} n°{event.aggregate_id} "
            f"({event.attempts} essais) : {event.last_error or ''}"
        )
    click.echo(f"Balayage périodique : {_sweep_state()}")


def _sweep_state() -> str:

    try:
        return "programmé" if redis_connection().exists(SWEEP_FLAG) else "non programmé (aucun worker ?)"
    except (QueueUnavailable, RedisError):
        return "Redis injoignable"


@outbox_cli.command("process")
def process():
    """Process every due event in this process, without a worker."""

    result = process_pending()
    click.echo(
        f"Traités : {format_number(result.processed)} ; en échec (nouvel essai prévu) : "
        f"{format_number(result.failed)} ; mis en lettres mortes : {format_number(result.dead)}"
    )
    for event_id, error in sorted(result.errors.items())[:20]:
        click.echo(f"  n°{event_id} : {error}", err=True)


@outbox_cli.command("sweep")
def sweep():
    """Run one sweep now (missed events, pending emails, scheduled rules) without touching the chain."""

    try:
        report = run_sweep(reschedule=False)
    except (QueueUnavailable, RedisError) as error:
        click.echo(
            f"Erreur : Redis injoignable ({error}). « crm outbox process » traite les événements sans worker.", err=True
        )
        sys.exit(2)
    click.echo(f"Traitement demandé : {'oui' if report['drain_enqueued'] else 'non (rien en retard)'}")
    click.echo(f"Emails remis en file : {format_number(report['emails_enqueued'])}")
    for name, count in report["scheduled"].items():
        click.echo(f"Règle {name} : {format_number(count)} action(s)")
    for error in report["errors"]:
        click.echo(f"Erreur : {error}", err=True)
    if report["errors"]:
        sys.exit(1)


@outbox_cli.command("replay")
@click.argument("event_ids", nargs=-1, type=click.IntRange(min=1))
@click.option("--all", "replay_all", is_flag=True, help="Rejouer toutes les lettres mortes.")
def replay(event_ids, replay_all):
    """Put dead letters back in line: the given ids, or --all."""

    if bool(event_ids) == replay_all:
        click.echo("Erreur : indiquez des numéros d'événements ou --all (pas les deux).", err=True)
        sys.exit(2)
    ids = replay_dead_letters(None if replay_all else list(event_ids), user_id=None, origin="cli")
    click.echo(f"Remis en file : {format_number(len(ids))}" + (f" ({', '.join(map(str, ids[:50]))})" if ids else ""))
    missing = sorted(set(event_ids) - set(ids))
    if missing:
        click.echo("Pas dans les lettres mortes : " + ", ".join(map(str, missing)), err=True)
        sys.exit(1)
