"""The admin page "Règles automatiques": every rule, its switch and settings (admins only, with CSRF),
its counters and last runs; a change is audited and written to the outbox."""

from sqlalchemy import select

from crm.events.registration import registrations
from crm.platform.extensions import db
from crm.platform.models import AuditEntry, OutboxEvent
from tests.conftest import csrf_token, login, post
from tests.events.conftest import page_text, person
from tests.workflows.conftest import outbox, process, set_rule, state
from workflows.models import RuleRun
from workflows.registry import all_rules


def test_admin_index_links_to_the_rules_and_lists_every_rule(client, login_as):
    login_as("admin")
    assert 'href="/admin/regles/"' in client.get("/admin/").get_data(as_text=True)
    response = client.get("/admin/regles/")
    assert response.status_code == 200
    html = page_text(response)
    for rule in all_rules():
        assert rule.label in html and rule.description in html
        assert f'data-rule="{rule.name}"' in html
    assert "registration.created" in html and "Planifiée (vérifiée toutes les 5 min)" in html


def test_a_rule_page_shows_its_runs_counters_and_last_failure(client, login_as, make_event):
    event = make_event(capacity=5)
    registration, _ = registrations.register(event, person(1), source="public")
    process()
    set_rule("registration_emails")
    db.session.add(RuleRun(rule="registration_emails", outcome="echec", detail="SMTP : boîte pleine"))
    from sqlalchemy import update

    from workflows.models import WorkflowRuleState

    db.session.execute(
        update(WorkflowRuleState)
        .where(WorkflowRuleState.name == "registration_emails")
        .values(failures=1, last_error="RuntimeError: boîte pleine")
    )
    db.session.commit()
    login_as("admin")
    html = page_text(client.get("/admin/regles/registration_emails"))
    assert "Emails d'inscription" in html and "registration.resend_requested" in html
    assert f"Email « confirmation » à l'inscription {registration.id}" in html
    assert "SMTP : boîte pleine" in html and "RuntimeError: boîte pleine" in html
    assert 'data-count="runs">1<' in html and 'data-count="failures">1<' in html
    assert client.get("/admin/regles/inconnue").status_code == 404


def test_only_admins_see_or_change_the_rules(client, make_user):
    assert client.get("/admin/regles/").status_code == 302  # to the login page
    for role in ("animateur", "organisateur", "manager"):
        user = make_user(role, ["31"] if role == "animateur" else [])
        login(client, user)
        assert client.get("/admin/regles/").status_code == 403
        assert client.get("/admin/regles/event_reminder").status_code == 403
        assert post(client, "/admin/regles/event_reminder/activation", {"enabled": "0"}).status_code == 403
        assert post(client, "/admin/regles/event_reminder/reglages", {"days_before": "3"}).status_code == 403
        client.post("/deconnexion", data={"csrf_token": csrf_token(client)})
    assert state("event_reminder") is None or state("event_reminder").enabled
    assert outbox("workflow_rule.changed") == []


def test_switching_a_rule_off_and_on_needs_csrf_and_is_audited(client, login_as):
    admin = login_as("admin")
    assert client.post("/admin/regles/event_reminder/activation", data={"enabled": "0"}).status_code == 400
    assert state("event_reminder") is None or state("event_reminder").enabled

    response = post(client, "/admin/regles/event_reminder/activation", {"enabled": "0", "next": "index"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/admin/regles/")
    assert state("event_reminder").enabled is False
    assert "Règle « Rappel avant l'événement » désactivée." in page_text(client.get("/admin/regles/"))
    [event] = outbox("workflow_rule.changed")
    assert event.payload == {"rule": "event_reminder", "enabled": False, "settings": {}}
    assert event.actor_id == admin.id
    audit = db.session.scalars(select(AuditEntry).where(AuditEntry.entity_type == "rule_event_reminder")).one()
    assert audit.changes == {"enabled": [True, False]} and audit.user_id == admin.id

    post(client, "/admin/regles/event_reminder/activation", {"enabled": "0"})  # already off: nothing written
    assert len(outbox("workflow_rule.changed")) == 1
    post(client, "/admin/regles/event_reminder/activation", {"enabled": "1"})
    assert state("event_reminder").enabled is True and len(outbox("workflow_rule.changed")) == 2


def test_settings_are_validated_whole_numbers_with_french_errors(client, login_as):
    login_as("admin")
    assert client.post("/admin/regles/event_survey/reglages", data={"hours_after": "3"}).status_code == 400
    response = post(client, "/admin/regles/event_survey/reglages", {"hours_after": "deux", "max_days_after": "999"})
    assert response.status_code == 422
    html = page_text(response)
    assert "Nombre entier attendu (entre 0 et 72)." in html and "Valeur attendue entre 4 et 60." in html
    assert 'value="deux"' in html  # what was typed stays in the field
    assert (state("event_survey").settings or {}) == {} and outbox("workflow_rule.changed") == []
    response = post(client, "/admin/regles/event_survey/reglages", {"hours_after": "", "max_days_after": "10"})
    assert response.status_code == 422 and "Ce champ est obligatoire." in page_text(response)

    response = post(client, "/admin/regles/event_survey/reglages", {"hours_after": "4", "max_days_after": "14"})
    assert response.status_code == 302
    assert state("event_survey").settings == {"hours_after": 4, "max_days_after": 14}
    [event] = outbox("workflow_rule.changed")
    audit = db.session.scalars(select(AuditEntry).where(AuditEntry.entity_type == "rule_event_survey")).one()
    assert audit.changes == {"hours_after": [2, 4]}
    assert 'value="4"' in page_text(client.get("/admin/regles/event_survey"))
    # The sweep reads the new value (see the rule's own tests for its effect).
    from workflows.dispatch import rule_states, settings_for

    rule = next(r for r in all_rules() if r.name == "event_survey")
    assert settings_for(rule, rule_states()["event_survey"])["hours_after"] == 4
    assert db.session.scalar(select(OutboxEvent.id).where(OutboxEvent.type == "workflow_rule.changed"))
