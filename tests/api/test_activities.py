"""API activities: logging (multi-structure, next step -> task), the filtered list, roles."""

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from crm.activities.models import Activity
from crm.platform.dates import local_today
from crm.platform.extensions import db
from crm.platform.models import OutboxEvent
from crm.structures.contacts import save_contact
from crm.tasks.models import Task
from workflows.dispatch import process_pending


def test_log_a_multi_structure_activity_with_a_next_step(api_as, make_structure, offer):
    api = api_as("animateur", ["31", "81"])
    cpts = make_structure(name="CPTS du Lauragais")
    ehpad = make_structure(name="EHPAD d'Albi", department_code="81")
    contact = save_contact(cpts, None, {"last_name": "Roux"})
    due = (local_today() + timedelta(days=7)).isoformat()
    response = api.post(
        "/api/v1/activities",
        {
            "kind": "reunion",
            "structure_ids": [cpts.id, ehpad.id],
            "contact_ids": [contact.id],
            "offer_ids": [offer.id],
            "programme_ids": [],
            "occurred_on": local_today().isoformat(),
            "duration_minutes": 90,
            "subject": "Présentation ViaTrajectoire",
            "notes": "Très intéressés",
            "is_information": True,
            "next_step": "Envoyer la convention",
            "next_step_due_on": due,
        },
    )
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert response.headers["Location"] == body["url"] == f"/api/v1/activities/{body['id']}"
    assert sorted(s["id"] for s in body["structures"]) == sorted([cpts.id, ehpad.id])
    assert (body["contact_ids"], body["offer_ids"], body["is_information"], body["duration_minutes"]) == (
        [contact.id],
        [offer.id],
        True,
        90,
    )
    assert "task_id" not in body and db.session.scalars(select(Task)).all() == []  # a moment later:
    process_pending()  # the activity_next_step_task rule, as a worker runs it
    task = db.session.scalars(select(Task).where(Task.activity_id == body["id"])).one()
    assert (task.title, task.due_on.isoformat(), task.owner_id, task.source) == (
        "Envoyer la convention",
        due,
        api.user.id,
        "activite",
    )
    assert db.session.scalar(select(OutboxEvent).where(OutboxEvent.type == "activity.logged")) is not None
    assert api.get(body["url"]).get_json()["id"] == body["id"]


def test_minimal_activity_defaults_to_today_without_task(animator_api, make_structure):
    structure = make_structure()
    body = animator_api.post("/api/v1/activities", {"kind": "appel", "structure_ids": [structure.id]}).get_json()
    assert body["occurred_on"] == local_today().isoformat()
    process_pending()
    assert db.session.scalars(select(Task)).all() == []


def test_activity_validation_messages(animator_api, make_structure):
    structure = make_structure()
    response = animator_api.post(
        "/api/v1/activities",
        {
            "kind": "pique-nique",
            "structure_ids": [structure.id],
            "duration_minutes": 2000,
            "occurred_on": (local_today() + timedelta(days=5)).isoformat(),
            "next_step": "Rappeler",
        },
    )
    assert response.status_code == 422
    fields = response.get_json()["error"]["fields"]
    assert set(fields) == {"duration_minutes"}  # the shape check answers first, with the type errors
    response = animator_api.post(
        "/api/v1/activities",
        {
            "kind": "pique-nique",
            "structure_ids": [structure.id],
            "occurred_on": (local_today() + timedelta(days=5)).isoformat(),
            "next_step": "Rappeler",
        },
    )
    fields = response.get_json()["error"]["fields"]
    assert set(fields) == {"kind", "occurred_on", "next_step_due_on"}
    assert fields["kind"] == "Choisissez le type d'activité."
    empty = animator_api.post("/api/v1/activities", {"kind": "visite", "structure_ids": []})
    assert empty.get_json()["error"]["fields"] == {"structure_ids": "Choisissez au moins une structure."}
    unknown = animator_api.post("/api/v1/activities", {"kind": "visite", "structure_ids": [999999]})
    assert unknown.status_code == 422 and unknown.get_json()["error"]["fields"]["structure_ids"]
    assert db.session.query(Activity).count() == 0


@pytest.mark.parametrize(
    "role,own_status,other_status",
    [("animateur", 201, 403), ("admin", 201, 201), ("organisateur", 403, 403), ("manager", 403, 403)],
)
def test_who_may_log_activities(api_as, own_and_other, role, own_status, other_status):
    api = api_as(role, ["31"] if role == "animateur" else [])
    own, other = own_and_other
    assert api.post("/api/v1/activities", {"kind": "visite", "structure_ids": [own.id]}).status_code == own_status
    mixed = api.post("/api/v1/activities", {"kind": "visite", "structure_ids": [own.id, other.id]})
    assert mixed.status_code == other_status
    assert api.get("/api/v1/activities").status_code == 200


def test_list_filters(api_as, make_structure, offer, make_user):
    api = api_as("animateur", ["31", "81"])
    toulouse, albi = make_structure(name="A", department_code="31"), make_structure(name="B", department_code="81")
    last_week = (local_today() - timedelta(days=7)).isoformat()
    api.post(
        "/api/v1/activities",
        {"kind": "visite", "structure_ids": [toulouse.id], "offer_ids": [offer.id], "occurred_on": last_week},
    )
    api.post("/api/v1/activities", {"kind": "appel", "structure_ids": [albi.id]})
    api.post("/api/v1/activities", {"kind": "reunion", "structure_ids": [toulouse.id, albi.id]})

    def kinds(query):
        return sorted(a["kind"] for a in api.get("/api/v1/activities" + query).get_json()["data"])

    assert kinds("") == ["appel", "reunion", "visite"]
    assert kinds("?department=81") == ["appel", "reunion"]
    assert kinds("?kind=visite") == ["visite"]
    assert kinds(f"?programme={offer.programme_id}") == ["visite"]
    assert kinds(f"?author={api.user.id}&structure={toulouse.id}") == ["reunion", "visite"]
    assert kinds(f"?start={local_today().isoformat()}") == ["appel", "reunion"]
    assert kinds(f"?end={last_week}") == ["visite"]
    other = make_user("admin")
    assert kinds(f"?author={other.id}") == []
    newest_first = api.get("/api/v1/activities?per_page=2").get_json()
    assert newest_first["meta"]["total"] == 3 and newest_first["data"][-1]["kind"] != "visite"


def test_bad_filters_are_400_with_a_message_per_parameter(animator_api):
    response = animator_api.get("/api/v1/activities?start=hier&kind=pique-nique&per_page=500&author=x")
    assert response.status_code == 400
    assert set(response.get_json()["error"]["fields"]) == {"start", "kind", "per_page", "author"}
    assert animator_api.get("/api/v1/activities/999999").status_code == 404


def test_the_list_goes_on_by_cursor_and_refuses_a_forged_one(api_as, make_structure, monkeypatch):
    from crm.platform import paging

    api = api_as("animateur", ["31"])
    structure = make_structure()
    for i in range(5):
        day = (local_today() - timedelta(days=i % 2)).isoformat()
        api.post(
            "/api/v1/activities",
            {"kind": "appel", "structure_ids": [structure.id], "occurred_on": day, "confirm_duplicate": True},
        )
    seen, url = [], "/api/v1/activities?department=31&per_page=2"
    while url:
        body = api.get(url).get_json()
        seen += [a["id"] for a in body["data"]]
        url = body["links"]["next"]
        assert url is None or ("cursor=" in url and "department=31" in url and "&page=" not in url)
    assert len(seen) == 5 == len(set(seen))
    assert api.get("/api/v1/activities?page=2&per_page=2").get_json()["data"][0]["id"] == seen[2]  # small offsets
    forged = api.get("/api/v1/activities?cursor=bm9wZQ")
    assert forged.status_code == 400 and "cursor" in forged.get_json()["error"]["fields"]
    monkeypatch.setattr(paging, "COUNT_CAP", 3)
    monkeypatch.setattr(paging, "MAX_OFFSET", 2)
    capped = api.get("/api/v1/activities?per_page=2").get_json()
    assert capped["meta"]["total"] == 3 and capped["meta"]["total_capped"] is True
    too_deep = api.get("/api/v1/activities?per_page=2&page=3")
    assert too_deep.status_code == 400 and "page" in too_deep.get_json()["error"]["fields"]
