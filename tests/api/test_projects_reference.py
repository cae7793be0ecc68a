"""API: back-dated opportunities (identified_on) in the transformation cohort, projects started and moved
through the API, and the reference data a client needs to know ids."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from crm.indicators.periods import parse_period
from crm.indicators.queries import Scope, transformation_rate
from crm.indicators.readmodel.check import check
from crm.pipeline.models import Opportunity, Project
from crm.platform.dates import local_today
from crm.platform.extensions import db
from crm.platform.models import AuditEntry, OutboxEvent
from crm.referential.models import Department, Offer, Programme
from workflows.dispatch import process_pending


def count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


# --- identified_on -------------------------------------------------------------------------------------


def test_identified_on_defaults_to_today_and_refuses_the_future(animator_api, make_structure, offer):
    structure = make_structure()
    base = {"structure_id": structure.id, "offer_id": offer.id, "title": "Besoin"}
    today = animator_api.post("/api/v1/opportunities", base).get_json()
    assert today["identified_on"] == local_today().isoformat()
    future = animator_api.post(
        "/api/v1/opportunities", {**base, "identified_on": (local_today() + timedelta(days=1)).isoformat()}
    )
    assert future.status_code == 422 and set(future.get_json()["error"]["fields"]) == {"identified_on"}
    assert "futur" in future.get_json()["error"]["fields"]["identified_on"]
    garbage = animator_api.post("/api/v1/opportunities", {**base, "identified_on": "2024-02-30"})
    assert garbage.status_code == 422
    assert count(Opportunity) == 1


def test_a_back_dated_opportunity_counts_in_the_cohort_of_its_day(animator_api, make_structure, offer):
    """Typed today, identified last month: it is in last month's cohort, not this month's; a won one
    counts as transformed there."""
    structure = make_structure()
    first_of_month = local_today().replace(day=1)
    last_month = (first_of_month - timedelta(days=1)).replace(day=10)
    body = animator_api.post(
        "/api/v1/opportunities",
        {"structure_id": structure.id, "offer_id": offer.id, "title": "DLU", "identified_on": last_month.isoformat()},
    )
    assert body.status_code == 201 and body.get_json()["identified_on"] == last_month.isoformat()
    opportunity_id = body.get_json()["id"]
    for stage in ("qualifiee", "proposee", "gagnee"):
        assert animator_api.patch(f"/api/v1/opportunities/{opportunity_id}", {"stage": stage}).status_code == 200
    process_pending()
    process_pending()  # the won opportunity's project, then its event
    assert check() == []

    def cohort(start: date, end: date):
        [figure] = transformation_rate(Scope(parse_period("personnalise", start.isoformat(), end.isoformat()), ("31",)))
        return figure.numerator, figure.denominator

    month_start = last_month.replace(day=1)
    assert cohort(month_start, first_of_month - timedelta(days=1)) == (1, 1)
    assert cohort(first_of_month, local_today()) == (0, 0)


# --- projects ------------------------------------------------------------------------------------------


def test_start_a_project_then_suspend_end_and_add_milestones(animator_api, make_structure, offer):
    structure = make_structure()
    response = animator_api.post(
        "/api/v1/projects",
        {"structure_id": structure.id, "offer_id": offer.id, "title": "Déploiement", "started_on": "2026-01-05"},
        headers={"Idempotency-Key": "p-1"},
    )
    assert response.status_code == 201, response.get_json()
    project = response.get_json()
    assert (project["status"], project["started_on"], project["opportunity_id"], project["milestones"]) == (
        "en_cours",
        "2026-01-05",
        None,
        [],
    )
    assert response.headers["Location"] == project["url"]
    retry = animator_api.post(
        "/api/v1/projects",
        {"structure_id": structure.id, "offer_id": offer.id, "title": "Déploiement", "started_on": "2026-01-05"},
        headers={"Idempotency-Key": "p-1"},
    )
    assert retry.get_json() == project and count(Project) == 1
    suspended = animator_api.patch(project["url"], {"status": "suspendu", "version": project["version"]})
    assert suspended.status_code == 200 and suspended.get_json()["status"] == "suspendu"
    stale = animator_api.patch(project["url"], {"title": "x", "version": project["version"]})
    assert stale.status_code == 409
    bad = animator_api.patch(project["url"], {"status": "abandonne"})
    assert bad.status_code == 422
    dates = animator_api.patch(project["url"], {"ended_on": "2025-12-01"})
    assert dates.status_code == 422 and "ended_on" in dates.get_json()["error"]["fields"]
    milestone = animator_api.post(project["url"] + "/milestones", {"label": "Formation", "due_on": "2026-03-01"})
    assert milestone.status_code == 201
    milestone_url = f"{project['url']}/milestones/{milestone.get_json()['id']}"
    done = animator_api.patch(milestone_url, {"done": True}).get_json()
    assert done["done_on"] == local_today().isoformat()
    ended = animator_api.patch(project["url"], {"status": "termine"}).get_json()
    assert (ended["status"], ended["ended_on"]) == ("termine", local_today().isoformat())
    assert [m["label"] for m in ended["milestones"]] == ["Formation"]
    types = db.session.scalars(
        select(OutboxEvent.type).where(OutboxEvent.aggregate_type == "project").order_by(OutboxEvent.id)
    ).all()
    assert types == [
        "project.created",
        "project.status_changed",
        "project.milestone_added",
        "project.milestone_done",
        "project.status_changed",
    ]
    assert count(AuditEntry, AuditEntry.entity_type == "project") == 5
    process_pending()
    assert check() == []


@pytest.mark.parametrize(
    "role,departments,status",
    [("animateur", ["34"], 403), ("manager", [], 403), ("organisateur", [], 403), ("admin", [], 201)],
)
def test_who_may_start_and_change_projects(api_as, make_structure, offer, role, departments, status):
    structure = make_structure(department_code="31")
    api = api_as(role, departments)
    response = api.post("/api/v1/projects", {"structure_id": structure.id, "offer_id": offer.id, "title": "P"})
    assert response.status_code == status
    owner = api_as("animateur", ["31"])
    project = owner.post(
        "/api/v1/projects", {"structure_id": structure.id, "offer_id": offer.id, "title": "Q"}
    ).get_json()
    assert api.patch(project["url"], {"status": "suspendu"}).status_code == (200 if status == 201 else 403)
    assert api.post(project["url"] + "/milestones", {"label": "J"}).status_code == status


def test_a_milestone_of_another_project_is_a_404(animator_api, make_structure, offer):
    structure = make_structure()
    one = animator_api.post(
        "/api/v1/projects", {"structure_id": structure.id, "offer_id": offer.id, "title": "A"}
    ).get_json()
    two = animator_api.post(
        "/api/v1/projects", {"structure_id": structure.id, "offer_id": offer.id, "title": "B"}
    ).get_json()
    milestone = animator_api.post(one["url"] + "/milestones", {"label": "J"}).get_json()
    assert animator_api.patch(f"{two['url']}/milestones/{milestone['id']}", {"done": True}).status_code == 404
    assert animator_api.patch(f"{one['url']}/milestones/{milestone['id']}", {}).status_code == 422


# --- reference data ------------------------------------------------------------------------------------


def test_reference_lists_give_the_ids(api_as):
    api = api_as("manager")
    programmes = api.get("/api/v1/reference/programmes").get_json()["data"]
    assert len(programmes) == count(Programme) and programmes[0]["number"] <= programmes[-1]["number"]
    offers = api.get("/api/v1/reference/offers").get_json()["data"]
    vt = next(o for o in offers if o["code"] == "VT_GRAND_AGE")
    assert vt["id"] == db.session.scalar(select(Offer.id).where(Offer.code == "VT_GRAND_AGE"))
    assert {o["programme_id"] for o in offers} <= {p["id"] for p in programmes}
    sectors = api.get("/api/v1/reference/sectors").get_json()["data"]
    assert {s["code"] for s in sectors if s["is_es_esms"]} == {"sanitaire", "medico_social"}
    departments = api.get("/api/v1/reference/departments").get_json()["data"]
    assert len(departments) == count(Department)
    assert {"code": "31", "name": "Haute-Garonne"}.items() <= next(d for d in departments if d["code"] == "31").items()
    assert api.get("/api/v1/reference/event-types").get_json()["data"]
    assert api.get("/api/v1/reference/loss-reasons").get_json()["data"]


def test_reference_lists_need_a_token(anonymous):
    for name in ("programmes", "offers", "sectors", "departments", "event-types", "loss-reasons"):
        assert anonymous.get(f"/api/v1/reference/{name}").status_code == 401
