"""No destructive default outside the events: closing an opportunity is an explicit choice confirmed
first; revoking a token, disabling a rule and deleting records ask for confirmation."""

import re
from html import unescape

from crm.accounts.services import create_api_token
from crm.platform.extensions import db
from tests.conftest import post


def test_closing_an_opportunity_has_no_preselected_outcome_and_asks_first(
    client, login_as, make_structure, make_opportunity
):
    animator = login_as("animateur", ["31"])
    opportunity = make_opportunity(make_structure(), animator)
    html = unescape(client.get(f"/opportunites/{opportunity.id}").get_data(as_text=True))
    form = re.search(r'<form[^>]*class="close-form"[^>]*>', html).group(0)
    assert 'data-confirm="Clore cette opportunité sans projet' in form
    select = re.search(r'<select id="close-stage"[^>]*>(.*?)</select>', html, re.S).group(1)
    first = re.search(r"<option[^>]*>", select).group(0)
    assert 'value=""' in first and "selected" not in select


def test_closing_without_an_outcome_is_refused_and_changes_nothing(client, login_as, make_structure, make_opportunity):
    animator = login_as("animateur", ["31"])
    opportunity = make_opportunity(make_structure(), animator)
    response = post(client, f"/opportunites/{opportunity.id}/etape", {"stage": "", "reason_id": "", "version": "1"})
    assert response.status_code in (302, 422)
    db.session.expire_all()
    assert opportunity.stage == "identifiee"


def test_revoking_a_token_asks_first(client, login_as):
    user = login_as("animateur")
    create_api_token(user)
    html = unescape(client.get("/mon-compte/jetons").get_data(as_text=True))
    revoke = re.search(r'<form[^>]*action="/mon-compte/jetons/\d+/revoquer"[^>]*>', html).group(0)
    assert 'data-confirm="Révoquer ce jeton' in revoke


def test_disabling_a_rule_asks_first_enabling_does_not(client, login_as):
    login_as("admin")
    html = unescape(client.get("/admin/regles/").get_data(as_text=True))
    toggles = re.findall(r'<form[^>]*action="/admin/regles/[^"]+/activation"[^>]*>', html)
    assert toggles and all('data-confirm="Désactiver la règle' in form for form in toggles)


def test_deleting_a_structure_or_an_activity_asks_first(client, login_as, make_structure):
    from crm.activities.services import log_activity

    admin = login_as("admin")
    structure = make_structure()
    html = unescape(client.get(f"/structures/{structure.id}").get_data(as_text=True))
    assert 'data-confirm="Supprimer définitivement cette structure' in html
    activity = log_activity({"kind": "visite", "structure_ids": [structure.id]}, user=admin)
    html = unescape(client.get(f"/activites/{activity.id}").get_data(as_text=True))
    assert 'data-confirm="Supprimer définitivement cette activité' in html
