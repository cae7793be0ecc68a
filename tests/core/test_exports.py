"""CSV and XLSX exports: read back with the csv module and openpyxl, formulas neutralised."""

import csv
import io
from datetime import UTC, date, datetime, timezone
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from crm.platform.exports import (
    ExportTable,
    Percent,
    column_widths,
    export_response,
    neutralise,
    to_csv,
    to_xlsx,
)

DANGEROUS = ['=HYPERLINK("http://evil","clic")', "+33 5 61 00 00 00", "-2+3", "@SUM(A1)", "\tcmd", "\rx"]


def table():
    rows = [
        [f"Nom {i}", value, 3, date(2024, 3, 14), datetime(2024, 3, 14, 9, 30, tzinfo=UTC), True]
        for i, value in enumerate(DANGEROUS)
    ]
    rows.append(["Éloïse Bénézech", 'Dœuvre ; « guillemets » "x"', None, None, None, False])
    rows.append(["Taux", Decimal("0.375"), 12.5, None, None, None])
    return ExportTable(
        title="Participants – TOP e-santé Gers",
        header=["Nom", "Valeur", "Nombre", "Date", "Heure", "Présent"],
        rows=rows,
        context=[("Période", "du 01/01/2024 au 31/12/2024"), ("Filtre", "=1+1")],
    )


def test_neutralise_only_formula_starts():
    assert [neutralise(v) for v in DANGEROUS] == ["'" + v for v in DANGEROUS]
    assert neutralise("Jean-Pierre") == "Jean-Pierre"
    assert neutralise("") == ""


def test_csv_is_utf8_bom_semicolons_and_reads_back():
    data = to_csv(table())
    assert data.startswith(b"\xef\xbb\xbf")
    lines = list(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))
    assert lines[0] == ["Participants – TOP e-santé Gers"]
    assert lines[1] == ["Période", "du 01/01/2024 au 31/12/2024"]
    assert lines[2] == ["Filtre", "'=1+1"]
    assert lines[3] == []
    assert lines[4] == ["Nom", "Valeur", "Nombre", "Date", "Heure", "Présent"]
    body = lines[5:]
    assert [row[1] for row in body[: len(DANGEROUS)]] == ["'" + v for v in DANGEROUS]
    assert body[0][2:] == ["3", "14/03/2024", "14/03/2024 10:30", "oui"]
    assert body[len(DANGEROUS)] == ["Éloïse Bénézech", 'Dœuvre ; « guillemets » "x"', "", "", "", "non"]
    assert body[-1][:3] == ["Taux", "0,375", "12,5"]


def test_xlsx_reads_back_with_real_dates_numbers_and_no_formula():
    workbook = load_workbook(io.BytesIO(to_xlsx(table())))
    sheet = workbook.active
    assert sheet.title == "Participants – TOP e-santé Gers"[:31]
    values = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert values[0][0] == "Participants – TOP e-santé Gers"
    assert values[2][:2] == ["Filtre", "'=1+1"]
    assert values[4][:6] == ["Nom", "Valeur", "Nombre", "Date", "Heure", "Présent"]
    body = values[5:]
    # XML stores a lone CR as a line feed; what matters is the apostrophe in front.
    assert [row[1] for row in body[: len(DANGEROUS)]] == ["'" + v.replace("\r", "\n") for v in DANGEROUS]
    assert body[0][2] == 3
    assert body[0][3] == datetime(2024, 3, 14)
    assert body[0][4] == datetime(2024, 3, 14, 10, 30)  # shown in Paris time
    assert body[-1][1] == 0.375 and body[-1][2] == 12.5
    for row in sheet.iter_rows():
        for cell in row:
            assert cell.data_type != "f", f"{cell.coordinate} is a formula"


def test_xlsx_drops_control_characters_and_cleans_the_sheet_name():
    data = to_xlsx(ExportTable(title="Bilan [2024]: T1/T2?", header=["a"], rows=[["x\x00\x07y"]]))
    sheet = load_workbook(io.BytesIO(data)).active
    assert sheet.title == "Bilan  2024   T1 T2"
    assert sheet.cell(row=3, column=1).value == "a"
    assert sheet.cell(row=4, column=1).value == "xy"


@pytest.mark.parametrize(
    "fmt, mimetype",
    [("csv", "text/csv; charset=utf-8"), ("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")],
)
def test_export_response_is_an_uncached_attachment(app, fmt, mimetype):
    with app.test_request_context():
        response = export_response(table(), fmt, "participants-top-e-santé")
        response.direct_passthrough = False
        assert response.mimetype + ("; charset=utf-8" if fmt == "csv" else "") == mimetype
        assert "attachment" in response.headers["Content-Disposition"]
        assert f".{fmt}" in response.headers["Content-Disposition"]
        assert response.headers["Cache-Control"] == "no-store"
        assert len(response.get_data()) > 100


def test_xlsx_shows_rates_as_percentages_counts_as_integers_and_dates_as_dates():
    rows = [["Haute-Garonne", Percent(0.0476), 12, Decimal("7"), date(2026, 12, 7)], ["Gers", None, 0, None, None]]
    data = to_xlsx(ExportTable(title="Taux", header=["Département", "Taux", "Structures", "Somme", "Jour"], rows=rows))
    sheet = load_workbook(io.BytesIO(data)).active
    rate, count, total, day = (sheet.cell(row=4, column=c) for c in (2, 3, 4, 5))
    assert rate.value == 0.0476 and rate.number_format == "0.0%"
    assert count.value == 12 and isinstance(count.value, int) and count.number_format == "0"
    assert total.value == 7 and isinstance(total.value, int)
    assert day.value == datetime(2026, 12, 7) and day.number_format == "DD/MM/YYYY"
    # CSV keeps the fraction, as before (read by programs as well as people).
    body = list(csv.reader(io.StringIO(to_csv(ExportTable("T", ["a", "b"], rows)).decode("utf-8-sig")), delimiter=";"))
    assert body[3][:3] == ["Haute-Garonne", "0,0476", "12"]


def test_xlsx_columns_fit_their_content_within_bounds_and_the_header_is_frozen_and_bold():
    long_name = "EHPAD Les Tilleuls de la vallée de l'Ariège"
    rows = [["EHPAD", Percent(0.5), "x" * 500], [long_name, Percent(0.25), "court"]]
    data = to_xlsx(ExportTable("T", ["Structure", "Taux", "Notes"], rows, context=[("Période", "2026"), ("A", "b")]))
    sheet = load_workbook(io.BytesIO(data)).active
    widths = {letter: sheet.column_dimensions[letter].width for letter in "ABC"}
    assert widths["A"] == len(long_name) + 2  # fitted to the longest cell
    assert 8 <= widths["B"] < 13  # a percentage is narrow, but no narrower than the minimum
    assert widths["C"] == 60  # bounded
    header_row = 1 + 2 + 2  # title, two context lines, a blank line
    assert [c.value for c in sheet[header_row]] == ["Structure", "Taux", "Notes"]
    assert all(c.font.b for c in sheet[header_row])
    assert sheet.freeze_panes == f"A{header_row + 1}"


def test_column_widths_without_rows_follow_the_header():
    assert column_widths(["Nom", "Une colonne au long titre"], []) == [8, 27]
