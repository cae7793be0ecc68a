"""Every route of the application is guarded on the server, including the ones added later.

The URL map is walked, not a hand-kept list: a new route that forgets its login or role check
fails here. Public routes are named below, each with why it is public.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from crm.mail.models import EmailMessage
from crm.platform.dates import local_today
from crm.platform.extensions import db
from crm.platform.models import OutboxEvent, utcnow
from tests.conftest import csrf_token, login

# Reachable without an account, on purpose.
PUBLIC = {
    "static": "stylesheets and scripts",
    "accounts.login": "the login page itself",
    "core.health": "the load balancer's health check (no data)",
    "core.favicon": "the site's icon, asked for by browsers on every site",
    "core.accessibility": "the accessibility statement (RGAA), linked from every page, public ones included",
    "api.openapi": "the API's description, no data",
    "public_events.show": "an event's public page and registration form (professionals have no account)",
    "public_events.confirmation": "the registration's confirmation page",
    "public_events.cancel": "cancellation by the personal link sent by email",
    "public_events.structures": "the registration form's structure autocomplete (id, name, commune only)",
    "survey_public.answer": "the satisfaction survey by the personal link sent by email",
    "calendar.public_feed": "the public calendar of published events",
    "calendar.event_download": "a published event's invitation (.ics)",
    "calendar.personal_feed": "a staff member's calendar, at a signed secret URL (calendar apps have no session)",
}
# Reachable by any logged-in user, whatever the role.
ANY_ROLE_WRITES = {
    "accounts.logout": "everyone may log out",
    "accounts.change_password": "everyone changes their own password",
    "accounts.api_tokens": "everyone creates their own API tokens",
    "accounts.revoke_api_token": "everyone revokes their own API tokens (another's is a 404)",
}
# What a role other than animateur/admin may write anyway, by endpoint (a role's own work).
ROLE_WRITES = {
    # Managers set the targets of the yearly objectives note (issue 13).
    "manager": {
        "targets.grid",
        "targets.programmes",
        "targets.copy",
        "targets.import_",
        "api.put_target",
        "api.post_target",
        "api.delete_target",
        "yearly.notes",  # the notes of the yearly pack are the managers' own writing
    },
    # Organisers keep their own follow-ups and run the events.
    "organisateur": {
        "tasks.mine",
        "api.create_task",
        "api.create_event",
        "api.update_event",
        "api.create_registration",
        "api.update_registration",
        "networks.invite",  # invite an offer's référents to their event (issue 14)
    },
}
# Blueprints whose writes are the organisers' own work.
ORGANISER_BLUEPRINTS = ("events.", "event_followup.", "event_matching.")  # matching: their registrants
WRITE_METHODS = ("POST", "PATCH", "PUT", "DELETE")


@pytest.fixture
def records(make_user, make_structure):
    """One record of each kind, so that every URL argument points at something that exists."""
    from crm.activities.services import log_activity
    from crm.pipeline import services as pipeline
    from crm.pipeline.models import Milestone
    from crm.referential.models import Offer
    from crm.structures import contacts
    from crm.structures.models import ImportRun
    from crm.tasks.services import create_task

    animator = make_user("animateur", ["31"])
    structure = make_structure(name="EHPAD de la garde")
    contact = contacts.save_contact(
        structure, None, {"first_name": "Anne", "last_name": "Garde", "email": "anne.garde@example.org"}
    )
    offer = db.session.scalars(select(Offer).where(Offer.code == "VT_GRAND_AGE")).one()
    activity = log_activity(
        {"kind": "visite", "occurred_on": local_today().isoformat(), "structure_ids": [structure.id]}, user=animator
    )
    opportunity = pipeline.create_opportunity(
        {"structure_id": structure.id, "offer_id": offer.id, "title": "Garde"}, user=animator
    )
    project = pipeline.create_project(
        {"structure_id": structure.id, "offer_id": offer.id, "title": "Projet"}, user=animator
    )
    pipeline.add_milestone(project, {"label": "Lancement", "due_on": local_today().isoformat()}, user=animator)
    milestone = db.session.scalars(select(Milestone)).first()
    task = create_task({"title": "Rappeler", "structure_id": structure.id}, user=animator)
    run = ImportRun(kind="finess", filename="f.csv", status="termine")
    db.session.add(run)
    db.session.commit()
    from crm.events import services as events
    from crm.events.models import EventType
    from crm.events.registration.registrations import register

    organiser = make_user("organisateur")
    start = utcnow().replace(microsecond=0) + timedelta(days=10)
    event = events.create_event(
        {
            "type_id": db.session.scalars(select(EventType.id)).first(),
            "title": "TOP",
            "starts_at": start,
            "ends_at": start + timedelta(hours=7),
            "place_name": "Salle",
            "department_code": "31",
        },
        user=organiser,
    )
    events.change_status(event, "publie", user=organiser)
    events.duplicate_event(event, {}, user=organiser)
    registration, _ = register(
        event,
        {
            "first_name": "Anne",
            "last_name": "Garde",
            "email": "anne@example.org",
            "structure_name": "EHPAD",
            "department_code": "31",
        },
        source="public",
    )
    db.session.commit()
    from crm.networks import services as networks  # issue 14: a référent, a grappe, an application, a link

    referent = networks.name_referent({"contact_id": contact.id, "offer_id": offer.id}, user=animator)
    grappe = networks.save_grappe(None, {"name": "Grappe", "lead_structure_id": structure.id}, user=animator)
    application = networks.save_application(
        None, {"programme": "esms_numerique", "call": "Vague 1"}, user=animator, grappe=grappe
    )
    partner = make_structure(name="DAC de la garde")
    link = networks.add_link(
        {"structure_a_id": structure.id, "structure_b_id": partner.id, "type_id": networks.link_types()[0].id},
        user=animator,
    )
    from workflows.dispatch import process_pending

    process_pending()  # the rules' work: the registration's email, the message_id below
    db.session.refresh(event)
    return {
        "structure_id": structure.id,
        "contact_id": contact.id,
        "activity_id": activity.id,
        "opportunity_id": opportunity.id,
        "project_id": project.id,
        "milestone_id": milestone.id,
        "task_id": task.id,
        "run_id": run.id,
        "offer_id": offer.id,  # the services' offer settings page (issue 14)
        "user_id": animator.id,
        "name": "secteurs",
        "key": "1",
        "filename": "css/app.css",
        "event_id": event.id,
        "registration_id": registration.id,
        "series_id": event.series_id,
        "index": 0,
        "token_id": 1,
        "target_id": 1,
        "message_id": db.session.scalars(select(EmailMessage.id)).first(),
        "slug": event.slug,
        "token": "x",
        "fmt": "csv",
        "indicator": "participation",
        "rule_name": "registration_emails",
        # The outbox admin (admin only: no entry in PUBLIC nor ROLE_WRITES).
        "outbox_event_id": db.session.scalars(select(OutboxEvent.id)).first(),
        "referent_id": referent.id,
        "grappe_id": grappe.id,
        "application_id": application.id,
        "link_id": link.id,
    }


def _routes(app):
    for rule in app.url_map.iter_rules():
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule, method


def _url(app, rule, records) -> str:
    with app.test_request_context():
        from flask import url_for

        return url_for(rule.endpoint, **{arg: records[arg] for arg in rule.arguments})


def _outbox_count() -> int:
    return db.session.scalar(select(func.count()).select_from(OutboxEvent))


def test_every_route_needs_an_account(app, client, records):
    token = csrf_token(client)
    checked = 0
    before = _outbox_count()
    for rule, method in _routes(app):
        if rule.endpoint in PUBLIC:
            continue
        url = _url(app, rule, records)
        response = client.open(url, method=method, data={"csrf_token": token}, headers={"X-CSRFToken": token})
        where = f"{method} {url}"
        if rule.rule.startswith("/api/"):
            assert response.status_code == 401, where
            assert response.is_json, where
        else:
            assert response.status_code == 302, where
            assert re.search(r"/connexion(\?|$)", response.headers["Location"]), where
        checked += 1
    assert checked > 50
    assert _outbox_count() == before  # nothing was written on the way


@pytest.mark.parametrize("role", ["manager", "organisateur"])
def test_read_only_roles_cannot_write_anywhere(app, client, make_user, records, role):
    """Managers and event organisers read the animators' records; every write is refused on the server
    (an organiser's own follow-ups excepted)."""
    user = make_user(role, [])
    login(client, user)
    token = csrf_token(client)
    before = _outbox_count()
    for rule, method in _routes(app):
        if (
            method not in WRITE_METHODS
            or rule.endpoint in PUBLIC
            or rule.endpoint in ANY_ROLE_WRITES
            or rule.endpoint in ROLE_WRITES[role]
            or (role == "organisateur" and rule.endpoint.startswith(ORGANISER_BLUEPRINTS))
        ):
            continue
        if rule.rule.startswith("/api/"):
            continue  # the API is token-only; its role rules are checked in tests/api
        url = _url(app, rule, records)
        response = client.open(url, method=method, data={"csrf_token": token}, headers={"X-CSRFToken": token})
        assert response.status_code == 403, f"{role}: {method} {url} -> {response.status_code}"
    assert _outbox_count() == before


def test_read_only_roles_cannot_write_through_the_api(app, client, make_user, records):
    from crm.accounts.services import create_api_token

    for role in ("manager", "organisateur"):
        token = create_api_token(make_user(role, []))
        db.session.commit()
        before = _outbox_count()
        for rule, method in _routes(app):
            if method not in WRITE_METHODS or not rule.rule.startswith("/api/") or rule.endpoint in ROLE_WRITES[role]:
                continue
            url = _url(app, rule, records)
            response = client.open(url, method=method, json={}, headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 403, f"{role}: {method} {url} -> {response.status_code}"
            assert response.is_json
        assert _outbox_count() == before
