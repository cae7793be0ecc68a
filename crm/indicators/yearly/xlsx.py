"""The yearly pack as an XLSX workbook: one sheet per section and a "Définitions" sheet.

Numbers stay numbers (a rate is the share, 0.25, shown "25.0%" by its number format), so that the ARS's
spreadsheet can sum and chart them; the period and the filters open each sheet, the header row is frozen.
"""

from __future__ import annotations

import io

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from crm.indicators.yearly.pack import Pack, Section, Value
from crm.platform.exports import neutralise

NUMBER_FORMATS = {
    "count": "#,##0",
    "rate": "0.0%",
    "points": '+0.0" pt";-0.0" pt";0.0" pt"',
    "days": "0.0",
}
HEADER_FILL = PatternFill("solid", fgColor="DCE6F0")
BOLD = Font(bold=True)
MAX_WIDTH = 60
SHEETS = {  # sheet names: 31 characters at most
    "departements": "Par département",
    "programmes": "Par programme",
    "rapport": "Rapport d'activité",
    "evenements-types": "Événements par type",
    "evenements-programmes": "Événements par programme",
    "entonnoir": "Entonnoir",
    "secteurs": "Accompagnées par secteur",
}


def _sheet_name(title: str) -> str:
    for char in "[]:*?/\\":
        title = title.replace(char, " ")
    return title[:31]


def _cell(ws, row: int, column: int, value, kind: str):
    if isinstance(value, Value):
        value, kind = value.number, value.kind
    if isinstance(value, str):
        cell = ws.cell(row=row, column=column, value=neutralise(value))
    else:
        cell = ws.cell(row=row, column=column, value=value)
        if kind in NUMBER_FORMATS:
            cell.number_format = NUMBER_FORMATS[kind]
    return cell


def _write_section(ws, pack: Pack, section: Section) -> None:
    ws.cell(row=1, column=1, value=f"{pack.organisation} – {section.title}").font = Font(bold=True, size=13)
    row = 2
    for label, text in pack.context:
        ws.cell(row=row, column=1, value=label).font = BOLD
        ws.cell(row=row, column=2, value=neutralise(text))
        row += 1
    if section.note:
        ws.cell(row=row, column=1, value="Note").font = BOLD
        note = ws.cell(row=row, column=2, value=neutralise(section.note))
        note.alignment = Alignment(wrap_text=True, vertical="top")
        row += 1
    row += 1
    header_row = row
    for index, column in enumerate(section.columns, start=1):
        cell = ws.cell(row=row, column=index, value=column.label)
        cell.font, cell.fill = BOLD, HEADER_FILL
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    for values in section.rows:
        row += 1
        for index, (column, value) in enumerate(zip(section.columns, values), start=1):
            _cell(ws, row, index, value, column.kind)
    ws.freeze_panes = ws.cell(row=header_row + 1, column=2)
    _fit_widths(ws, section, header_row)


def _fit_widths(ws, section: Section, header_row: int) -> None:
    """Widths from the longest value of each column (headers wrap, so they count for half)."""
    for index, column in enumerate(section.columns, start=1):
        longest = len(column.label) // 2 + 2
        for values in section.rows:
            value = values[index - 1]
            if isinstance(value, Value):
                value = value.number
            longest = max(longest, len(str(value)) if value is not None and column.kind == "text" else 10)
        ws.column_dimensions[get_column_letter(index)].width = min(MAX_WIDTH, longest + 2)
    ws.column_dimensions["A"].width = max(ws.column_dimensions["A"].width, 24)
    ws.row_dimensions[header_row].height = 32


def workbook(pack: Pack) -> bytes:
    """The whole pack as the bytes of an XLSX file."""
    wb = Workbook()
    wb.remove(wb.active)
    wb.properties.title = pack.title
    wb.properties.creator = pack.organisation
    wb.properties.language = "fr-FR"
    for section in pack.sections:
        _write_section(wb.create_sheet(SHEETS.get(section.key) or _sheet_name(section.title)), pack, section)
    ws = wb.create_sheet("Définitions")
    ws.cell(row=1, column=1, value=f"{pack.organisation} – Définitions").font = Font(bold=True, size=13)
    row = 2
    for label, text in pack.context:
        ws.cell(row=row, column=1, value=label).font = BOLD
        ws.cell(row=row, column=2, value=neutralise(text))
        row += 1
    row += 1
    ws.cell(row=row, column=1, value="Terme").font = BOLD
    ws.cell(row=row, column=2, value="Définition").font = BOLD
    ws.freeze_panes = ws.cell(row=row + 1, column=1)
    for label, text in pack.definitions:
        row += 1
        ws.cell(row=row, column=1, value=label).font = BOLD
        ws.cell(row=row, column=2, value=neutralise(text)).alignment = Alignment(wrap_text=True, vertical="top")
    ws.column_dimensions["A"].width = 38
    ws.column_dimensions["B"].width = 100
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
