"""Participants of an event exported as CSV and XLSX: read back, formulas neutralised, roles."""

import csv
import io

import pytest
from openpyxl import load_workbook

from tests.events.factories import add_registration, make_event


@pytest.fixture
def event(make_structure):
    structure = make_structure(name="EHPAD Les Tilleuls", finess_et=None)
    event = make_event(title="TOP e-santé Gers")
    add_registration(
        event,
        "helene@ehpad.fr",
        first_name="Hélène",
        last_name="Méric",
        status="present",
        structure=structure,
        function="IDEC",
    )
    add_registration(
        event,
        "evil@x.fr",
        first_name='=HYPERLINK("http://evil")',
        last_name="+Attaque",
        structure_name="@SUM(1)",
        department_code="32",
        function="-2+3",
        status="absent",
    )
    return event


def test_csv_export(client, login_as, event):
    login_as("organisateur")
    response = client.get(f"/evenements/{event.id}/participants.csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv" and "attachment" in response.headers["Content-Disposition"]
    lines = list(csv.reader(io.StringIO(response.get_data().decode("utf-8-sig")), delimiter=";"))
    assert lines[0] == ["Participants – TOP e-santé Gers"]
    header_at = next(i for i, line in enumerate(lines) if line and line[0] == "Nom")
    rows = {line[2]: line for line in lines[header_at + 1 :]}
    evil = rows["evil@x.fr"]
    assert evil[:5] == ["'+Attaque", '\'=HYPERLINK("http://evil")', "evil@x.fr", "'-2+3", "'@SUM(1)"]
    assert rows["helene@ehpad.fr"][:5] == ["Méric", "Hélène", "helene@ehpad.fr", "IDEC", "EHPAD Les Tilleuls"]
    assert rows["helene@ehpad.fr"][8] == "Présent"


def test_xlsx_export_of_present_only(client, login_as, event):
    login_as("admin")
    response = client.get(f"/evenements/{event.id}/participants.xlsx?statut=present")
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.get_data())).active
    values = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert ["Statut", "Présent"] in [v[:2] for v in values]
    emails = [v[2] for v in values if v and v[0] not in (None, "Nom") and len(v) > 2 and v[2] and "@" in str(v[2])]
    assert emails == ["helene@ehpad.fr"]
    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)


def test_bad_format_or_status_is_404(client, login_as, event):
    login_as("organisateur")
    assert client.get(f"/evenements/{event.id}/participants.pdf").status_code == 404
    assert client.get(f"/evenements/{event.id}/participants.csv?statut=drop").status_code == 404
    assert client.get("/evenements/999999/participants.csv").status_code == 404


@pytest.mark.parametrize("role, status", [("animateur", 403), ("manager", 403), ("organisateur", 200), ("admin", 200)])
def test_roles(client, login_as, event, role, status):
    login_as(role)
    assert client.get(f"/evenements/{event.id}/participants.xlsx").status_code == status


def test_anonymous(client, event):
    assert client.get(f"/evenements/{event.id}/participants.csv").status_code == 302
