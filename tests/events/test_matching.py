"""Matching pages: the unmatched list, resolution with the structure autocomplete, contact creation, roles."""

import pytest
from sqlalchemy import select

from crm.events.followup.matching import create_contact
from crm.platform.extensions import db
from crm.platform.models import AuditEntry
from crm.platform.validation import ValidationFailed
from crm.structures.models import Contact
from tests.conftest import post
from tests.events.conftest import page_text
from tests.events.factories import add_registration, make_event


@pytest.fixture
def pending(make_structure):
    structure = make_structure(name="EHPAD Les Tilleuls", department_code="31")
    gers = make_structure(name="EHPAD du Gers", department_code="32")
    event = make_event(title="TOP e-santé Haute-Garonne")
    registration = add_registration(
        event,
        "helene@ehpad.fr",
        first_name="Hélène",
        last_name="Méric",
        structure_name="Ehpad Tilleuls Muret",
        department_code="31",
        consent_contact=True,
        function="IDEC",
    )
    other = add_registration(
        make_event(title="Webinaire INS"),
        "zoe@x.fr",
        first_name="Zoé",
        structure_name="Cabinet infirmier",
        department_code="09",
    )
    return {"structure": structure, "gers": gers, "event": event, "registration": registration, "other": other}


def test_list_filters_and_resolve_then_create_contact(client, login_as, pending):
    animator = login_as("animateur", ["31"])
    html = client.get("/evenements/rapprochement").get_data(as_text=True)
    assert "Hélène Méric" in html and "Zoé" in html and "Ehpad Tilleuls Muret" in html
    assert 'data-autocomplete="/structures/autocomplete"' in html
    html = client.get(f"/evenements/rapprochement?evenement={pending['event'].id}").get_data(as_text=True)
    assert "Hélène Méric" in html and "Zoé" not in html
    html = client.get("/evenements/rapprochement?departement=09").get_data(as_text=True)
    assert "Zoé" in html and "Hélène" not in html
    assert client.get("/evenements/rapprochement?departement=<script>&page=abc&evenement=x").status_code == 200

    registration = pending["registration"]
    back = f"/evenements/rapprochement?evenement={pending['event'].id}"
    response = post(
        client,
        f"/evenements/rapprochement/inscription/{registration.id}/structure",
        {"structure_id": str(pending["structure"].id), "structure_query": "EHPAD Les Tilleuls", "next": back},
    )
    assert response.status_code == 302 and response.headers["Location"] == back
    db.session.expire_all()
    assert registration.structure_id == pending["structure"].id
    assert "Aucun inscrit à rattacher" in client.get(back).get_data(as_text=True)

    html = client.get(back + "&vue=contacts").get_data(as_text=True)
    assert "Hélène Méric" in html and "Créer le contact" in html
    response = post(client, f"/evenements/rapprochement/inscription/{registration.id}/contact", {"next": back})
    assert response.status_code == 302
    contact = db.session.scalar(select(Contact).where(Contact.email == "helene@ehpad.fr"))
    assert contact.structure_id == pending["structure"].id and contact.function == "IDEC" and contact.consent
    db.session.expire_all()
    assert registration.contact_id == contact.id
    audit = db.session.scalars(select(AuditEntry).where(AuditEntry.entity_type == "registration")).all()
    assert len(audit) == 2 and all(a.user_id == animator.id and a.parent_id == pending["event"].id for a in audit)


def test_refusals_are_explained_and_write_nothing(client, login_as, pending):
    login_as("animateur", ["31"])
    registration = pending["registration"]
    for structure_id in ("", "abc", "99999999999", str(pending["gers"].id)):
        response = post(
            client,
            f"/evenements/rapprochement/inscription/{registration.id}/structure",
            {"structure_id": structure_id},
            follow_redirects=True,
        )
        assert response.status_code == 200
        html = response.get_data(as_text=True)
        assert "Choisissez une structure dans la liste." in html or "vos départements" in html
    response = post(client, f"/evenements/rapprochement/inscription/{registration.id}/contact", follow_redirects=True)
    assert "Rattachez d&#39;abord" in response.get_data(as_text=True)
    response = post(client, "/evenements/rapprochement/inscription/999999/structure", {"structure_id": "1"})
    assert response.status_code == 404
    response = client.post(
        f"/evenements/rapprochement/inscription/{registration.id}/structure",
        data={"structure_id": str(pending["structure"].id)},
    )
    assert response.status_code == 400  # no CSRF token
    response = post(
        client,
        f"/evenements/rapprochement/inscription/{registration.id}/structure",
        {"structure_id": str(pending["structure"].id), "next": "https://evil.example/"},
    )
    assert response.headers["Location"] == "/evenements/rapprochement"
    db.session.expire_all()
    assert (
        db.session.scalar(
            select(AuditEntry).where(AuditEntry.action == "match", AuditEntry.entity_id == registration.id)
        )
        is not None
    )
    assert db.session.query(Contact).count() == 0


def test_automatic_matching_button(client, login_as, pending):
    login_as("organisateur")
    registration = add_registration(
        pending["event"], "b@x.fr", structure_name="ehpad les TILLEULS", department_code="31"
    )
    response = post(client, f"/evenements/rapprochement/evenement/{pending['event'].id}", follow_redirects=True)
    assert "1 rattaché(s) à une structure, 1 restent à rattacher" in response.get_data(as_text=True)
    db.session.expire_all()
    assert registration.structure_id == pending["structure"].id


@pytest.mark.parametrize("role, status", [("manager", 403), ("animateur", 200), ("organisateur", 200), ("admin", 200)])
def test_roles(client, login_as, pending, role, status):
    login_as(role)
    assert client.get("/evenements/rapprochement").status_code == status
    response = post(
        client,
        f"/evenements/rapprochement/inscription/{pending['registration'].id}/structure",
        {"structure_id": str(pending["structure"].id)},
    )
    assert response.status_code == (403 if status == 403 else 302)
    assert post(client, f"/evenements/rapprochement/evenement/{pending['event'].id}").status_code == (
        403 if status == 403 else 302
    )


def test_anonymous_goes_to_login(client, pending):
    response = client.get("/evenements/rapprochement")
    assert response.status_code == 302 and "/connexion" in response.headers["Location"]


@pytest.mark.parametrize("role, shown", [("manager", False), ("animateur", True), ("organisateur", True)])
def test_events_list_links_to_the_matching_page(client, login_as, role, shown):
    login_as(role)
    html = client.get("/evenements").get_data(as_text=True)
    assert ('href="/evenements/rapprochement"' in html) == shown


def test_an_animator_resolves_only_registrants_of_their_departments(client, login_as, pending):
    """The target structure and the registrant (its structure's department, or the declared one) must be theirs."""
    login_as("animateur", ["31"])
    attached_in_gers = add_registration(pending["event"], "gers@x.fr", first_name="Gaël", structure=pending["gers"])
    declared_ariege = pending["other"]  # declared department 09
    for registration in (attached_in_gers, declared_ariege):
        response = post(
            client,
            f"/evenements/rapprochement/inscription/{registration.id}/structure",
            {"structure_id": str(pending["structure"].id)},
            follow_redirects=True,
        )
        assert "Vous ne pouvez rattacher que les inscrits de vos départements" in page_text(response)
    response = post(
        client, f"/evenements/rapprochement/inscription/{attached_in_gers.id}/contact", follow_redirects=True
    )
    assert "que dans vos départements" in page_text(response)
    db.session.expire_all()
    assert attached_in_gers.structure_id == pending["gers"].id and declared_ariege.structure_id is None
    assert db.session.query(AuditEntry).filter_by(entity_type="registration").count() == 0
    assert db.session.query(Contact).count() == 0


def test_an_organiser_attaches_registrants_but_creates_no_contact(client, login_as, pending, make_user):
    organiser = login_as("organisateur")
    registration = pending["registration"]
    response = post(
        client,
        f"/evenements/rapprochement/inscription/{registration.id}/structure",
        {"structure_id": str(pending["structure"].id)},
    )
    assert response.status_code == 302
    db.session.expire_all()
    assert registration.structure_id == pending["structure"].id
    html = client.get("/evenements/rapprochement?vue=contacts").get_data(as_text=True)
    assert "Hélène Méric" in html and "Créer le contact" not in html
    response = post(client, f"/evenements/rapprochement/inscription/{registration.id}/contact")
    assert response.status_code == 403
    with pytest.raises(ValidationFailed, match="animateurs du département"):
        create_contact(registration, user=organiser)
    db.session.rollback()
    assert db.session.query(Contact).count() == 0
    db.session.expire_all()
    assert registration.contact_id is None
    assert create_contact(registration, user=make_user("animateur", ["31"])).structure_id == pending["structure"].id
