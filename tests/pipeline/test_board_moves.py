"""The board's move endpoint over JSON: the card it answers with is the one a reload shows, the announcement
names the card, and the server's rules hold (roles, departments, CSRF, the reason of a lost opportunity)."""

import re
from datetime import timedelta

import pytest
from sqlalchemy import update

from crm.pipeline.models import Opportunity
from crm.platform.extensions import db
from crm.platform.models import utcnow
from tests.conftest import csrf_token, login
from tests.pipeline.conftest import move


@pytest.fixture
def animator(make_user):
    return make_user("animateur", ["31"])


def article(html: str, opportunity_id: int) -> str:
    match = re.search(rf'<article[^>]*id="opportunite-{opportunity_id}".*?</article>', html, re.S)
    assert match, html[:2000]
    # The CSRF token is signed per request and the "next" address is the page's: the rest is the same card.
    text = re.sub(r'name="(csrf_token|next)" value="[^"]*"', r'name="\1"', match.group(0))
    return re.sub(r"\s+", " ", text)


def test_the_answer_carries_the_card_a_reload_shows(client, animator, make_structure, make_opportunity):
    structure = make_structure(name="EHPAD L'Oustal")
    opportunity = make_opportunity(structure, animator, title="Téléo <SSIAD>")
    db.session.execute(
        update(Opportunity)
        .where(Opportunity.id == opportunity.id)
        .values(stage_changed_at=utcnow() - timedelta(days=9))
    )
    db.session.commit()
    login(client, animator)
    assert "9 j dans l'étape" in article(client.get("/pipeline").get_data(as_text=True), opportunity.id)

    response = move(client, opportunity.id, {"stage": "qualifiee", "version": opportunity.version, "next": "/pipeline"})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["announcement"] == "« Téléo <SSIAD> » (EHPAD L'Oustal) déplacée vers Qualifiée."
    assert body["message"] == "Opportunité passée en « Qualifiée »."
    card = article(body["card"], opportunity.id)
    assert "0 j dans l'étape" in card and "Téléo &lt;SSIAD&gt;" in card  # autoescaped, as on the page
    assert f'data-version="{body["version"]}"' in card
    assert re.findall(r'name="stage" value="(\w+)"', card) == [
        "proposee",
        "gagnee",
        "identifiee",
        "perdue",
        "abandonnee",
    ]
    assert card == article(client.get("/pipeline").get_data(as_text=True), opportunity.id)

    # Won: the card closes (no menu, not draggable) and the announcement says the project is coming.
    body = move(client, opportunity.id, {"stage": "gagnee", "next": "/pipeline"}).get_json()
    assert body["announcement"] == (
        "« Téléo <SSIAD> » (EHPAD L'Oustal) déplacée vers Gagnée : le projet est en cours de création."
    )
    card = article(body["card"], opportunity.id)
    assert "data-move-form" not in card and "draggable" not in card and "Gagnée le" in card
    assert card == article(client.get("/pipeline").get_data(as_text=True), opportunity.id)


def test_lost_still_needs_its_reason_over_json(client, animator, make_structure, make_opportunity, reason):
    opportunity = make_opportunity(make_structure(), animator)
    login(client, animator)
    response = move(client, opportunity.id, {"stage": "perdue"})
    assert response.status_code == 422 and "raison" in response.get_json()["error"]["message"]
    body = move(client, opportunity.id, {"stage": "perdue", "reason_id": reason.id}).get_json()
    assert body["ok"] and body["counts"]["perdue_abandonnee"] == 1 and "Perdue le" in body["card"]


def test_who_may_move_a_card(client, animator, make_user, make_structure, make_opportunity):
    opportunity = make_opportunity(make_structure(), animator)
    for outsider in (make_user("manager"), make_user("animateur", ["81"]), make_user("organisateur")):
        login(client, outsider)
        response = move(client, opportunity.id, {"stage": "qualifiee"})
        assert response.status_code == 403, outsider.role
        assert "card" not in (response.get_json() or {})
        client.post("/deconnexion", data={"csrf_token": csrf_token(client)})
    login(client, animator)
    for token in (False, "forged"):
        response = move(client, opportunity.id, {"stage": "qualifiee"}, token=token)
        assert response.status_code == 400 and "jeton de sécurité" in response.get_json()["error"]["message"]
    db.session.expire_all()
    assert db.session.get(Opportunity, opportunity.id).stage == "identifiee"
    assert move(client, opportunity.id, {"stage": "qualifiee"}).status_code == 200
