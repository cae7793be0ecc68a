"""The targets pages' forms: the grid's cells are read from the request (their names come from the grid),
the forms carry the CSRF token and the few fixed fields."""

from __future__ import annotations

from flask_wtf.file import FileField
from wtforms import BooleanField

from crm.platform.forms import Form


class GridForm(Form):
    """The grid of one year (its cells: ``crm.targets.services.cell_name``)."""


class CopyForm(Form):
    overwrite = BooleanField("Remplacer aussi les cibles déjà saisies pour cette année")


class ImportForm(Form):
    file = FileField("Fichier CSV ou Excel (XLSX) des cibles")
