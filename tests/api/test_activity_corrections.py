"""API: correcting activities (PATCH, DELETE) per role, the duplicate guard, and Idempotency-Key retries."""

from __future__ import annotations

import threading
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select, update

from crm.activities.models import Activity
from crm.platform.dates import local_today
from crm.platform.extensions import db
from crm.platform.models import AuditEntry, IdempotencyKey, OutboxEvent


def count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


@pytest.fixture
def logged(api_as, make_structure):
    """An activity logged through the API by an animator of Haute-Garonne (31)."""
    author = api_as("animateur", ["31"])
    structure = make_structure(name="EHPAD Les Tilleuls", department_code="31")
    body = author.post(
        "/api/v1/activities", {"kind": "visite", "structure_ids": [structure.id], "is_information": True}
    ).get_json()
    return author, structure, body


@pytest.mark.parametrize(
    "who,status",
    [
        ("author", 200),
        ("animator_same_department", 200),
        ("animator_other_department", 403),
        ("organisateur", 403),
        ("manager", 403),
        ("admin", 200),
    ],
)
def test_who_may_edit_and_delete_an_activity(logged, api_as, who, status):
    author, _structure, body = logged
    api = {
        "author": lambda: author,
        "animator_same_department": lambda: api_as("animateur", ["31"]),
        "animator_other_department": lambda: api_as("animateur", ["34"]),
        "organisateur": lambda: api_as("organisateur"),
        "manager": lambda: api_as("manager"),
        "admin": lambda: api_as("admin"),
    }[who]()
    response = api.patch(body["url"], {"subject": "Corrigé", "duration_minutes": 45})
    assert response.status_code == status, response.get_json()
    activity = db.session.get(Activity, body["id"])
    assert (activity.subject, activity.duration_minutes) == (("Corrigé", 45) if status == 200 else (None, None))
    deleted = api.request("DELETE", body["url"])
    assert deleted.status_code == status
    assert (db.session.get(Activity, body["id"]) is None) == (status == 200)
    if status == 200:
        assert deleted.get_json() == {"id": body["id"], "deleted": True}
        entry = db.session.scalars(
            select(AuditEntry).where(AuditEntry.entity_type == "activity", AuditEntry.action == "delete")
        ).one()
        assert (entry.entity_id, entry.user_id, entry.changes["kind"]) == (body["id"], api.user.id, ["visite", None])
        assert api.get(body["url"]).status_code == 404
    else:
        assert count(OutboxEvent, OutboxEvent.type.in_(("activity.updated", "activity.deleted"))) == 0


def test_patch_is_partial_and_checks_what_it_adds(logged, make_structure):
    author, structure, body = logged
    other = make_structure(name="CH de Béziers", department_code="34", commune="Béziers")
    mine = make_structure(name="CH de Muret", department_code="31", commune="Muret")
    refused = author.patch(body["url"], {"structure_ids": [structure.id, other.id]})
    assert refused.status_code == 403 and "structure_ids" in refused.get_json()["error"]["fields"]
    future = author.patch(body["url"], {"occurred_on": (local_today() + timedelta(days=5)).isoformat()})
    assert future.status_code == 422 and set(future.get_json()["error"]["fields"]) == {"occurred_on"}
    assert author.patch(body["url"], {"unknown": 1}).status_code == 422
    moved = author.patch(body["url"], {"structure_ids": [mine.id], "is_information": False}).get_json()
    assert [s["id"] for s in moved["structures"]] == [mine.id]
    assert (moved["kind"], moved["is_information"]) == ("visite", False)  # the kind kept its value
    event = db.session.scalars(select(OutboxEvent).where(OutboxEvent.type == "activity.updated")).one()
    assert event.payload["previous"]["structures"][0]["structure_id"] == structure.id
    assert event.payload["structures"][0]["structure_id"] == mine.id
    assert author.patch("/api/v1/activities/999999", {"subject": "x"}).status_code == 404


def test_an_admin_keeps_structures_outside_an_editors_departments(api_as, make_structure):
    """An animator of 31 edits an admin's activity about a 31 and a 34 structure: the 34 one may stay."""
    admin = api_as("admin")
    ours = make_structure(name="EHPAD Les Tilleuls", department_code="31")
    theirs = make_structure(name="CH de Béziers", department_code="34", commune="Béziers")
    body = admin.post("/api/v1/activities", {"kind": "reunion", "structure_ids": [ours.id, theirs.id]}).get_json()
    animator = api_as("animateur", ["31", "34"])
    assert animator.patch(body["url"], {"subject": "Réunion commune"}).status_code == 200
    only_31 = api_as("animateur", ["31"])
    assert only_31.patch(body["url"], {"subject": "x"}).status_code == 403  # not every structure is theirs


# --- duplicates --------------------------------------------------------------------------------------


def test_a_duplicate_is_refused_with_the_existing_one_unless_confirmed(logged):
    author, structure, body = logged
    again = author.post("/api/v1/activities", {"kind": "visite", "structure_ids": [structure.id]})
    assert again.status_code == 409
    error = again.get_json()["error"]
    assert error["existing"] == {"id": body["id"], "url": body["url"]} and "confirm_duplicate" in error["message"]
    assert count(Activity) == 1
    other_kind = author.post("/api/v1/activities", {"kind": "appel", "structure_ids": [structure.id]})
    assert other_kind.status_code == 201
    confirmed = author.post(
        "/api/v1/activities", {"kind": "visite", "structure_ids": [structure.id], "confirm_duplicate": True}
    )
    assert confirmed.status_code == 201 and count(Activity) == 3


def test_not_a_duplicate_after_the_window_or_on_another_day(logged):
    author, structure, body = logged
    yesterday = (local_today() - timedelta(days=1)).isoformat()
    assert (
        author.post(
            "/api/v1/activities", {"kind": "visite", "structure_ids": [structure.id], "occurred_on": yesterday}
        ).status_code
        == 201
    )
    db.session.execute(
        update(Activity).where(Activity.id == body["id"]).values(created_at=Activity.created_at - timedelta(minutes=11))
    )
    db.session.commit()
    assert author.post("/api/v1/activities", {"kind": "visite", "structure_ids": [structure.id]}).status_code == 201


# --- Idempotency-Key -----------------------------------------------------------------------------------


def _post(api, body, key):
    return api.post("/api/v1/activities", body, headers={"Idempotency-Key": key})


def test_a_retried_post_returns_the_first_result(animator_api, make_structure):
    structure = make_structure()
    body = {"kind": "appel", "structure_ids": [structure.id]}
    first = _post(animator_api, body, "key-1")
    retry = _post(animator_api, body, "key-1")
    assert first.status_code == retry.status_code == 201
    assert retry.get_json() == first.get_json() and retry.headers["Location"] == first.headers["Location"]
    assert retry.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
    assert count(Activity) == 1 and count(OutboxEvent, OutboxEvent.type == "activity.logged") == 1
    # The same key for another body is refused, and writes nothing.
    other = _post(animator_api, {**body, "subject": "Autre"}, "key-1")
    assert other.status_code == 422 and "Idempotency-Key" in other.get_json()["error"]["fields"]
    assert count(Activity) == 1


def test_keys_belong_to_their_user(api_as, make_structure):
    structure = make_structure()
    body = {"kind": "appel", "structure_ids": [structure.id]}
    one, two = api_as("animateur", ["31"]), api_as("animateur", ["31"])
    first, second = _post(one, body, "shared"), _post(two, body, "shared")
    assert first.status_code == second.status_code == 201
    assert first.get_json()["id"] != second.get_json()["id"] and count(Activity) == 2


def test_a_refused_request_keeps_no_key(animator_api, make_structure):
    structure = make_structure()
    refused = _post(animator_api, {"kind": "pique-nique", "structure_ids": [structure.id]}, "k")
    assert refused.status_code == 422 and count(IdempotencyKey) == 0
    fixed = _post(animator_api, {"kind": "pique-nique", "structure_ids": [structure.id]}, "k")
    assert fixed.status_code == 422  # evaluated again, not replayed


def test_a_malformed_key_is_a_400(animator_api, make_structure):
    structure = make_structure()
    for key in ("", "a b", "x" * 256, "clé"):
        response = _post(animator_api, {"kind": "appel", "structure_ids": [structure.id]}, key)
        assert response.status_code == 400, key
    assert count(Activity) == 0


def test_a_retried_delete_answers_as_the_first(logged):
    author, _structure, body = logged
    first = author.request("DELETE", body["url"], headers={"Idempotency-Key": "del-1"})
    retry = author.request("DELETE", body["url"], headers={"Idempotency-Key": "del-1"})
    assert first.status_code == retry.status_code == 200 and retry.get_json() == first.get_json()
    assert author.request("DELETE", body["url"]).status_code == 404  # without the key: it is gone
    assert count(OutboxEvent, OutboxEvent.type == "activity.deleted") == 1


def test_an_expired_key_may_be_used_again(animator_api, make_structure):
    structure = make_structure()
    body = {"kind": "appel", "structure_ids": [structure.id]}
    _post(animator_api, body, "old")
    db.session.execute(update(IdempotencyKey).values(created_at=IdempotencyKey.created_at - timedelta(hours=25)))
    db.session.commit()
    again = _post(animator_api, {**body, "confirm_duplicate": True}, "old")
    assert again.status_code == 201 and "Idempotent-Replayed" not in again.headers and count(Activity) == 2


def test_two_simultaneous_requests_with_one_key_create_one_activity(app, animator_api, make_structure):
    """PostgreSQL: the second request waits on the key's unique index, then answers the first's answer."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("concurrent writers need PostgreSQL")
    structure = make_structure()
    body = {"kind": "appel", "structure_ids": [structure.id], "subject": "Course"}
    barrier = threading.Barrier(4)
    answers = []

    def send():
        client = app.test_client()
        barrier.wait()
        with app.app_context():
            response = client.post(
                "/api/v1/activities",
                json=body,
                headers={"Authorization": f"Bearer {animator_api.token}", "Idempotency-Key": "race"},
            )
            answers.append((response.status_code, response.get_json()))

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    db.session.commit()
    assert count(Activity) == 1 and count(OutboxEvent, OutboxEvent.type == "activity.logged") == 1
    assert [status for status, _ in answers] == [201] * 4
    assert len({answer["id"] for _, answer in answers}) == 1
