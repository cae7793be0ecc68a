"""Activity pages: editing and deleting per role, and the duplicate warning with its confirm box."""

from __future__ import annotations

from datetime import date
from html import unescape

import pytest
from sqlalchemy import func, select

from crm.activities.models import Activity
from crm.activities.services import log_activity
from crm.platform.extensions import db
from crm.platform.models import AuditEntry, OutboxEvent
from tests.conftest import login, post


def count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


@pytest.fixture
def activity(make_user, make_structure):
    author = make_user("animateur", ["31"])
    structure = make_structure(name="EHPAD Les Tilleuls")
    return log_activity({"kind": "visite", "structure_ids": [structure.id], "subject": "Première visite"}, user=author)


def _form(activity, **changes) -> dict:
    data = {
        "kind": activity.kind,
        "occurred_on": activity.occurred_on.isoformat(),
        "structure_ids": [str(s.id) for s in activity.structures],
        "subject": activity.subject or "",
    }
    data.update(changes)
    return data


@pytest.mark.parametrize(
    "who,allowed",
    [
        ("author", True),
        ("animator_same_department", True),
        ("animator_other_department", False),
        ("organisateur", False),
        ("manager", False),
        ("admin", True),
    ],
)
def test_who_may_edit_and_delete_from_the_pages(client, make_user, activity, who, allowed):
    user = (
        activity.author
        if who == "author"
        else make_user(
            {"animator_same_department": "animateur", "animator_other_department": "animateur"}.get(who, who),
            {"animator_same_department": ["31"], "animator_other_department": ["34"]}.get(who),
        )
    )
    activity_id = activity.id
    login(client, user)
    show = unescape(client.get(f"/activites/{activity_id}").get_data(as_text=True))
    assert ("Modifier" in show and f"/activites/{activity_id}/supprimer" in show) == allowed
    assert client.get(f"/activites/{activity_id}/modifier").status_code == (200 if allowed else 403)
    response = post(client, f"/activites/{activity_id}/modifier", _form(activity, subject="Corrigée"))
    assert response.status_code == (302 if allowed else 403)
    assert db.session.get(Activity, activity_id).subject == ("Corrigée" if allowed else "Première visite")
    response = post(client, f"/activites/{activity_id}/supprimer")
    assert response.status_code == (302 if allowed else 403)
    assert (db.session.get(Activity, activity_id) is None) == allowed
    assert count(AuditEntry, AuditEntry.entity_type == "activity", AuditEntry.action == "delete") == int(allowed)


def test_the_edit_form_shows_the_activity_and_french_errors(client, activity):
    login(client, activity.author)
    page = unescape(client.get(f"/activites/{activity.id}/modifier").get_data(as_text=True))
    assert "Modifier une activité" in page and 'value="Première visite"' in page
    assert f'name="structure_ids" value="{activity.structures[0].id}" checked' in page
    bad = post(client, f"/activites/{activity.id}/modifier", _form(activity, occurred_on="2020-13-45"))
    assert bad.status_code == 422 and "Date invalide" in unescape(bad.get_data(as_text=True))
    none = post(client, f"/activites/{activity.id}/modifier", _form(activity, structure_ids=[]))
    assert none.status_code == 422 and "Choisissez au moins une structure." in unescape(none.get_data(as_text=True))
    assert count(OutboxEvent, OutboxEvent.type == "activity.updated") == 0


def test_delete_needs_the_csrf_token(client, activity):
    login(client, activity.author)
    assert client.post(f"/activites/{activity.id}/supprimer").status_code == 400
    assert db.session.get(Activity, activity.id) is not None


def test_a_duplicate_is_shown_with_a_link_and_saved_once_confirmed(client, activity):
    login(client, activity.author)
    data = _form(activity)
    response = post(client, "/activites/nouvelle", data)
    page = unescape(response.get_data(as_text=True))
    assert response.status_code == 409 and count(Activity) == 1
    assert "Cette activité semble déjà déclarée" in page and f'href="/activites/{activity.id}"' in page
    assert 'name="confirm_duplicate"' in page
    confirmed = post(client, "/activites/nouvelle", {**data, "confirm_duplicate": "y"})
    assert confirmed.status_code == 302 and count(Activity) == 2


def test_another_day_is_no_duplicate(client, activity):
    login(client, activity.author)
    other_day = date.fromordinal(activity.occurred_on.toordinal() - 1).isoformat()
    assert post(client, "/activites/nouvelle", _form(activity, occurred_on=other_day)).status_code == 302
    assert count(Activity) == 2
