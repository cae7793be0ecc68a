"""Establishments every demo shows whatever the random draw, as FINESS extract lines.

Searching "ehpad saint gaudens" must find EHPAD L'OUSTAL. They are written into the
generated FINESS file (``extra_lines``), so they go through the real import like the rest.
"""

from __future__ import annotations

from crm.seed.finess_file import showcase_line

# (FINESS category, name, address, postal code, commune, department)
SHOWCASE = (
    ("500", "EHPAD L'OUSTAL", "12 AV DE L'ISLE", "31800", "SAINT-GAUDENS", "31"),
    ("355", "CENTRE HOSPITALIER DU COMMINGES PYRENEES", "AV DE SAINT-PLANCARD", "31800", "SAINT-GAUDENS", "31"),
    ("500", "EHPAD LES JARDINS DU COMMINGES", "8 R DU PRINTEMPS", "31800", "SAINT-GAUDENS", "31"),
    ("500", "EHPAD LA CROIX DU SUD", "15 R DES CHAMPS", "31500", "TOULOUSE", "31"),
    ("620", "PHARMACIE DU CAPITOLE", "5 R DU TAUR", "31000", "TOULOUSE", "31"),
    ("354", "SSIAD DU PAYS D'AUCH", "3 PL DE LA LIBERATION", "32000", "AUCH", "32"),
    ("500", "EHPAD L'OUSTAL DEL CAUSSE", "2 RTE DE MENDE", "48000", "MENDE", "48"),
)


def showcase_lines(department_codes: list[str]) -> list[str]:
    """The ``structureet`` lines of the showcase establishments of these departments."""
    return [showcase_line(*row, index=index) for index, row in enumerate(SHOWCASE) if row[5] in department_codes]
