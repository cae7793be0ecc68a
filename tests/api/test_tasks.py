"""API tasks: mine by default, other owners for admins only, create, edit, done and reopen."""

from datetime import date, timedelta

import pytest

from crm.platform.dates import local_today
from crm.platform.extensions import db
from crm.tasks import services
from crm.tasks.models import Task


def test_create_list_edit_done_reopen(api_as, make_structure):
    api = api_as("organisateur")
    structure = make_structure()
    due = (local_today() + timedelta(days=3)).isoformat()
    response = api.post(
        "/api/v1/tasks",
        {"title": "Relancer le CH", "due_on": due, "structure_id": structure.id, "description": "Après le webinaire"},
    )
    assert response.status_code == 201, response.get_json()
    task = response.get_json()
    assert (task["owner_id"], task["source"], task["done"], task["due_on"]) == (api.user.id, "manuel", False, due)
    api.post("/api/v1/tasks", {"title": "Sans date"})
    assert [t["title"] for t in api.get("/api/v1/tasks").get_json()["data"]] == ["Relancer le CH", "Sans date"]
    edited = api.patch(task["url"], {"title": "Relancer le CHU"}).get_json()
    assert (edited["title"], edited["due_on"], edited["description"]) == ("Relancer le CHU", due, "Après le webinaire")
    done = api.patch(task["url"], {"done": True}).get_json()
    assert done["done"] is True and done["done_at"] and done["done_by_id"] == api.user.id
    assert [t["title"] for t in api.get("/api/v1/tasks").get_json()["data"]] == ["Sans date"]
    assert [t["title"] for t in api.get("/api/v1/tasks?status=done").get_json()["data"]] == ["Relancer le CHU"]
    assert api.get("/api/v1/tasks?status=all").get_json()["meta"]["total"] == 2
    reopened = api.patch(task["url"], {"done": False, "due_on": None}).get_json()
    assert reopened["done"] is False and reopened["due_on"] is None
    assert api.get(task["url"]).get_json()["id"] == task["id"]


def test_task_validation(animator_api, make_user):
    manager = make_user("manager")
    response = animator_api.post(
        "/api/v1/tasks", {"title": "", "due_on": "demain", "owner_id": manager.id, "structure_id": 999999}
    )
    assert response.status_code == 422
    assert set(response.get_json()["error"]["fields"]) == {"title", "due_on", "owner_id", "structure_id"}
    task = services.create_task({"title": "Appeler"}, user=animator_api.user)
    refused = animator_api.patch(f"/api/v1/tasks/{task.id}", {"title": "  "})
    assert refused.status_code == 422 and refused.get_json()["error"]["fields"] == {
        "title": "Indiquez l'objet de la relance."
    }
    assert animator_api.patch("/api/v1/tasks/999999", {"done": True}).status_code == 404


@pytest.mark.parametrize("role,expected", [("animateur", 201), ("organisateur", 201), ("admin", 201), ("manager", 403)])
def test_who_may_create_tasks(api_as, role, expected):
    api = api_as(role, ["31"] if role == "animateur" else [])
    assert api.post("/api/v1/tasks", {"title": "Relance"}).status_code == expected
    assert api.get("/api/v1/tasks").status_code == 200


@pytest.mark.parametrize("role,expected", [("animateur", 403), ("organisateur", 403), ("admin", 200), ("manager", 403)])
def test_only_owner_creator_or_admin_edits_or_reads_a_task(api_as, make_user, role, expected):
    owner = make_user("animateur", ["31"])
    task = services.create_task({"title": "La mienne"}, user=owner)
    api = api_as(role, ["31"] if role == "animateur" else [])
    assert api.patch(f"/api/v1/tasks/{task.id}", {"done": True}).status_code == expected
    assert api.get(f"/api/v1/tasks/{task.id}").status_code == expected
    db.session.expire_all()
    assert (db.session.get(Task, task.id).done_at is not None) == (expected == 200)


def test_other_owners_tasks_are_for_admins(api_as, make_user):
    owner = make_user("animateur", ["31"])
    services.create_task({"title": "La sienne"}, user=owner)
    animator = api_as("animateur", ["31"])
    refused = animator.get(f"/api/v1/tasks?owner={owner.id}")
    assert refused.status_code == 403 and "owner" in refused.get_json()["error"]["fields"]
    assert animator.get(f"/api/v1/tasks?owner={animator.user.id}").status_code == 200
    admin = api_as("admin")
    assert [t["title"] for t in admin.get(f"/api/v1/tasks?owner={owner.id}").get_json()["data"]] == ["La sienne"]


def test_task_created_for_someone_else_is_editable_by_its_author(api_as, make_user):
    api = api_as("animateur", ["31"])
    colleague = make_user("animateur", ["31"])
    task = api.post("/api/v1/tasks", {"title": "Pour toi", "owner_id": colleague.id}).get_json()
    assert task["owner_id"] == colleague.id and task["created_by_id"] == api.user.id
    assert api.get("/api/v1/tasks").get_json()["data"] == []
    assert api.patch(task["url"], {"description": "Merci"}).status_code == 200
