"""The dashboards, the records behind a figure and the exports, as users reach them."""

from __future__ import annotations

import io
import re
from html import unescape

import pytest
from openpyxl import load_workbook

from tests.conftest import login
from tests.indicators.test_maintenance import _scenario
from workflows.dispatch import process_pending


def page(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, response.status_code
    return unescape(response.get_data(as_text=True))


@pytest.fixture
def data(territory):
    _scenario(territory)
    process_pending()
    return territory


def test_manager_dashboard_shows_the_three_indicators_map_heatmap_funnel_trends(client, data):
    login(client, data.manager)
    html = page(client, "/tableau-de-bord?periode=annee&debut=" + data.today.isoformat())
    for text in (
        "Participation aux actions d'information",
        "Taux de transformation",
        "Taux d'engagement",
        "Période précédente",
        "Carte des départements",
        "Engagement par programme et département",
        "Entonnoir des opportunités",
        "Évolution mensuelle",
        "Chiffres du rapport d'activité",
        "Voir les données (tableau)",
    ):
        assert text in html, text
    assert "<svg" in html and "Haute-Garonne" in html
    # Transformation 1 / 2 over the region this year, written the French way.
    assert re.search(r"50\s%", html.replace("\u00a0", " ")) and "1 / 2" in html
    assert "Indicateurs <span data-freshness-text>à jour</span>" in html


def test_department_filter_and_map_choice(client, data):
    login(client, data.manager)
    response = client.get(f"/tableau-de-bord?departement=46&carte=engagement&debut={data.today.isoformat()}")
    assert response.status_code == 200
    html = unescape(response.get_data(as_text=True))
    assert "46 – Lot" in html and 'aria-current="true"' in html


def test_bad_filters_are_a_french_400(client, data):
    login(client, data.manager)
    response = client.get("/tableau-de-bord?periode=personnalise&debut=2026-02-30&departement=ZZ")
    assert response.status_code == 400
    html = unescape(response.get_data(as_text=True))
    assert "cette date n'existe pas" in html and "Département inconnu" in html
    assert client.get("/tableau-de-bord/donnees.json?programme=abc").status_code == 422


def test_clicking_a_rate_lists_the_structures_counted_and_not_reached(client, data):
    login(client, data.manager)
    html = page(client, f"/indicateurs/participation/detail?departement=31&debut={data.today.isoformat()}")
    counted, rest = html.split('id="non-atteintes"')
    assert "EHPAD Les Tilleuls" in counted and "CH de Muret" in rest
    assert "CPTS" not in html  # not ES/ESMS: neither counted nor in the denominator
    html = page(client, f"/indicateurs/transformation/detail?debut={data.today.isoformat()}")
    done, other = html.split('id="autres"')
    assert "ViaTrajectoire" in done and "Téléo" in other and "Téléo" not in done
    assert "choisissez un programme" in page(client, "/indicateurs/engagement/detail")


@pytest.mark.parametrize(
    "name",
    [
        "participation",
        "transformation",
        "engagement",
        "carte",
        "engagement-programmes-departements",
        "entonnoir",
        "evolution",
        "rapport",
    ],
)
def test_every_table_exports_with_its_period(client, data, name):
    login(client, data.manager)
    response = client.get(f"/indicateurs/export/{name}.xlsx?periode=annee&departement=31&par=department")
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.data)).active
    text = " ".join(str(c.value) for row in sheet.iter_rows() for c in row if c.value is not None)
    assert "Période" in text and str(data.today.year) in text and "Haute-Garonne" in text
    rates = [c for row in sheet.iter_rows() for c in row if isinstance(c.value, float) and c.number_format == "0.0%"]
    if name not in ("entonnoir",):
        assert rates, "the rates are numbers shown as percentages"
    assert all(0 <= c.value <= 1 for c in rates)
    assert sheet.freeze_panes and all(c.font.b for c in sheet[int(sheet.freeze_panes[1:]) - 1] if c.value)
    csv = client.get(f"/indicateurs/export/{name}.csv?departement=31").get_data(as_text=True)
    assert "Période" in csv
    assert client.get(f"/indicateurs/export/{name}.pdf").status_code == 404


def test_animator_dashboard_and_roles(client, data, make_user):
    login(client, data.animator)
    html = page(client, "/mon-tableau-de-bord")
    assert "Mes départements" in html and "Mon pipeline" in html and "Mes relances" in html
    assert "31 – Haute-Garonne" in html
    manager = login(client.application.test_client(), data.manager)
    assert manager.get("/mon-tableau-de-bord").status_code == 403


def test_figures_json_moves_after_an_activity(client, data):
    from crm.activities.services import log_activity

    login(client, data.manager)
    before = client.get("/tableau-de-bord/donnees.json?departement=31").get_json()
    assert before["figures"]["participation"]["numerator"] == 1
    log_activity({"kind": "visite", "structure_ids": [data.ch.id], "is_information": True}, user=data.animator)
    pending = client.get("/tableau-de-bord/donnees.json?departement=31").get_json()
    assert pending["freshness"]["pending_events"] == 1 and pending["freshness"]["text"].startswith("mis à jour il y a")
    process_pending()
    after = client.get("/tableau-de-bord/donnees.json?departement=31").get_json()
    assert after["figures"]["participation"]["numerator"] == 2 and after["freshness"]["text"] == "à jour"


def test_heatmap_links_only_cells_with_structures_behind_and_shows_its_legend(client, data):
    login(client, data.manager)
    html = page(client, "/tableau-de-bord")
    table = html[html.index('<table class="table compact heatmap">') : html.index("</table>", html.index("heatmap"))]
    cells = re.findall(r"<td class=\"([^\"]*)\">(.*?)</td>", table, re.S)
    assert cells
    linked = [(cls, body) for cls, body in cells if "<a " in body]
    assert linked, "the engaged cells lead to their structures"
    for cls, body in cells:
        rate = re.sub(r"<[^>]+>", "", body).split("(")[0].strip()
        if rate in ("0\u00a0%", "—pas de données", "") or "heat-empty" in cls:
            assert "<a " not in body, (cls, body)  # nothing behind: plain text, no link
    assert all("heat-empty" not in cls for cls, _ in linked)
    assert "Légende des couleurs de l'engagement" in html and 'class="heat-legend"' in html
    assert 'role="region"' in html and "Ensemble" in table


def test_report_counts_agree_with_their_noun(client, data):
    login(client, data.manager)
    html = page(client, "/tableau-de-bord")
    assert re.search(r"Webinaires</dt><dd>\d+ \((\d+) participants?\)", html)
    assert not re.search(r"\((0|1) participants\)", html)
