"""Tables exported as CSV (for French Excel) or XLSX: participants of an event, indicator tables...

One :class:`ExportTable` (title, lines saying the period and the filters, a header, rows) is written
by :func:`to_csv` or :func:`to_xlsx`. Text cells that a spreadsheet would read as a formula
(starting with = + - @, a tab or a carriage return) are prefixed with an apostrophe: a registrant
who types ``=HYPERLINK(...)`` as their name must not run anything on the organiser's computer.

In XLSX every cell keeps its type: a share wrapped in :class:`Percent` is a number shown "4,8 %"
(format ``0.0%``), counts are integers, dates are dates; the columns are as wide as their content
(bounded) and the header row stays in view (frozen panes). CSV writes a share as the fraction
("0,0476"), as it always did: the file is read by programs as much as by people.
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
PERCENT_FORMAT = "0.0%"
INTEGER_FORMAT = "0"
DATE_FORMAT = "DD/MM/YYYY"
DATETIME_FORMAT = "DD/MM/YYYY HH:MM"
# Column widths in characters: never narrower than a date, never wider than a laptop's half screen;
# measured on the first rows only (a participants list of thousands needs no more to be fitted).
MIN_WIDTH, MAX_WIDTH, WIDTH_SAMPLE = 8, 60, 2000


class Percent(float):
    """A share (0.0476) that a spreadsheet shows as a percentage (4,8 %); a float everywhere else."""


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
        return value.astimezone(PARIS).replace(tzinfo=None), DATETIME_FORMAT
    if isinstance(value, date):
        return value, DATE_FORMAT
    if isinstance(value, Percent):
        return float(value), PERCENT_FORMAT
    if isinstance(value, int):
        return value, INTEGER_FORMAT
    if isinstance(value, Decimal):
        # PostgreSQL sums come back as Decimal: a whole one is a count.
        return (int(value), INTEGER_FORMAT) if value == value.to_integral_value() else (float(value), None)
    if isinstance(value, float):
        return value, None
    text = ILLEGAL_CHARACTERS_RE.sub("", neutralise(str(value)))
    return text[:EXCEL_MAX_TEXT], None


def _sheet_title(title: str) -> str:
    return (re.sub(r"[\[\]:*?/\\']", " ", title).strip() or "Export")[:31]


def _width(value: Any) -> int:
    """About how many characters the cell shows."""
    if value is None:
        return 0
    if isinstance(value, datetime):
        return 16
    if isinstance(value, date):
        return 10
    if isinstance(value, Percent):
        return 7
    if isinstance(value, float):
        return len(f"{value:.2f}")
    text = str(value)
    return max((len(line) for line in text.splitlines()), default=0)


def column_widths(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[int]:
    """Each column's width in characters: its longest header or cell (of the first rows), bounded."""
    widths = [_width(h) for h in header]
    for row in rows[:WIDTH_SAMPLE]:
        for index, value in enumerate(row):
            if index >= len(widths):
                widths.append(0)
            widths[index] = max(widths[index], _width(value))
    return [max(MIN_WIDTH, min(MAX_WIDTH, width + 2)) for width in widths]


def to_xlsx(table: ExportTable) -> bytes:
    """One sheet: the title and context lines, a blank line, the bold header (frozen), then the rows."""
    rows = [list(row) for row in table.rows]
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

    # A write-only sheet takes its widths and panes before its first row.
    for index, width in enumerate(column_widths(table.header, rows)):
        sheet.column_dimensions[get_column_letter(index + 1)].width = width
    header_row = 1 + len(table.context) + 2
    sheet.freeze_panes = f"A{header_row + 1}"
    sheet.append(cells([table.title], font=bold))
    for label, value in table.context:
        sheet.append(cells([label, value]))
    sheet.append([])
    sheet.append(cells(table.header, font=bold))
    for row in rows:
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
