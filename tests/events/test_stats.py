"""Per event figures and the series comparison, computed by crm.indicators.events."""

import pytest
from sqlalchemy import select

from crm.events.followup.survey_models import SurveyResponse
from crm.indicators.events import event_figures, series_figures
from crm.platform.extensions import db
from crm.referential.models import Sector
from tests.events.factories import add_registration, make_event, make_series


def answer(registration, useful, score):
    db.session.add(
        SurveyResponse(registration_id=registration.id, event_id=registration.event_id, useful=useful, score=score)
    )
    db.session.commit()


@pytest.fixture
def structures(make_structure):
    medico = db.session.scalar(select(Sector).where(Sector.code == "medico_social"))
    sanitaire = db.session.scalar(select(Sector).where(Sector.code == "sanitaire"))
    return {
        "ehpad": make_structure(name="EHPAD Les Tilleuls", department_code="31", sector_id=medico.id),
        "ch": make_structure(name="CH d'Auch", department_code="32", sector_id=sanitaire.id),
    }


def test_counts_no_show_rate_breakdowns_and_satisfaction(structures):
    event = make_event()
    present = [
        add_registration(event, f"p{i}@ehpad.fr", status="present", structure=structures["ehpad"]) for i in range(3)
    ]
    present.append(add_registration(event, "ch@ch-auch.fr", status="present", structure=structures["ch"]))
    present.append(
        add_registration(event, "libre@x.fr", status="present", structure_name="Cabinet libre", department_code="09")
    )
    add_registration(event, "absent@x.fr", status="absent")
    add_registration(event, "excuse@x.fr", status="excuse")
    add_registration(event, "attente@x.fr", status="attente")
    add_registration(event, "annule@x.fr", status="annule")
    answer(present[0], True, 5)
    answer(present[1], True, 4)
    answer(present[2], False, 2)
    figures = event_figures([event.id])[event.id]
    assert figures.counts == {"inscrit": 0, "attente": 1, "annule": 1, "present": 5, "absent": 1, "excuse": 1}
    assert figures.registered == 7
    assert figures.no_show_rate == pytest.approx(1 / 6)
    assert figures.structures_reached == 2
    assert (figures.answers, figures.useful) == (3, 2)
    assert figures.useful_rate == pytest.approx(2 / 3)
    assert figures.mean_score == pytest.approx(11 / 3)
    assert figures.by_department == [("31 – Haute-Garonne", 3), ("09 – Ariège", 1), ("32 – Gers", 1)]
    assert figures.by_sector == [
        ("Médico-social (ESMS)", 3),
        ("Sanitaire (ES)", 1),
        ("Structure non rattachée ou sans secteur", 1),
    ]


def test_an_event_without_data_has_no_rates_not_zero():
    event = make_event(days_ago=-10)
    add_registration(event, "a@x.fr", status="inscrit", department_code="31")
    figures = event_figures([event.id])[event.id]
    assert figures.no_show_rate is None and figures.useful_rate is None and figures.mean_score is None
    assert figures.answer_rate is None
    # Before the day, the breakdown shows who registered.
    assert figures.by_department == [("31 – Haute-Garonne", 1)]


def test_series_compares_days_and_counts_a_structure_once(structures):
    series = make_series()
    gers = make_event(title="TOP e-santé Gers", department_code="32", series=series, days_ago=20)
    tarn = make_event(title="TOP e-santé Tarn", department_code="81", series=series, days_ago=10)
    make_event(title="Hors série")
    answer(add_registration(gers, "a@ch.fr", status="present", structure=structures["ch"]), True, 5)
    add_registration(gers, "b@ehpad.fr", status="absent", structure=structures["ehpad"])
    answer(add_registration(tarn, "c@ch.fr", status="present", structure=structures["ch"]), False, 3)
    add_registration(tarn, "d@ehpad.fr", status="present", structure=structures["ehpad"])
    events, figures, total = series_figures(series.id)
    assert [e.title for e in events] == ["TOP e-santé Gers", "TOP e-santé Tarn"]
    assert figures[gers.id].structures_reached == 1 and figures[tarn.id].structures_reached == 2
    assert total.structures_reached == 2
    assert total.registered == 4 and total.counts["present"] == 3
    assert total.mean_score == pytest.approx(4.0) and total.useful_rate == pytest.approx(0.5)


@pytest.mark.parametrize("role", ["animateur", "organisateur", "manager", "admin"])
def test_event_figures_page_in_french(client, login_as, structures, role):
    event = make_event()
    for i in range(3):
        answer(add_registration(event, f"p{i}@ehpad.fr", status="present", structure=structures["ehpad"]), i != 2, 4)
    add_registration(event, "absent@x.fr", status="absent")
    login_as(role)
    html = client.get(f"/evenements/{event.id}/bilan").get_data(as_text=True)
    assert 'data-figure="registered">4<' in html and 'data-figure="present">3<' in html
    assert 'data-figure="no-show">25,0\u00a0% <small>(1 sur 4)' in html
    assert 'data-figure="useful">67\u00a0%' in html
    assert 'data-figure="score">4,0 / 5' in html
    assert "31 – Haute-Garonne" in html and "Médico-social (ESMS)" in html
    assert ("Importer le rapport de présence" in html) == (role in ("organisateur", "admin"))


def test_figures_without_data_say_so(client, login_as):
    event = make_event(days_ago=-5)
    login_as("manager")
    html = client.get(f"/evenements/{event.id}/bilan").get_data(as_text=True)
    assert 'data-figure="no-show">pas de données' in html
    assert "Pas de données : aucune réponse" in html
    assert client.get("/evenements/999999/bilan").status_code == 404


def test_series_page_side_by_side(client, login_as, structures):
    series = make_series("TOP e-santé 2024")
    gers = make_event(title="TOP e-santé Gers", department_code="32", series=series, days_ago=20)
    tarn = make_event(title="TOP e-santé Tarn", department_code="81", series=series, days_ago=10)
    answer(add_registration(gers, "a@ch.fr", status="present", structure=structures["ch"]), True, 5)
    add_registration(tarn, "b@ch.fr", status="present", structure=structures["ch"])
    login_as("manager")
    response = client.get(f"/evenements/series/{series.id}")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert html.index("Gers") < html.index("Tarn")
    row = html[html.index("Structures touchées") :].split("</tr>")[0]
    assert row.count("<td>1</td>") == 3  # one each day, and the same one overall
    assert "pas de données" in html[html.index("Jugé utile") :].split("</tr>")[0]
    assert client.get("/evenements/series/999999").status_code == 404


def test_figure_pages_need_an_account(client):
    event = make_event()
    assert client.get(f"/evenements/{event.id}/bilan").status_code == 302
    assert client.get(f"/evenements/series/{make_series().id}").status_code == 302


@pytest.mark.parametrize("role, organiser", [("manager", False), ("animateur", False), ("organisateur", True)])
def test_the_event_page_shows_the_figures_and_the_follow_up(client, login_as, structures, role, organiser):
    series = make_series("TOP e-santé 2024")
    event = make_event(series=series)
    answer(add_registration(event, "a@ch.fr", status="present", structure=structures["ch"]), True, 5)
    add_registration(event, "b@x.fr", status="absent")
    login_as(role)
    html = client.get(f"/evenements/{event.id}").get_data(as_text=True)
    assert "Bilan de l'événement" in html
    assert 'data-figure="no-show">50,0\u00a0%' in html and 'data-figure="score">5,0 / 5' in html
    assert 'data-figure="registered"' not in html  # the page's own card has the status counts
    assert f"/evenements/series/{series.id}" in html
    assert (f"/evenements/{event.id}/presences/import" in html) == organiser
    assert ("Envoyer l'enquête de satisfaction" in html) == organiser
    assert ("/evenements/rapprochement?evenement=" in html) == (role != "manager")
