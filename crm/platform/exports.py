"""Tables exported as CSV (for French Excel) or XLSX: participants of an event, indicator tables...

One :class:`ExportTable` (title, lines saying the period and the filters, a header, rows) is written
by :func:`to_csv` or :func:`to_xlsx`. Text cells that a spreadsheet would read as a formula
(starting with = + - @, a tab or a carriage return) are prefixed with an apostrophe: a registrant
who types ``=HYPERLINK(...)`` as their name must not run anything on the organiser's computer.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from flask import send_file
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from crm.platform.formatting import PARIS, format_date, format_datetime

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
EXCEL_MAX_TEXT = 32767
FORMATS = ("csv", "xlsx")


@dataclass
class ExportTable:
    title: str
    header: Sequence[str]
    rows: Iterable[Sequence[Any]]
    # ("Période", "du 01/01/2024 au 31/12/2024"), ("Département", "31 – Haute-Garonne")...
    context: list[tuple[str, str]] = field(default_factory=list)


def neutralise(value: str) -> str:
    """The text as a spreadsheet must show it, never as a formula."""
    return "'" + value if value.startswith(FORMULA_PREFIXES) else value


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "oui" if value else "non"
    if isinstance(value, datetime):
        return format_datetime(value).replace(" à ", " ")
    if isinstance(value, date):
        return format_date(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, (float, Decimal)):
        return f"{float(value):.6f}".rstrip("0").rstrip(".").replace(".", ",")
    return neutralise(str(value))


def to_csv(table: ExportTable) -> bytes:
    """UTF-8 with a BOM and ``;`` between cells: what French Excel opens without an import wizard."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow([neutralise(table.title)])
    for label, value in table.context:
        writer.writerow([neutralise(label), neutralise(value)])
    writer.writerow([])
    writer.writerow([neutralise(h) for h in table.header])
    for row in table.rows:
        writer.writerow([_csv_cell(v) for v in row])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def _xlsx_value(value: Any) -> tuple[Any, str | None]:
    """The cell's value and number format: real dates and numbers, neutralised text."""
    if value is None:
        return None, None
    if isinstance(value, bool):
        return ("oui" if value else "non"), None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(PARIS).replace(tzinfo=None), "DD/MM/YYYY HH:MM"
    if isinstance(value, date):
        return value, "DD/MM/YYYY"
    if isinstance(value, (int, float)):
        return value, None
    if isinstance(value, Decimal):
        return float(value), None
    text = ILLEGAL_CHARACTERS_RE.sub("", neutralise(str(value)))
    return text[:EXCEL_MAX_TEXT], None


def _sheet_title(title: str) -> str:
    return (re.sub(r"[\[\]:*?/\\']", " ", title).strip() or "Export")[:31]


def to_xlsx(table: ExportTable) -> bytes:
    """One sheet: the title and context lines, a blank line, the bold header, then the rows."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(_sheet_title(table.title))
    bold = Font(bold=True)

    def cells(values, *, font=None):
        out = []
        for value in values:
            content, number_format = _xlsx_value(value)
            cell = WriteOnlyCell(sheet, value=content)
            if number_format:
                cell.number_format = number_format
            if font:
                cell.font = font
            out.append(cell)
        return out

    widths = [max(10, min(50, len(str(h)) + 2)) for h in table.header]
    for index, width in enumerate(widths):
        sheet.column_dimensions[get_column_letter(index + 1)].width = width
    sheet.append(cells([table.title], font=bold))
    for label, value in table.context:
        sheet.append(cells([label, value]))
    sheet.append([])
    sheet.append(cells(table.header, font=bold))
    for row in table.rows:
        sheet.append(cells(row))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def export_response(table: ExportTable, fmt: str, filename: str):
    """The file as a download; ``fmt`` is ``csv`` or ``xlsx`` (the caller checked it), ``filename`` has no extension."""
    if fmt == "xlsx":
        data, mimetype = to_xlsx(table), XLSX_TYPE
    else:
        data, mimetype = to_csv(table), "text/csv; charset=utf-8"
    response = send_file(
        io.BytesIO(data), mimetype=mimetype, as_attachment=True, download_name=f"{filename}.{fmt}", max_age=0
    )
    response.headers["Cache-Control"] = "no-store"  # personal data: not kept by a proxy or the browser
    return response
