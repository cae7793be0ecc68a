"""The indicator API for BI tools: the figures the pages read, named keys, no data as null, freshness, refusals.

Every answer goes through ``ApiClient``, which checks it against the OpenAPI document.
"""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from crm.indicators.periods import parse_period
from crm.indicators.queries import (
    ENGAGEMENT_GROUPS,
    PARTICIPATION_GROUPS,
    TRANSFORMATION_GROUPS,
    Scope,
    engagement,
    information_participation,
    transformation_rate,
)
from crm.platform.dates import local_today
from crm.platform.extensions import db
from crm.referential.models import Programme
from tests.indicators.conftest import offer, territory  # noqa: F401  (the fixture)
from tests.indicators.test_event_figures import events  # noqa: F401  (the fixture)
from tests.indicators.test_maintenance import _scenario
from workflows.dispatch import process_pending

BASE = "/api/v1/indicators/"
PATHS = {
    "transformation-rate": TRANSFORMATION_GROUPS,
    "information-participation": PARTICIPATION_GROUPS,
    "engagement": ENGAGEMENT_GROUPS,
}
ROLES = ("animateur", "organisateur", "manager", "admin")


@pytest.fixture
def scenario(territory):  # noqa: F811
    _scenario(territory)
    process_pending()
    return territory


def _range(t) -> str:
    return f"start={t.yesterday.isoformat()}&end={t.today.isoformat()}"


def _rows(api, path, query="") -> list[dict]:
    response = api.get(BASE + path + ("?" + query if query else ""))
    assert response.status_code == 200, response.get_json()
    return response.get_json()["rows"]


def test_the_three_rates_with_their_counts(api_as, scenario):
    t = scenario
    api = api_as("manager")
    [row] = _rows(api, "information-participation", _range(t))
    assert (row["key"], row["label"], row["numerator"], row["denominator"]) == ({}, "Ensemble", 2, 3)
    assert row["rate"] == pytest.approx(2 / 3)
    [row] = _rows(api, "transformation-rate", _range(t))
    assert (row["numerator"], row["denominator"], row["rate"]) == (1, 2, 0.5)
    orientation = db.session.scalar(select(Programme.id).where(Programme.code == "ORIENTATION"))
    rows = {tuple(r["key"].items()): r for r in _rows(api, "engagement", _range(t))}
    assert (rows[(("programme", orientation),)]["numerator"], rows[(("programme", orientation),)]["denominator"]) == (
        1,
        3,
    )
    by_department = {
        r["key"]["department"]: r for r in _rows(api, "information-participation", _range(t) + "&group_by=department")
    }
    assert (by_department["31"]["numerator"], by_department["31"]["denominator"]) == (1, 2)
    assert by_department["46"]["rate"] == 1.0
    [ariege] = _rows(api, "information-participation", _range(t) + "&department=09")  # no structure there
    assert (ariege["numerator"], ariege["denominator"], ariege["rate"]) == (0, 0, None)  # no data, never 0 %


@pytest.mark.parametrize("path", list(PATHS))
def test_every_group_by_gives_the_figures_of_the_queries(api_as, scenario, path):
    """Whatever the grouping, the API says what crm.indicators.queries says, with the dimension named."""
    t = scenario
    api = api_as("admin")
    compute = {
        "transformation-rate": transformation_rate,
        "information-participation": information_participation,
        "engagement": engagement,
    }[path]
    scope = Scope(
        parse_period("personnalise", t.yesterday.isoformat(), t.today.isoformat()),
        ("09", "11", "12", "30", "31", "32", "34", "46", "48", "65", "66", "81", "82"),
    )
    for group_by in (None, *PATHS[path]):
        body = api.get(BASE + path + "?" + _range(t) + (f"&group_by={group_by}" if group_by else "")).get_json()
        assert body["group_by"] == group_by and body["indicator"] == path
        expected = [(f.numerator, f.denominator, f.rate, f.label) for f in compute(scope, group_by)]
        assert [(r["numerator"], r["denominator"], r["rate"], r["label"]) for r in body["rows"]] == expected
        for row in body["rows"]:
            names = set(row["key"])
            if path == "engagement":
                assert names == {"programme"} | ({group_by} if group_by in ("department", "sector") else set())
            else:
                assert names == ({group_by} if group_by else set())


def test_filters_are_applied_and_echoed(api_as, scenario):
    t = scenario
    api = api_as("animateur", ["46"])
    body = api.get(
        BASE + "transformation-rate?" + _range(t) + f"&department=31&animator={t.animator.id}"
        f"&offer={offer('VT_GRAND_AGE').id}&sector=medico_social"
    ).get_json()
    assert body["filters"] == {
        "department": "31",
        "departments": ["31"],
        "programme": None,
        "offer": offer("VT_GRAND_AGE").id,
        "animator": t.animator.id,
        "sector": "medico_social",
    }
    assert [(r["numerator"], r["denominator"]) for r in body["rows"]] == [(1, 1)]  # the EHPAD's won opportunity
    body = api.get(BASE + "transformation-rate?" + _range(t) + "&department=2a").get_json()
    assert body["filters"]["departments"] == ["2A"] and body["rows"][0]["rate"] is None
    mine = _rows(api, "transformation-rate", _range(t) + f"&animator={t.animator_46.id}")
    assert mine == [
        {
            "key": {},
            "label": "Ensemble",
            "numerator": 0,
            "denominator": 0,
            "rate": None,
            "target": None,  # an animator's figures have no target of their own
            "gap": None,
            "target_status": None,
        }
    ]


def test_none_values_are_null_in_the_keys(api_as, scenario):
    """The cells say "no programme" with 0 and "no sector" with "": the API says null."""
    t = scenario
    rows = _rows(api_as("manager"), "information-participation", _range(t) + "&group_by=programme")
    assert {"programme": None} in [r["key"] for r in rows]
    assert next(r for r in rows if r["key"] == {"programme": None})["label"] == "Sans programme"


def test_the_period_defaults_to_the_current_year(api_as, scenario):
    api = api_as("manager")
    this_year = local_today().year
    body = api.get(BASE + "engagement").get_json()
    assert body["period"] == {"start": f"{this_year}-01-01", "end": f"{this_year}-12-31"}
    assert api.get(BASE + "engagement?end=2024-06-30").get_json()["period"] == {
        "start": "2024-01-01",
        "end": "2024-06-30",
    }
    assert api.get(BASE + "engagement?start=2025-03-01").get_json()["period"] == {
        "start": "2025-03-01",
        "end": local_today().isoformat(),
    }


def test_freshness_says_how_many_events_wait(api_as, territory):  # noqa: F811
    _scenario(territory)
    api = api_as("manager")
    waiting = api.get(BASE + "transformation-rate").get_json()["freshness"]
    assert waiting["pending_events"] > 0 and waiting["oldest_pending_at"] is not None
    assert waiting["age_seconds"] >= 0
    process_pending()
    fresh = api.get(BASE + "transformation-rate").get_json()["freshness"]
    assert fresh == {"oldest_pending_at": None, "age_seconds": 0.0, "pending_events": 0}


def test_report_figures(api_as, scenario):
    from crm.events.followup.survey_models import SurveyResponse
    from crm.indicators.readmodel.rebuild import rebuild
    from tests.events.factories import add_registration, make_event

    t = scenario
    webinar = make_event(title="Webinaire Mon espace santé", days_ago=1)  # rows written directly: rebuilt below
    came = [add_registration(webinar, f"p{i}@ehpad.fr", status="present", structure=t.ehpad) for i in range(2)]
    add_registration(webinar, "absent@ch.fr", status="absent", structure=t.ch)
    db.session.add(SurveyResponse(registration_id=came[0].id, event_id=webinar.id, useful=True, score=5))
    db.session.add(SurveyResponse(registration_id=came[1].id, event_id=webinar.id, useful=False, score=2))
    db.session.commit()
    rebuild()
    body = api_as("organisateur").get(BASE + "report?" + _range(t)).get_json()
    figures = body["figures"]
    assert figures["structures_accompanied"] == 2
    assert (figures["medico_social"]["numerator"], figures["medico_social"]["denominator"]) == (1, 2)
    assert (figures["other_offers"]["numerator"], figures["other_offers"]["denominator"]) == (2, 3)
    assert (figures["webinars"], figures["webinar_participants"], figures["territorial_events"]) == (1, 2, 0)
    assert figures["webinar_useful"] == {
        "label": "Participants ayant trouvé le webinaire utile",
        "numerator": 1,
        "denominator": 2,
        "rate": 0.5,
    }
    nothing = api_as("manager").get(BASE + "report?start=2020-01-01&end=2020-12-31").get_json()["figures"]
    assert nothing["webinar_useful"]["rate"] is None and nothing["other_offers"]["rate"] is None


@pytest.mark.parametrize(
    "path, query, fields",
    [
        ("engagement", "group_by=month", {"group_by"}),
        ("information-participation", "group_by=offer", {"group_by"}),
        ("transformation-rate", "group_by=structure", {"group_by"}),
        ("transformation-rate", "department=99", {"department"}),
        (
            "transformation-rate",
            "department=ZZ&programme=999999&offer=999999&animator=999999&sector=inconnu&group_by=x",
            {"department", "programme", "offer", "animator", "sector", "group_by"},
        ),
        ("engagement", "start=2026-05-01&end=2026-04-01", {"end"}),
        ("engagement", "start=2010-01-01&end=2026-01-01", {"end"}),
        ("report", "start=2099-01-01", {"start"}),
        ("report", "department=99", {"department"}),
        ("report", "event_type=inconnu&department=99", {"event_type", "department"}),
    ],
)
def test_refused_values_are_422_with_a_french_message_per_field(api_as, path, query, fields):
    response = api_as("manager").get(BASE + path + "?" + query)
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert set(error["fields"]) == fields
    assert all(message.endswith(".") and message[0].isupper() for message in error["fields"].values())


@pytest.mark.parametrize(
    "query",
    [
        "start=2024-02-30",
        "end=01/02/2024",
        "programme=abc",
        "animator=-1",
        "offer=1.5",
        "department=" + "3" * 4,
        "sector=" + "x" * 41,
    ],
)
def test_malformed_values_are_400_as_everywhere_in_the_api(api_as, query):
    response = api_as("manager").get(BASE + "transformation-rate?" + query)
    assert response.status_code == 400
    assert response.get_json()["error"]["fields"]


@pytest.mark.parametrize("role", ROLES)
def test_every_role_reads_the_indicators(api_as, role):
    api = api_as(role, ["31"] if role == "animateur" else [])
    for path in (*PATHS, "report"):
        assert api.get(BASE + path).status_code == 200


def test_no_token_no_figures(anonymous):
    for path in (*PATHS, "report"):
        response = anonymous.get(BASE + path)
        assert response.status_code == 401 and response.headers["WWW-Authenticate"].startswith("Bearer")


def test_the_document_describes_the_indicators(openapi_document):
    paths = openapi_document["paths"]
    for path, groups in PATHS.items():
        operation = paths[f"/indicators/{path}"]["get"]
        params = {p["name"]: p for p in operation["parameters"]}
        assert set(params) == {"start", "end", "department", "programme", "offer", "animator", "sector", "group_by"}
        assert params["group_by"]["schema"]["enum"] == list(groups)
        assert {"200", "400", "401", "422"} <= set(operation["responses"])
    assert "group_by" not in {p["name"] for p in paths["/indicators/report"]["get"]["parameters"]}
    assert "event_type" in {p["name"] for p in paths["/indicators/report"]["get"]["parameters"]}
    figures = openapi_document["components"]["schemas"]["ReportResult"]["properties"]["figures"]["properties"]
    assert {"events_by_type", "events_by_programme"} <= set(figures)


def test_report_events_per_type_and_programme_follow_the_filters(api_as, events):  # noqa: F811
    t = events
    api = api_as("manager")
    span = f"start={t.period.start.isoformat()}&end={t.period.end.isoformat()}"
    figures = api.get(BASE + "report?" + span).get_json()["figures"]
    assert (figures["territorial_events"], figures["webinars"], figures["webinar_participants"]) == (2, 1, 3)
    by_type = {row["type"]: row for row in figures["events_by_type"]}
    assert by_type["top_esante"] == {
        "type": "top_esante",
        "label": "TOP e-santé",
        "events": 1,
        "present": 2,
        "answers": 1,
        "useful": 1,
        "useful_share": 1.0,
    }
    assert by_type["atelier"]["useful_share"] is None and by_type["formation"]["events"] == 0
    orientation = offer("VT_GRAND_AGE").programme_id
    by_programme = {row["programme"]: row for row in figures["events_by_programme"]}
    assert (by_programme[orientation]["events"], by_programme[orientation]["present"]) == (1, 3)
    # The programme filter: the same totals no longer (the webinar alone is Orientation's).
    only = api.get(BASE + f"report?{span}&programme={orientation}").get_json()["figures"]
    assert (only["territorial_events"], only["webinars"], only["webinar_participants"]) == (0, 1, 3)
    assert [row["programme"] for row in only["events_by_programme"]] == [orientation]
    typed = api.get(BASE + f"report?{span}&event_type=atelier").get_json()["figures"]
    assert (typed["territorial_events"], typed["webinars"]) == (1, 0)
    assert [row["type"] for row in typed["events_by_type"]] == ["atelier"]
    lot = api.get(BASE + f"report?{span}&department=46").get_json()["figures"]
    assert (lot["territorial_events"], lot["webinars"]) == (1, 0)
    assert (lot["other_offers"]["numerator"], lot["other_offers"]["denominator"]) == (2, 2)
