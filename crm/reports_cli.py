"""``crm report yearly``: the yearly pack (XLSX workbook or PDF report) written to a file, as the "Bilan
annuel" page gives it."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click
from flask.cli import AppGroup

from crm.indicators.yearly import service
from crm.platform.validation import ValidationFailed

report_cli = AppGroup("report", help="Bilans : le bilan annuel (classeur XLSX ou rapport PDF).")


@report_cli.command("yearly")
@click.option("--year", "year_text", required=True, help="Année du bilan, ex. 2026 (comparée à l'année précédente).")
@click.option("--department", default=None, help="Code d'un département de la région (par défaut : toute la région).")
@click.option("--out", "out", required=True, help="Fichier à écrire : .xlsx (classeur) ou .pdf (rapport).")
def yearly_command(year_text, department, out):
    """Write the yearly pack of a year (and a department) to --out; nothing is written on a refused argument."""
    path = Path(out)
    fmt = path.suffix.lower().lstrip(".")
    try:
        year_number, department = service.parse_request(year_text, department, fmt)
    except ValidationFailed as error:
        messages = dict(error.errors)
        if "format" in messages:
            messages["format"] = "Extension du fichier inconnue : --out doit finir par .xlsx ou .pdf."
        for message in messages.values():
            click.echo(f"Erreur : {message}", err=True)
        sys.exit(2)
    if not path.parent.is_dir():
        click.echo(f"Erreur : le dossier {path.parent} n'existe pas.", err=True)
        sys.exit(2)
    started = time.perf_counter()
    data = service.render(year_number, department, fmt)
    path.write_bytes(data)
    seconds = time.perf_counter() - started
    click.echo(f"Bilan annuel {year_number} écrit dans {path} ({len(data) // 1024} Kio, {seconds:.1f} s).")
