"""The targets in the API: /api/v1/targets by role, and the indicator rows carrying their target and gap.

Every answer goes through ``ApiClient``, which checks it against the OpenAPI document.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from crm.platform.dates import local_today
from crm.platform.extensions import db
from crm.platform.models import OutboxEvent
from crm.referential.models import Programme
from crm.targets import services
from tests.indicators.conftest import territory  # noqa: F401  (the fixture)
from tests.indicators.test_maintenance import _scenario
from workflows.dispatch import process_pending


@pytest.mark.parametrize("role", ["manager", "admin"])
def test_managers_and_admins_upsert_and_delete_targets(api_as, role):
    api = api_as(role)
    body = {"indicator": "participation", "year": 2026, "department": "31", "value": "37,5"}
    created = api.request("PUT", "/api/v1/targets", json=body)
    assert created.status_code == 201
    target = created.get_json()
    assert (target["value"], target["unit"], target["department"], target["programme_id"]) == (
        37.5,
        "percent",
        "31",
        None,
    )
    again = api.post("/api/v1/targets", json={**body, "value": 40})
    assert again.status_code == 200 and again.get_json()["id"] == target["id"] and again.get_json()["value"] == 40
    assert api.get(f"/api/v1/targets/{target['id']}").get_json()["value"] == 40
    deleted = api.request("DELETE", f"/api/v1/targets/{target['id']}")
    assert deleted.status_code == 200 and deleted.get_json() == {"id": target["id"], "deleted": True}
    assert api.get(f"/api/v1/targets/{target['id']}").status_code == 404
    types = db.session.scalars(
        select(OutboxEvent.type).where(OutboxEvent.aggregate_type == "target").order_by(OutboxEvent.id)
    ).all()
    assert types == ["target.set", "target.set", "target.deleted"]


@pytest.mark.parametrize("role", ["animateur", "organisateur"])
def test_animators_and_organisers_read_only(api_as, role):
    manager = api_as("manager")
    target = manager.post("/api/v1/targets", json={"indicator": "webinars", "year": 2026, "value": 24}).get_json()
    api = api_as(role, ["31"] if role == "animateur" else [])
    listed = api.get("/api/v1/targets?year=2026")
    assert listed.status_code == 200 and [t["id"] for t in listed.get_json()["data"]] == [target["id"]]
    refused = api.request("PUT", "/api/v1/targets", json={"indicator": "webinars", "year": 2026, "value": 30})
    assert refused.status_code == 403 and refused.get_json()["error"]["message"].startswith("Seuls les managers")
    assert api.request("DELETE", f"/api/v1/targets/{target['id']}").status_code == 403
    assert db.session.scalar(select(func.count()).where(OutboxEvent.type == "target.deleted")) == 0


def test_filters_pagination_and_refusals(api_as):
    api = api_as("manager")
    programme = db.session.scalars(select(Programme).order_by(Programme.number)).first()
    for body in (
        {"indicator": "participation", "year": 2025, "value": 35},
        {"indicator": "participation", "year": 2026, "value": 40},
        {"indicator": "participation", "year": 2026, "department": "31", "value": 38},
        {"indicator": "engagement", "year": 2026, "department": "31", "programme_id": programme.id, "value": 20},
        {"indicator": "webinars", "year": 2026, "value": 24},
    ):
        assert api.post("/api/v1/targets", json=body).status_code == 201
    data = api.get("/api/v1/targets?year=2026").get_json()
    assert data["meta"]["total"] == 4
    assert [t["value"] for t in api.get("/api/v1/targets?year=2026&department=31").get_json()["data"]] == [20, 38]
    region = api.get("/api/v1/targets?year=2026&department=region&indicator=participation").get_json()["data"]
    assert [(t["department"], t["value"]) for t in region] == [(None, 40)]
    assert len(api.get(f"/api/v1/targets?programme={programme.id}").get_json()["data"]) == 1
    page = api.get("/api/v1/targets?per_page=2").get_json()
    assert len(page["data"]) == 2 and page["links"]["next"].endswith("page=2")
    assert api.get("/api/v1/targets?indicator=bonheur").status_code == 400
    refused = api.post(
        "/api/v1/targets", json={"indicator": "participation", "year": 2026, "department": "75", "value": 140}
    )
    assert refused.status_code == 422
    assert refused.get_json()["error"]["fields"] == {
        "department": "Département inconnu ou hors de la région.",
        "value": "Un taux est compris entre 0 et 100 %.",
    }
    wrong_type = api.post("/api/v1/targets", json={"indicator": "webinars", "year": "2026", "value": True})
    assert wrong_type.status_code == 422 and set(wrong_type.get_json()["error"]["fields"]) == {"year", "value"}
    assert api.request("DELETE", "/api/v1/targets/999999").status_code == 404


@pytest.fixture
def scenario(territory):  # noqa: F811
    _scenario(territory)
    process_pending()
    return territory


def test_indicator_rows_carry_their_target_and_gap(api_as, scenario):
    t = scenario
    year = local_today().year
    manager = api_as("manager")
    for body in (
        {"indicator": "participation", "year": year, "value": 50},
        {"indicator": "participation", "year": year, "department": "31", "value": 60},
        {"indicator": "territorial_events", "year": year, "value": 10},
    ):
        manager.post("/api/v1/targets", json=body)
    api = api_as("animateur", ["31"])
    start = f"start={year}-01-01&end={year}-12-31"
    [row] = api.get(f"/api/v1/indicators/information-participation?{start}").get_json()["rows"]
    assert row["target"] == 50
    assert row["gap"] == pytest.approx(round(row["rate"] * 100 - 50, 2))
    assert row["target_status"] in ("on_track", "behind")
    rows = api.get(f"/api/v1/indicators/information-participation?{start}&group_by=department").get_json()["rows"]
    by_department = {r["key"]["department"]: r for r in rows}
    assert by_department["31"]["target"] == 60 and by_department["46"]["target"] is None
    assert by_department["46"]["gap"] is None and by_department["46"]["target_status"] is None
    # No target where the row is split by something targets are not set for.
    rows = api.get(f"/api/v1/indicators/information-participation?{start}&group_by=sector").get_json()["rows"]
    assert all(r["target"] is None for r in rows)
    report = api.get(f"/api/v1/indicators/report?{start}").get_json()
    events = {g["indicator"]: g for g in report["targets"]}["territorial_events"]
    assert events["target"] == 10 and events["value"] == report["figures"]["territorial_events"]
    assert events["expected"] is not None and events["gap"] == pytest.approx(events["value"] - events["expected"])
    assert t.manager is not None and services.target_values(year)[("participation", None, None)] == Decimal("50.00")
