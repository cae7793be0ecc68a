"""API opportunities (creation, edits, stage transitions, history, winning) and projects."""

from datetime import date

import pytest
from sqlalchemy import select

from crm.pipeline import services
from crm.pipeline.models import Opportunity, Project
from crm.platform.dates import local_today
from crm.platform.extensions import db
from crm.platform.models import OutboxEvent
from workflows.dispatch import process_pending


@pytest.fixture
def opportunity(make_structure, make_user, offer):
    animator = make_user("animateur", ["31"])
    structure = make_structure(name="EHPAD Les Tilleuls")
    return services.create_opportunity(
        {"structure_id": structure.id, "offer_id": offer.id, "title": "ViaTrajectoire grand âge"}, user=animator
    )


def test_create_read_and_list(animator_api, make_structure, offer):
    structure = make_structure()
    response = animator_api.post(
        "/api/v1/opportunities",
        {
            "structure_id": structure.id,
            "offer_id": offer.id,
            "title": "Dossier de liaison d'urgence",
            "need": "Le DLU papier se perd",
            "source": "demande_entrante",
            "expected_on": "2027-03-01",
        },
    )
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert (body["stage"], body["owner_id"], body["programme_id"], body["project_id"]) == (
        "identifiee",
        animator_api.user.id,
        offer.programme_id,
        None,
    )
    assert [c["to_stage"] for c in body["stage_history"]] == ["identifiee"]
    assert animator_api.get(body["url"]).get_json()["title"] == "Dossier de liaison d'urgence"
    listed = animator_api.get(
        f"/api/v1/opportunities?department=31&stage=identifiee&programme="
        f"{offer.programme_id}&owner={animator_api.user.id}"
        f"&start={local_today().isoformat()}&end={local_today().isoformat()}"
    ).get_json()
    assert [o["id"] for o in listed["data"]] == [body["id"]]
    assert animator_api.get("/api/v1/opportunities?department=34").get_json()["meta"]["total"] == 0


def test_create_validation(animator_api, make_structure):
    structure = make_structure()
    response = animator_api.post(
        "/api/v1/opportunities", {"structure_id": structure.id, "offer_id": 999999, "title": "", "source": "pigeon"}
    )
    assert response.status_code == 422
    assert set(response.get_json()["error"]["fields"]) == {"offer_id", "title", "source"}


def test_stage_moves_through_to_won_and_creates_the_project(api_as, opportunity):
    api = api_as("animateur", ["31"])
    url = f"/api/v1/opportunities/{opportunity.id}"
    qualified = api.patch(url, {"stage": "qualifiee", "comment": "Besoin confirmé", "title": "VT grand âge"})
    assert qualified.status_code == 200, qualified.get_json()
    assert (qualified.get_json()["stage"], qualified.get_json()["title"]) == ("qualifiee", "VT grand âge")
    won = api.patch(url, {"stage": "gagnee", "version": qualified.get_json()["version"]}).get_json()
    assert won["stage"] == "gagnee" and won["closed_on"] == local_today().isoformat()
    assert won["project_id"] is None  # the won_opportunity_project rule's, a moment later
    process_pending()
    project = db.session.get(Project, api.get(url).get_json()["project_id"])
    assert project.opportunity_id == opportunity.id and project.status == "en_cours"
    assert [(c["from_stage"], c["to_stage"]) for c in won["stage_history"]] == [
        (None, "identifiee"),
        ("identifiee", "qualifiee"),
        ("qualifiee", "gagnee"),
    ]
    assert won["stage_history"][1]["comment"] == "Besoin confirmé"
    types = db.session.scalars(select(OutboxEvent.type).order_by(OutboxEvent.id)).all()
    assert types.count("opportunity.stage_changed") == 2 and "project.created" in types
    listed = api.get("/api/v1/opportunities?stage=gagnee").get_json()["data"]
    assert listed[0]["project_id"] == project.id


def test_lost_needs_a_reason(animator_api, opportunity, reason):
    url = f"/api/v1/opportunities/{opportunity.id}"
    refused = animator_api.patch(url, {"stage": "perdue"})
    assert refused.status_code == 422 and "raison" in refused.get_json()["error"]["fields"]["stage"]
    unknown = animator_api.patch(url, {"stage": "perdue", "reason_id": 999999})
    assert unknown.status_code == 422 and "reason_id" in unknown.get_json()["error"]["fields"]
    lost = animator_api.patch(url, {"stage": "perdue", "reason_id": reason.id})
    assert lost.status_code == 200 and lost.get_json()["loss_reason_id"] == reason.id
    closed = animator_api.patch(url, {"stage": "qualifiee"})
    assert closed.status_code == 409 and "close" in closed.get_json()["error"]["message"]


def test_refused_move_leaves_the_other_fields_unchanged(animator_api, opportunity):
    response = animator_api.patch(
        f"/api/v1/opportunities/{opportunity.id}", {"title": "Nouveau titre", "stage": "inconnue"}
    )
    assert response.status_code == 422 and "stage" in response.get_json()["error"]["fields"]
    db.session.expire_all()
    assert db.session.get(Opportunity, opportunity.id).title == "ViaTrajectoire grand âge"


def test_stale_version_and_orphan_reason(animator_api, opportunity):
    url = f"/api/v1/opportunities/{opportunity.id}"
    assert animator_api.patch(url, {"need": "Précisé", "version": opportunity.version + 5}).status_code == 409
    orphan = animator_api.patch(url, {"reason_id": 1})
    assert orphan.status_code == 422 and "stage" in orphan.get_json()["error"]["fields"]
    same = animator_api.patch(url, {"stage": "identifiee"})
    assert same.status_code == 422


@pytest.mark.parametrize(
    "role,own_status,other_status",
    [("animateur", 201, 403), ("admin", 201, 201), ("organisateur", 403, 403), ("manager", 403, 403)],
)
def test_who_may_create_opportunities(api_as, own_and_other, offer, role, own_status, other_status):
    api = api_as(role, ["31"] if role == "animateur" else [])
    own, other = own_and_other
    for structure, status in ((own, own_status), (other, other_status)):
        response = api.post(
            "/api/v1/opportunities", {"structure_id": structure.id, "offer_id": offer.id, "title": "Besoin"}
        )
        assert response.status_code == status


@pytest.mark.parametrize("role,expected", [("animateur", 200), ("admin", 200), ("organisateur", 403), ("manager", 403)])
def test_who_may_move_opportunities(api_as, opportunity, role, expected):
    api = api_as(role, ["31"] if role == "animateur" else [])
    assert api.get(f"/api/v1/opportunities/{opportunity.id}").status_code == 200
    assert api.patch(f"/api/v1/opportunities/{opportunity.id}", {"stage": "qualifiee"}).status_code == expected
    outsider = api_as("animateur", ["34"])
    assert outsider.patch(f"/api/v1/opportunities/{opportunity.id}", {"stage": "proposee"}).status_code == 403


def test_projects_list_and_detail(api_as, opportunity, make_user):
    admin = make_user("admin")
    services.change_stage(opportunity, "gagnee", user=admin)
    process_pending()  # the won_opportunity_project rule
    project = opportunity.project
    services.add_milestone(project, {"label": "Formation des équipes", "due_on": "2027-01-15"}, user=admin)
    for role in ("animateur", "organisateur", "manager", "admin"):
        api = api_as(role, ["31"] if role == "animateur" else [])
        listed = api.get(
            f"/api/v1/projects?department=31&status=en_cours&programme={project.programme_id}"
            f"&structure={project.structure_id}"
        ).get_json()
        assert [p["id"] for p in listed["data"]] == [project.id]
        detail = api.get(f"/api/v1/projects/{project.id}").get_json()
        assert detail["opportunity_id"] == opportunity.id
        assert [(m["label"], m["due_on"], m["done_on"]) for m in detail["milestones"]] == [
            ("Formation des équipes", "2027-01-15", None)
        ]
    assert api.get("/api/v1/projects?status=termine").get_json()["data"] == []
    assert api.get("/api/v1/projects/999999").status_code == 404
    assert api.get("/api/v1/opportunities/999999").status_code == 404
    assert api.patch("/api/v1/opportunities/999999", {"title": "x"}).status_code == 404


def test_an_opportunity_names_the_event_it_came_from(animator_api, make_structure, offer):
    from tests.events.factories import make_event

    structure = make_structure()
    event = make_event(days_ago=2)
    body = {
        "structure_id": structure.id,
        "offer_id": offer.id,
        "title": "Téléo",
        "source": "evenement",
        "source_event_id": event.id,
    }
    created = animator_api.post("/api/v1/opportunities", body)
    assert created.status_code == 201 and created.get_json()["source_event_id"] == event.id
    assert animator_api.get(created.get_json()["url"]).get_json()["source_event_id"] == event.id
    refused = animator_api.post("/api/v1/opportunities", {**body, "source": "visite"})
    assert refused.status_code == 422 and "source_event_id" in refused.get_json()["error"]["fields"]
    unknown = animator_api.post("/api/v1/opportunities", {**body, "source_event_id": 999999})
    assert unknown.get_json()["error"]["fields"] == {"source_event_id": "Événement inconnu."}
    listed = animator_api.get("/api/v1/opportunities").get_json()["data"]
    assert [o["source_event_id"] for o in listed] == [event.id]
