"""The targets where the figures are: the manager's tiles and report, the animator's departments, the exports."""

from __future__ import annotations

import io
from html import unescape

from openpyxl import load_workbook

from crm.platform.dates import local_today
from crm.targets import services
from tests.conftest import login
from tests.indicators.conftest import territory  # noqa: F401  (the fixture)
from tests.indicators.test_maintenance import _scenario
from workflows.dispatch import process_pending


def _page(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, response.status_code
    return unescape(response.get_data(as_text=True))


def _set(user, values: dict):
    year = local_today().year
    for (indicator, department), value in values.items():
        data = {"indicator": indicator, "year": year, "department": department, "value": value}
        services.save_target(data, user=user)


def test_the_manager_sees_value_target_gap_and_a_reading_in_words(client, territory):  # noqa: F811
    t = territory
    _scenario(t)
    process_pending()
    year = local_today().year
    _set(t.manager, {("participation", None): "100", ("territorial_events", None): "0", ("webinars", None): "500"})
    login(client, t.manager)
    html = _page(client, f"/tableau-de-bord?periode=annee&debut={year}-01-01")
    assert f"Cible {year} : " in html and "100\u00a0%" in html
    assert "écart : −" in html
    assert "En retard sur la cible" in html  # participation is below 100 %
    assert 'aria-hidden="true">⚠</span>' in html  # an icon beside the words, not colour alone
    assert "Pas de cible" in html  # transformation and engagement have none
    assert "cible 500" in html and "Cible atteinte" in html  # webinars behind; territorial events reached (0)
    assert f"/cibles?annee={year}" in html


def test_the_animator_sees_their_departments_against_their_targets(client, territory):  # noqa: F811
    t = territory
    _scenario(t)
    process_pending()
    year = local_today().year
    _set(t.manager, {("participation", "31"): "20", ("transformation", "31"): "90"})
    login(client, t.animator)
    html = _page(client, f"/mon-tableau-de-bord?periode=annee&debut={year}-01-01")
    assert f"Mes départements face aux cibles {year}" in html
    assert "cible 20\u00a0%" in html and "cible 90\u00a0%" in html
    assert "En bonne voie" in html and "En retard sur la cible" in html


def test_indicator_exports_carry_target_and_gap(client, territory):  # noqa: F811
    t = territory
    _scenario(t)
    process_pending()
    year = local_today().year
    _set(t.manager, {("participation", None): "50", ("participation", "31"): "40", ("webinars", None): "12"})
    login(client, t.manager)
    query = f"periode=annee&debut={year}-01-01"
    csv = client.get(f"/indicateurs/export/participation.csv?{query}").get_data(as_text=True)
    assert "Taux;Cible (%);Écart (points);Lecture" in csv
    assert ";50;" in csv
    by_department = client.get(f"/indicateurs/export/participation.xlsx?{query}&par=department").data
    rows = [[c.value for c in row] for row in load_workbook(io.BytesIO(by_department)).active.iter_rows()]
    header = next(i for i, row in enumerate(rows) if row and row[0] == "Clé")
    by_key = {row[0]: row for row in rows[header + 1 :]}
    assert by_key["31"][5] == 40 and by_key["46"][5] is None
    assert by_key["31"][6] == round(by_key["31"][4] * 100 - 40, 2)
    report = client.get(f"/indicateurs/export/rapport.csv?{query}").get_data(as_text=True)
    assert "Chiffre;Valeur;Sur;Part;Cible;Écart;Lecture" in report
    assert "Webinaires;" in report and ";12;" in report


def test_the_map_shows_the_gap_to_the_target_and_the_heatmap_marks_its_cells(client, territory):  # noqa: F811
    from sqlalchemy import select

    from crm.platform.extensions import db
    from crm.referential.models import Programme

    t = territory
    _scenario(t)
    process_pending()
    year = local_today().year
    orientation = db.session.scalar(select(Programme.id).where(Programme.code == "ORIENTATION"))
    _set(t.manager, {("participation", "31"): "20", ("participation", "46"): "100"})
    services.save_target(
        {"indicator": "engagement", "year": year, "department": "31", "programme_id": orientation, "value": "90"},
        user=t.manager,
    )
    login(client, t.manager)
    query = f"/tableau-de-bord?periode=annee&debut={year}-01-01&carte=participation"
    html = _page(client, query)
    assert "Écart à la cible</a>" in html and "Cible</th>" in html
    gap = _page(client, query + "&ecart=1")
    assert "écart à la cible par département" in gap
    assert "+30\u00a0pt" in gap  # Haute-Garonne: 50 % against 20 %
    assert "Écart = taux − cible du département" in gap
    assert "cible 90\u00a0%, En retard sur la cible" in gap  # the heatmap's cell, for screen readers too
