"""The API applies the shared email and single-line rules: 422 with a French message per field, nothing written."""

from sqlalchemy import func, select

from crm.events.models import Registration
from crm.platform.extensions import db
from crm.platform.validation import LINE_BREAK_MESSAGE
from crm.structures.models import Contact
from crm.tasks.models import Task
from tests.events.factories import make_event


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_api_refuses_bad_emails_and_line_breaks(api_as, make_structure):
    api = api_as("admin")
    structure = make_structure(department_code="31")
    event = make_event(days_ago=-10)
    response = api.post(
        f"/api/v1/events/{event.id}/registrations",
        json={"first_name": "Anne", "last_name": "Martin", "email": "anne@[10.0.0.1]", "structure_id": structure.id},
    )
    assert response.status_code == 422 and "adresse IP" in response.get_json()["error"]["fields"]["email"]
    response = api.post(
        f"/api/v1/events/{event.id}/registrations",
        json={"first_name": "Anne\nX", "last_name": "Martin", "email": "anne@ehpad.fr", "structure_id": structure.id},
    )
    assert response.get_json()["error"]["fields"]["first_name"] == LINE_BREAK_MESSAGE
    response = api.post(f"/api/v1/structures/{structure.id}/contacts", json={"last_name": "Roux", "email": "r@y..fr"})
    assert response.status_code == 422 and "point en trop" in response.get_json()["error"]["fields"]["email"]
    response = api.post(f"/api/v1/structures/{structure.id}/contacts", json={"last_name": "Roux\r\nX"})
    assert response.get_json()["error"]["fields"]["last_name"] == LINE_BREAK_MESSAGE
    response = api.post("/api/v1/tasks", json={"title": "Rappeler\rl'EHPAD"})
    assert response.status_code == 422 and response.get_json()["error"]["fields"]["title"] == LINE_BREAK_MESSAGE
    response = api.patch(f"/api/v1/events/{event.id}", json={"title": "TOP\ne-santé"})
    assert response.status_code == 422 and response.get_json()["error"]["fields"]["title"] == LINE_BREAK_MESSAGE
    response = api.post("/api/v1/structures", json={"name": "EHPAD\nX", "department_code": "31"})
    assert response.status_code == 422 and response.get_json()["error"]["fields"]["name"] == LINE_BREAK_MESSAGE
    assert _count(Registration) == 0 and _count(Contact) == 0 and _count(Task) == 0
