"""The yearly pack: its figures are the API's, the XLSX and the PDF read back, the page's roles, the CLI, the notes."""

from __future__ import annotations

import io
import sys
import types
from decimal import Decimal

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader
from sqlalchemy import select

from crm.accounts.services import create_api_token
from crm.indicators.yearly import service
from crm.indicators.yearly.models import ReportNote
from crm.indicators.yearly.notes import notes_for, save_notes
from crm.indicators.yearly.pack import SECTIONS, _targets
from crm.platform.extensions import db
from crm.platform.models import AuditEntry, OutboxEvent
from tests.conftest import login, post
from tests.indicators.conftest import territory  # noqa: F401  (the fixture)
from tests.indicators.test_event_figures import events  # noqa: F401  (the fixture)
from tests.indicators.test_maintenance import _scenario
from workflows.dispatch import process_pending

SHEETS = [
    "Par département",
    "Par programme",
    "Rapport d'activité",
    "Événements par type",
    "Événements par programme",
    "Entonnoir",
    "Accompagnées par secteur",
    "Définitions",
]


@pytest.fixture
def scenario(territory, events):  # noqa: F811
    _scenario(territory)
    process_pending()
    return territory


def _workbook(year, department=None):
    return load_workbook(io.BytesIO(service.render(year, department, "xlsx")))


def _table(ws, first: str) -> list[dict]:
    """The rows under the header row (the one whose first cell is ``first``), as {header: cell}."""
    rows = list(ws.iter_rows())
    start = next(i for i, row in enumerate(rows) if row[0].value == first)
    header = [cell.value for cell in rows[start]]
    return [dict(zip(header, row)) for row in rows[start + 1 :] if row[0].value is not None]


def _api(client, user, path: str, query: str) -> dict:
    token = create_api_token(user)
    db.session.commit()
    response = client.get(f"/api/v1/indicators/{path}?{query}", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return response.get_json()


def test_the_pack_figures_are_the_apis(client, scenario):
    t = scenario
    year = t.today.year
    query = f"start={year}-01-01&end={year}-12-31"
    wb = _workbook(year)
    by_department = _table(wb["Par département"], "Indicateur")
    by_programme = _table(wb["Par programme"], "Indicateur")
    checked = 0
    for path, label in (
        ("information-participation", "Participation aux actions d'information"),
        ("transformation-rate", "Taux de transformation"),
    ):
        rows = _api(client, t.manager, path, query + "&group_by=department")["rows"]
        seen = {row["key"]["department"] for row in rows} | {"Région"}
        for row in rows:
            [cells] = [
                r
                for r in by_department
                if r["Indicateur"].value == label and r["Département"].value.startswith(row["key"]["department"] + " ")
            ]
            assert cells[f"Numérateur {year}"].value == row["numerator"]
            assert cells[f"Dénominateur {year}"].value == row["denominator"]
            assert (
                cells[f"Taux {year}"].value == pytest.approx(row["rate"])
                if row["rate"] is not None
                else (cells[f"Taux {year}"].value is None)
            )
            checked += 1
        [total] = _api(client, t.manager, path, query)["rows"]
        [cells] = [r for r in by_department if r["Indicateur"].value == label and r["Département"].value == "Région"]
        assert (cells[f"Numérateur {year}"].value, cells[f"Dénominateur {year}"].value) == (
            total["numerator"],
            total["denominator"],
        )
        # The API gives the departments that have something to count; the pack every department (0 / 0 else).
        for r in by_department:
            if r["Indicateur"].value == label and r["Département"].value.split(" ")[0] not in seen:
                assert (r[f"Numérateur {year}"].value, r[f"Dénominateur {year}"].value) == (0, 0)
    assert checked >= 3
    engagement = _api(client, t.manager, "engagement", query)["rows"]
    assert engagement
    for row in engagement:
        [cells] = [
            r
            for r in by_programme
            if r["Indicateur"].value == "Taux d'engagement" and r["Programme"].value == row["label"]
        ]
        assert (cells[f"Numérateur {year}"].value, cells[f"Dénominateur {year}"].value) == (
            row["numerator"],
            row["denominator"],
        )
    report = _api(client, t.manager, "report", query)["figures"]
    figures = {r["Chiffre"].value: r for r in _table(wb["Rapport d'activité"], "Chiffre")}
    assert figures["Structures accompagnées"][f"Valeur {year}"].value == report["structures_accompanied"]
    assert figures["dont médico-sociales"][f"Valeur {year}"].value == report["medico_social"]["numerator"]
    assert figures["Offres présentées hors coordination"][f"Sur {year}"].value == report["other_offers"]["denominator"]
    assert figures["Webinaires"][f"Valeur {year}"].value == report["webinars"]
    assert figures["Participants aux webinaires"][f"Valeur {year}"].value == report["webinar_participants"]
    assert figures["Événements territoriaux organisés"][f"Valeur {year}"].value == report["territorial_events"]
    by_type = {r["Type d'événement"].value: r for r in _table(wb["Événements par type"], "Type d'événement")}
    for group in report["events_by_type"]:
        assert by_type[group["label"]][f"Événements {year}"].value == group["events"]
        assert by_type[group["label"]][f"Participants présents {year}"].value == group["present"]
    assert report["webinars"] > 0  # the scenario has events: the comparison is not of zeros


def test_the_department_pack_is_the_apis_for_that_department(client, scenario):
    t = scenario
    year = t.today.year
    wb = _workbook(year, "31")
    rows = _table(wb["Par département"], "Indicateur")
    assert {r["Département"].value for r in rows} == {"31 – Haute-Garonne"}
    [api] = _api(client, t.manager, "information-participation", f"start={year}-01-01&end={year}-12-31&department=31")[
        "rows"
    ]
    [cells] = [r for r in rows if r["Indicateur"].value == "Participation aux actions d'information"]
    assert (cells[f"Numérateur {year}"].value, cells[f"Dénominateur {year}"].value) == (
        api["numerator"],
        api["denominator"],
    )
    assert ("Département", "31 – Haute-Garonne") in [
        (row[0].value, row[1].value) for row in wb["Par département"].iter_rows(max_row=6)
    ]


def test_the_workbook_has_a_sheet_per_section_numbers_as_numbers_and_frozen_headers(scenario):
    year = scenario.today.year
    wb = _workbook(year)
    assert wb.sheetnames == SHEETS
    for name in SHEETS[:-1]:
        ws = wb[name]
        assert ws["A2"].value == "Période" and str(year) in ws["B2"].value
        header_row = next(
            row[0].row
            for row in ws.iter_rows()
            if row[0].value
            and row[0].font.b
            and row[0].row > 2
            and ws.cell(row=row[0].row, column=2).value
            and ws.cell(row=row[0].row, column=2).font.b
        )
        assert ws.freeze_panes in (f"B{header_row + 1}",)
    rows = _table(wb["Par département"], "Indicateur")
    rate = rows[0][f"Taux {year}"]
    assert isinstance(rows[0][f"Numérateur {year}"].value, int)
    assert rate.number_format == "0.0%"
    assert rate.value is None or 0 <= rate.value <= 1
    assert rows[0][f"Évolution depuis {year - 1}"].number_format.startswith("+0.0")
    assert "Cible" not in " ".join(str(c) for c in rows[0])  # no targets on this branch: no target columns
    definitions = [row[0].value for row in wb["Définitions"].iter_rows()]
    assert "Taux de transformation" in definitions and "Participation aux actions d'information" in definitions
    assert wb["Par département"].column_dimensions["B"].width >= 20


def test_the_pdf_reads_back_with_its_headings_pages_and_tags(scenario, app):
    year = scenario.today.year
    data = service.render(year, None, "pdf")
    reader = PdfReader(io.BytesIO(data))
    assert 3 <= len(reader.pages) <= 30
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert app.config["CRM_ORGANISATION_NAME"].replace("–", "-") in text
    assert f"Bilan annuel {year}" in text
    for title in SECTIONS.values():
        assert title in text, title
    assert "Définitions" in text
    assert f"Page 1 / {len(reader.pages)}" in text
    assert reader.metadata.title == f"Bilan annuel {year}"
    root = reader.trailer["/Root"]
    assert root["/Lang"] == "fr-FR"
    assert root["/MarkInfo"]["/Marked"] is True or root["/MarkInfo"]["/Marked"] == True  # noqa: E712
    kinds = set()

    def walk(element):
        element = element.get_object()
        kinds.add(element.get("/S"))
        kids = element.get("/K")
        for kid in kids if isinstance(kids, list) else [kids] if kids is not None else []:
            if hasattr(kid, "get_object") and hasattr(kid.get_object(), "get"):
                walk(kid)

    walk(
        root["/StructTreeRoot"]["/K"][0]
        if isinstance(root["/StructTreeRoot"]["/K"], list)
        else root["/StructTreeRoot"]["/K"]
    )
    assert {"/H1", "/H2", "/Table", "/TR", "/TH", "/TD", "/Figure", "/P"} <= kinds
    assert [o.title for o in reader.outline][:2] == [f"Bilan annuel {year}", SECTIONS["departements"]]


def test_the_cli_writes_the_files_and_refuses_bad_arguments_in_french(app, scenario, tmp_path):
    runner = app.test_cli_runner()
    year = scenario.today.year
    out = tmp_path / "bilan.xlsx"
    result = runner.invoke(
        args=["crm", "report", "yearly", "--year", str(year), "--department", "31", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert load_workbook(out).sheetnames == SHEETS
    pdf = tmp_path / "bilan.pdf"
    result = runner.invoke(args=["crm", "report", "yearly", "--year", str(year), "--out", str(pdf)])
    assert result.exit_code == 0 and PdfReader(pdf).pages
    for args, message in (
        (["--year", "20x6"], "Année attendue sur quatre chiffres"),
        (["--year", "1890"], "Année hors de la plage"),
        (["--year", str(year), "--department", "75"], "Département inconnu ou hors de la région"),
        (["--year", str(year), "--department", "999"], "Département inconnu"),
    ):
        target = tmp_path / "refuse.xlsx"
        result = runner.invoke(args=["crm", "report", "yearly", *args, "--out", str(target)])
        assert result.exit_code != 0 and message in result.output, result.output
        assert not target.exists()
    result = runner.invoke(args=["crm", "report", "yearly", "--year", str(year), "--out", str(tmp_path / "b.docx")])
    assert result.exit_code != 0 and "Extension du fichier inconnue" in result.output
    assert not (tmp_path / "b.docx").exists()
    result = runner.invoke(
        args=["crm", "report", "yearly", "--year", str(year), "--out", str(tmp_path / "no" / "b.pdf")]
    )
    assert result.exit_code != 0 and "n'existe pas" in result.output


@pytest.mark.parametrize("role, status", [("manager", 200), ("admin", 200), ("organisateur", 403)])
def test_the_page_for_each_role(client, make_user, role, status):
    login(client, make_user(role))
    response = client.get("/bilan-annuel?annee=2026")
    assert response.status_code == status
    if status == 200:
        html = response.get_data(as_text=True)
        assert "Bilan annuel 2026" in html and "Commentaires du bilan 2026" in html
        assert client.get("/bilan-annuel/bilan.xlsx?annee=2026").mimetype == service.FORMATS["xlsx"]
        response = client.get("/bilan-annuel/bilan.pdf?annee=2026&departement=31")
        assert response.mimetype == "application/pdf" and response.data.startswith(b"%PDF")
        assert "bilan-annuel-2026-31.pdf" in response.headers["Content-Disposition"]


def test_an_animator_reads_their_departments_only_and_writes_no_note(client, make_user):
    login(client, make_user("animateur", ["46", "81"]))
    html = client.get("/bilan-annuel?annee=2026").get_data(as_text=True)
    assert "Bilan annuel 2026 – 46 – Lot" in html and "Toute la région" not in html
    assert "Commentaires du bilan" not in html
    assert client.get("/bilan-annuel?annee=2026&departement=81").status_code == 200
    refused = client.get("/bilan-annuel?annee=2026&departement=31")
    assert refused.status_code == 400 and "que de vos départements" in refused.get_data(as_text=True)
    assert client.get("/bilan-annuel/bilan.pdf?annee=2026&departement=31").status_code == 400
    assert post(client, "/bilan-annuel/notes", {"annee": "2026", "note-rapport": "x"}).status_code == 403


def test_bad_choices_on_the_page_are_told_in_french(client, make_user):
    login(client, make_user("manager"))
    for query, message in (
        ("annee=abc", "Année attendue sur quatre chiffres"),
        ("annee=2026&departement=75", "Département inconnu ou hors de la région"),
    ):
        response = client.get("/bilan-annuel?" + query)
        assert response.status_code == 400 and message in response.get_data(as_text=True)
    assert client.get("/bilan-annuel/bilan.doc?annee=2026").status_code == 400


def test_notes_are_kept_per_year_and_department_and_audited(client, make_user):
    manager = make_user("manager")
    login(client, manager)
    response = post(
        client,
        "/bilan-annuel/notes",
        {"annee": "2026", "note-rapport": "Année de forte activité.", "note-entonnoir": ""},
    )
    assert response.status_code == 302
    post(client, "/bilan-annuel/notes", {"annee": "2025", "note-rapport": "Année de transition."})
    post(client, "/bilan-annuel/notes", {"annee": "2026", "departement": "31", "note-rapport": "Haute-Garonne."})
    assert notes_for(2026, None) == {"rapport": "Année de forte activité."}
    assert notes_for(2025, None) == {"rapport": "Année de transition."}
    assert notes_for(2026, "31") == {"rapport": "Haute-Garonne."}
    html = client.get("/bilan-annuel?annee=2026").get_data(as_text=True)
    assert "Année de forte activité." in html and "Année de transition." not in html
    events = db.session.scalars(select(OutboxEvent).where(OutboxEvent.type == "report_note.saved")).all()
    assert len(events) == 3 and {e.payload["year"] for e in events} == {2025, 2026}
    assert process_pending().failed == 0  # no consumer needs them yet: they are processed all the same
    assert db.session.scalar(select(AuditEntry).where(AuditEntry.entity_type == "report_note")).user_id == manager.id
    # Saving the same text again changes nothing and writes no event
    save_notes(2026, None, {"rapport": "Année de forte activité."}, SECTIONS, user=manager)
    assert db.session.query(OutboxEvent).filter(OutboxEvent.type == "report_note.saved").count() == 3
    wb = _workbook(2026)
    ws = wb["Rapport d'activité"]
    assert ("Note", "Année de forte activité.") in [(r[0].value, r[1].value) for r in ws.iter_rows(max_row=8)]
    assert "Année de forte activité." in "".join(
        p.extract_text() for p in PdfReader(io.BytesIO(service.render(2026, None, "pdf"))).pages
    )
    refused = post(client, "/bilan-annuel/notes", {"annee": "2026", "note-rapport": "x" * 5001})
    assert refused.status_code == 400 and "trop longue" in refused.get_data(as_text=True)
    assert db.session.scalar(select(ReportNote.text).where(ReportNote.year == 2026, ReportNote.department_code == ""))


def test_no_target_column_without_targets():
    assert _targets(2026, None) == {}


def test_targets_add_target_and_gap_columns(scenario):
    """The targets entered for the year (crm.targets) appear beside each figure with the gap."""
    from crm.targets.services import upsert

    year = scenario.today.year
    for indicator, department, value in (
        ("participation", None, "40"),
        ("participation", "31", "50"),
        ("webinars", None, "12"),
    ):
        values = {"indicator": indicator, "year": year, "department_code": department, "programme_id": None}
        upsert({**values, "value": Decimal(value)}, user_id=None, origin="test")
    db.session.commit()
    wb = _workbook(year)
    rows = _table(wb["Par département"], "Indicateur")
    [region] = [r for r in rows if r["Département"].value == "Région" and r["Indicateur"].value.startswith("Partic")]
    target = region[f"Cible {year}"]
    assert target.value == pytest.approx(0.40) and target.number_format == "0.0%"
    rate = region[f"Taux {year}"].value
    assert region["Écart à la cible"].value == pytest.approx(round((rate - 0.40) * 100, 1))
    [haute_garonne] = [
        r for r in rows if r["Département"].value.startswith("31 ") and r["Indicateur"].value.startswith("Partic")
    ]
    assert haute_garonne[f"Cible {year}"].value == pytest.approx(0.50)
    report = {r["Chiffre"].value: r for r in _table(wb["Rapport d'activité"], "Chiffre")}
    webinars = report["Webinaires"]
    assert webinars[f"Cible {year}"].value == 12 and webinars[f"Cible {year}"].number_format == "#,##0"
    assert webinars["Écart à la cible"].value == webinars[f"Valeur {year}"].value - 12
    assert "Cible et écart" in [row[0].value for row in wb["Définitions"].iter_rows()]
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(service.render(year, None, "pdf"))).pages)
    flat = " ".join(text.split())  # a header wraps within its cell
    assert f"Cible {year}" in flat and "Écart à la cible" in flat and "valeur - cible" in flat
