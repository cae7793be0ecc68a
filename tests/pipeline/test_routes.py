"""Opportunity pages: creation (from a structure, an activity, from scratch), detail, edit, stage moves over HTTP."""

import re

import pytest
from sqlalchemy import func, select

from crm.activities.services import log_activity
from crm.pipeline.models import Opportunity, Project, StageChange
from crm.platform.extensions import db
from crm.referential.models import Offer
from tests.conftest import csrf_token, login, post
from tests.pipeline.conftest import move
from workflows.dispatch import process_pending


@pytest.fixture
def animator(make_user):
    return make_user("animateur", ["31"])


@pytest.fixture
def structure(make_structure):
    return make_structure(name="EHPAD Les Tilleuls")


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


# --- creation --------------------------------------------------------------------------------------


def test_create_from_a_structure_defaults_the_owner_to_the_departments_animator(client, make_user, structure, offer):
    animator = make_user("animateur", ["31"])
    login(client, make_user("admin"))
    page = client.get(f"/opportunites/nouvelle?structure_id={structure.id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "EHPAD Les Tilleuls" in html and f'name="structure_id" type="hidden" value="{structure.id}"' in html
    assert '<optgroup label="' in html and "— Par défaut —" in html
    response = post(
        client,
        f"/opportunites/nouvelle?structure_id={structure.id}",
        {
            "offer_id": offer.id,
            "title": "ViaTrajectoire grand âge",
            "need": "Orientations vers l'EHPAD",
            "source": "demande_entrante",
            "owner_id": "",
            "expected_on": "2031-06-30",
        },
    )
    assert response.status_code == 302
    opportunity = db.session.scalars(select(Opportunity)).one()
    assert response.headers["Location"].endswith(f"/opportunites/{opportunity.id}")
    assert opportunity.owner_id == animator.id and opportunity.programme_id == offer.programme_id
    assert opportunity.source == "demande_entrante" and str(opportunity.expected_on) == "2031-06-30"


def test_offer_select_is_grouped_by_programme(client, animator):
    login(client, animator)
    html = client.get("/opportunites/nouvelle").get_data(as_text=True)
    vt = db.session.scalars(select(Offer).where(Offer.code == "VT_GRAND_AGE")).one()
    group = re.search(rf'<optgroup label="([^"]+)">(?:(?!</optgroup>).)*value="{vt.id}"', html, re.S)
    assert group and vt.programme.label in group.group(1)


def test_create_from_an_activity_prefills_structure_need_and_source(client, animator, make_structure, offer):
    cpts = make_structure(name="CPTS du Comminges")
    ehpad = make_structure(name="EHPAD L'Oustal")
    activity = log_activity(
        {
            "kind": "reunion",
            "structure_ids": [cpts.id, ehpad.id],
            "offer_ids": [offer.id],
            "subject": "Réunion parcours",
            "notes": "Besoin d'orientation vers l'EHPAD",
        },
        user=animator,
    )
    login(client, animator)
    html = client.get(f"/opportunites/nouvelle?activity_id={activity.id}").get_data(as_text=True)
    # Two structures: a choice among them, the first one selected.
    assert '<select id="structure_id" name="structure_id"' in html
    assert f'<option value="{cpts.id}" selected>' in html and f'<option value="{ehpad.id}" >' in html
    assert "Besoin d&#39;orientation vers l&#39;EHPAD" in html
    assert f'name="source_activity_id" type="hidden" value="{activity.id}"' in html
    assert '<option selected value="visite">' in html and f'<option selected value="{offer.id}">' in html
    response = post(
        client,
        f"/opportunites/nouvelle?activity_id={activity.id}",
        {
            "structure_id": ehpad.id,
            "offer_id": offer.id,
            "title": "VT pour l'EHPAD",
            "source": "visite",
            "need": "Besoin d'orientation",
            "source_activity_id": activity.id,
        },
    )
    assert response.status_code == 302
    opportunity = db.session.scalars(select(Opportunity)).one()
    assert (opportunity.structure_id, opportunity.source_activity_id) == (ehpad.id, activity.id)
    detail = client.get(f"/opportunites/{opportunity.id}").get_data(as_text=True)
    assert "Réunion du " in detail


def test_activity_with_one_structure_fixes_it(client, animator, structure):
    activity = log_activity(
        {"kind": "visite", "structure_ids": [structure.id], "notes": "Vu la directrice"}, user=animator
    )
    login(client, animator)
    html = client.get(f"/opportunites/nouvelle?activity_id={activity.id}").get_data(as_text=True)
    assert f'name="structure_id" type="hidden" value="{structure.id}"' in html and "Vu la directrice" in html


def test_create_from_scratch_uses_the_structure_autocomplete(client, animator, structure, offer):
    login(client, animator)
    html = client.get("/opportunites/nouvelle").get_data(as_text=True)
    assert 'data-autocomplete="/structures/autocomplete" data-target="structure_id"' in html
    response = post(
        client,
        "/opportunites/nouvelle",
        {"structure_id": structure.id, "offer_id": offer.id, "title": "Téléo", "source": "visite"},
    )
    assert response.status_code == 302 and count(Opportunity) == 1


def test_creation_errors_are_shown_in_french_next_to_the_fields(client, animator, make_structure, offer):
    other = make_structure(name="CH de Béziers", department_code="34")
    login(client, animator)
    response = post(client, "/opportunites/nouvelle", {"structure_id": "", "offer_id": "", "title": ""})
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'id="structure_id-err"' in html and "Donnez un titre à l&#39;opportunité." in html
    assert 'id="offer_id-err"' in html
    response = post(client, "/opportunites/nouvelle", {"structure_id": other.id, "offer_id": offer.id, "title": "X"})
    assert response.status_code == 422 and "pas dans vos départements" in response.get_data(as_text=True)
    # The structure chosen stays in the autocomplete field.
    assert "CH de Béziers" in response.get_data(as_text=True)
    assert count(Opportunity) == 0


@pytest.mark.parametrize(
    "data,field",
    [
        ({"offer_id": "-1"}, "offer_id"),
        ({"offer_id": "999999"}, "offer_id"),
        ({"offer_id": "abc"}, "offer_id"),
        ({"title": "x" * 5000}, "title"),
        ({"need": "x" * 30000}, "need"),
        ({"source": "pigeon"}, "source"),
        ({"owner_id": "999999"}, "owner_id"),
        ({"expected_on": "31/02/2030"}, "expected_on"),
        ({"source_activity_id": "999999"}, "source_activity_id"),
        ({"structure_id": "99999999999999"}, "structure_id"),
        ({"offer_id": "99999999999999"}, "offer_id"),
        ({"owner_id": "99999999999999"}, "owner_id"),
        ({"source_activity_id": "99999999999999"}, "source_activity_id"),
    ],
)
def test_bad_creation_input_is_refused_without_error_500(client, animator, structure, offer, data, field):
    login(client, animator)
    values = {"structure_id": structure.id, "offer_id": offer.id, "title": "Téléo", "source": "visite", **data}
    response = post(client, "/opportunites/nouvelle", values)
    assert response.status_code == 422
    assert f'id="{field}-err"' in response.get_data(as_text=True) or field == "source_activity_id"
    assert count(Opportunity) == 0


def test_a_negative_offer_id_gets_a_plain_message(client, animator, structure):
    login(client, animator)
    response = post(
        client, "/opportunites/nouvelle", {"structure_id": structure.id, "offer_id": "-1", "title": "Téléo"}
    )
    assert '<p class="error" id="offer_id-err">Offre invalide.</p>' in response.get_data(as_text=True)


@pytest.mark.parametrize("query", ["structure_id=999999", "activity_id=999999"])
def test_unknown_structure_or_activity_in_the_url_is_404(client, animator, query):
    login(client, animator)
    assert client.get(f"/opportunites/nouvelle?{query}").status_code == 404


def test_unknown_opportunity_is_404(client, animator):
    login(client, animator)
    for url in ("/opportunites/999999", "/opportunites/999999/modifier", "/opportunites/99999999999"):
        assert client.get(url).status_code == 404
    assert move(client, 999999, {"stage": "qualifiee"}).status_code == 404
    assert client.get("/opportunites/abc").status_code == 404


# --- detail and edit ---------------------------------------------------------------------------------


def test_detail_shows_the_full_stage_history(client, animator, structure, make_opportunity, reason):
    opportunity = make_opportunity(structure, animator)
    login(client, animator)
    assert move(client, opportunity.id, {"stage": "qualifiee"}).status_code == 200
    assert (
        move(
            client, opportunity.id, {"stage": "perdue", "reason_id": reason.id, "comment": "Budget voté en 2027"}
        ).status_code
        == 200
    )
    html = client.get(f"/opportunites/{opportunity.id}").get_data(as_text=True)
    history = html[html.index("Historique des étapes") :]
    assert "Création → Identifiée" in history and "Identifiée → Qualifiée" in history
    assert "Qualifiée → Perdue" in history and reason.label in history and "Budget voté en 2027" in history
    assert history.count(animator.display_name) == 3
    assert "Cette opportunité est close" in html


def test_detail_offers_the_allowed_moves_and_a_reason_form(client, animator, structure, make_opportunity, reason):
    opportunity = make_opportunity(structure, animator, stage="qualifiee")
    login(client, animator)
    html = client.get(f"/opportunites/{opportunity.id}").get_data(as_text=True)
    assert "Revenir en « Identifiée »" in html and "Passer en « Proposée »" in html
    assert html.index("Passer en « Proposée »") < html.index("Marquer gagnée") < html.index("Revenir en")
    assert "Passer en « Qualifiée »" not in html and "Marquer gagnée (crée le projet)" in html
    assert 'name="reason_id" required' in html and reason.label in html


def test_edit_opportunity(client, animator, structure, make_opportunity, make_user):
    other = make_user("animateur", ["31"])
    opportunity = make_opportunity(structure, animator)
    login(client, animator)
    page = client.get(f"/opportunites/{opportunity.id}/modifier")
    assert page.status_code == 200 and 'name="version" type="hidden" value="1"' in page.get_data(as_text=True)
    response = post(
        client,
        f"/opportunites/{opportunity.id}/modifier",
        {
            "title": "VT grand âge – 2 EHPAD",
            "need": "Deux sites",
            "owner_id": other.id,
            "expected_on": "",
            "version": opportunity.version,
        },
    )
    assert response.status_code == 302
    db.session.expire_all()
    saved = db.session.get(Opportunity, opportunity.id)
    assert saved.title == "VT grand âge – 2 EHPAD" and saved.owner_id == other.id
    response = post(client, f"/opportunites/{opportunity.id}/modifier", {"title": "", "version": saved.version})
    assert response.status_code == 422 and "Donnez un titre" in response.get_data(as_text=True)


def test_edit_with_a_stale_version_is_409(client, animator, structure, make_opportunity):
    opportunity = make_opportunity(structure, animator)
    login(client, animator)
    response = post(client, f"/opportunites/{opportunity.id}/modifier", {"title": "Autre", "version": "0"})
    assert response.status_code == 409 and "modifiée entre-temps" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Opportunity, opportunity.id).title == "ViaTrajectoire grand âge"


# --- stage changes over HTTP -----------------------------------------------------------------------

ALLOWED = [
    ("identifiee", "qualifiee"),
    ("identifiee", "proposee"),
    ("qualifiee", "proposee"),
    ("proposee", "qualifiee"),
    ("qualifiee", "identifiee"),
    ("identifiee", "gagnee"),
    ("proposee", "gagnee"),
    ("qualifiee", "perdue"),
    ("proposee", "abandonnee"),
]
REFUSED = [
    ("gagnee", "proposee", "close"),
    ("perdue", "identifiee", "close"),
    ("abandonnee", "qualifiee", "close"),
    ("gagnee", "perdue", "close"),
    ("qualifiee", "qualifiee", "déjà"),
    ("identifiee", "xyz", "Étape inconnue"),
    ("identifiee", "", "Étape inconnue"),
]


@pytest.mark.parametrize("from_stage,to_stage", ALLOWED)
def test_allowed_moves_over_json(client, animator, structure, make_opportunity, reason, from_stage, to_stage):
    opportunity = make_opportunity(structure, animator, stage=from_stage)
    login(client, animator)
    version = opportunity.version
    data = {"stage": to_stage, "version": version}
    if to_stage in ("perdue", "abandonnee"):
        data["reason_id"] = reason.id
    response = move(client, opportunity.id, data)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["ok"] is True and body["stage"] == to_stage and body["version"] == version + 1
    assert sum(body["counts"].values()) == 1
    db.session.expire_all()
    assert db.session.get(Opportunity, opportunity.id).stage == to_stage
    last = db.session.scalars(select(StageChange).order_by(StageChange.id.desc())).first()
    assert (last.from_stage, last.to_stage, last.changed_by_id) == (from_stage, to_stage, animator.id)


@pytest.mark.parametrize("from_stage,to_stage,words", REFUSED)
def test_refused_moves_answer_422_in_french(
    client, animator, structure, make_opportunity, reason, from_stage, to_stage, words
):
    opportunity = make_opportunity(structure, animator, stage=from_stage)
    login(client, animator)
    changes = count(StageChange)
    response = move(client, opportunity.id, {"stage": to_stage, "reason_id": reason.id})
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert words in error["message"] and words in error["fields"]["stage"]
    assert count(StageChange) == changes


@pytest.mark.parametrize("to_stage", ["perdue", "abandonnee"])
def test_lost_and_abandoned_need_a_reason(client, animator, structure, make_opportunity, reason, to_stage):
    opportunity = make_opportunity(structure, animator, stage="proposee")
    login(client, animator)
    response = move(client, opportunity.id, {"stage": to_stage})
    assert response.status_code == 422 and "raison" in response.get_json()["error"]["fields"]["stage"]
    response = move(client, opportunity.id, {"stage": to_stage, "reason_id": reason.id, "comment": "Plus tard"})
    assert response.status_code == 200
    db.session.expire_all()
    saved = db.session.get(Opportunity, opportunity.id)
    assert saved.stage == to_stage and saved.loss_reason_id == reason.id and saved.closed_on is not None


@pytest.mark.parametrize(
    "data,field",
    [
        ({"stage": "perdue", "reason_id": "abc"}, "reason_id"),
        ({"stage": "perdue", "reason_id": "999999"}, "reason_id"),
        ({"stage": "perdue", "reason_id": "-3"}, "reason_id"),
        ({"stage": "perdue", "reason_id": "99999999999999"}, "reason_id"),
        ({"stage": "qualifiee", "comment": "x" * 600}, "comment"),
        ({"stage": "qualifiee", "version": "abc"}, "version"),
        ({"stage": "qualifiee", "version": "9" * 30}, "version"),
        ({"stage": "x" * 5000}, "stage"),
    ],
)
def test_bad_stage_input_is_422_not_500(client, animator, structure, make_opportunity, data, field):
    opportunity = make_opportunity(structure, animator)
    login(client, animator)
    response = move(client, opportunity.id, data)
    assert response.status_code == 422 and field in response.get_json()["error"]["fields"]


def test_plain_form_moves_redirect_with_a_message(client, animator, structure, make_opportunity):
    opportunity = make_opportunity(structure, animator)
    login(client, animator)
    response = move(
        client, opportunity.id, {"stage": "qualifiee", "version": 1, "next": "/pipeline?departement=31"}, json=False
    )
    assert response.status_code == 302 and response.headers["Location"] == "/pipeline?departement=31"
    html = client.get("/pipeline?departement=31").get_data(as_text=True)
    assert "Opportunité passée en « Qualifiée »." in html
    # Refused: back where the user was, with the French reason.
    response = move(client, opportunity.id, {"stage": "qualifiee", "next": "/pipeline"}, json=False)
    assert response.status_code == 302 and response.headers["Location"] == "/pipeline"
    assert "déjà à l&#39;étape « Qualifiée »" in client.get("/pipeline").get_data(as_text=True)
    # An outside "next" is ignored.
    response = move(client, opportunity.id, {"stage": "proposee", "next": "https://evil.example/"}, json=False)
    assert response.headers["Location"].endswith(f"/opportunites/{opportunity.id}")


def test_plain_form_lost_without_reason_goes_to_the_reason_form(client, animator, structure, make_opportunity):
    opportunity = make_opportunity(structure, animator)
    login(client, animator)
    response = move(client, opportunity.id, {"stage": "abandonnee", "next": "/pipeline"}, json=False)
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/opportunites/{opportunity.id}?etape=abandonnee#etape")
    html = client.get(f"/opportunites/{opportunity.id}?etape=abandonnee").get_data(as_text=True)
    assert "Indiquez la raison" in html and '<option value="abandonnee" selected>' in html


def test_won_creates_the_project_and_links_it(client, animator, structure, make_opportunity):
    opportunity = make_opportunity(structure, animator, stage="proposee")
    login(client, animator)
    response = move(client, opportunity.id, {"stage": "gagnee"}, json=False)
    assert response.status_code == 302
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert (
        "Opportunité gagnée : le projet est en cours de création. "
        f'<a href="/structures/{structure.id}#projets">Voir les projets de la structure</a>'
    ) in html
    assert "En cours de création (règle automatique)" in html
    process_pending()  # the won_opportunity_project rule
    project = db.session.scalars(select(Project)).one()
    assert project.opportunity_id == opportunity.id
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert f'href="/projets/{project.id}"' in html


def test_won_over_json_says_the_project_is_coming(client, animator, structure, make_opportunity):
    opportunity = make_opportunity(structure, animator)
    login(client, animator)
    body = move(client, opportunity.id, {"stage": "gagnee"}).get_json()
    assert body["message"] == "Opportunité gagnée : le projet est en cours de création."
    assert body["link"] == {"href": f"/structures/{structure.id}#projets", "label": "Voir les projets de la structure"}
    assert body["counts"]["gagnee"] == 1 and body["counts"]["identifiee"] == 0


def test_stale_version_is_409(client, animator, structure, make_opportunity):
    opportunity = make_opportunity(structure, animator)
    login(client, animator)
    assert move(client, opportunity.id, {"stage": "qualifiee", "version": 1}).status_code == 200
    response = move(client, opportunity.id, {"stage": "proposee", "version": 1})
    assert response.status_code == 409 and "modifiée entre-temps" in response.get_json()["error"]["message"]
    response = move(client, opportunity.id, {"stage": "proposee", "version": 1, "next": "/pipeline"}, json=False)
    assert response.status_code == 302
    assert "modifiée entre-temps" in client.get("/pipeline").get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Opportunity, opportunity.id).stage == "qualifiee"


@pytest.mark.parametrize("json", [True, False])
def test_missing_or_forged_csrf_is_400(client, animator, structure, make_opportunity, json):
    opportunity = make_opportunity(structure, animator)
    login(client, animator)
    for token in (False, "forged-token"):
        response = move(client, opportunity.id, {"stage": "qualifiee"}, json=json, token=token)
        assert response.status_code == 400
        if json:
            assert "jeton de sécurité" in response.get_json()["error"]["message"]
    response = client.post("/opportunites/nouvelle", data={"title": "X"})
    assert response.status_code == 400
    db.session.expire_all()
    assert db.session.get(Opportunity, opportunity.id).stage == "identifiee"


def test_counts_in_the_json_answer_follow_the_boards_filters(
    client, animator, make_user, make_structure, make_opportunity
):
    here = make_structure(name="EHPAD A")
    there = make_structure(name="EHPAD B", department_code="81")
    opportunity = make_opportunity(here, animator)
    make_opportunity(here, animator, title="Autre")
    make_opportunity(there, make_user("admin"), title="Ailleurs")
    login(client, animator)
    response = client.post(
        f"/opportunites/{opportunity.id}/etape?departement=31",
        data={"stage": "qualifiee"},
        headers={"Accept": "application/json", "X-CSRFToken": csrf_token(client)},
    )
    assert response.get_json()["counts"] == {
        "identifiee": 1,
        "qualifiee": 1,
        "proposee": 0,
        "gagnee": 0,
        "perdue_abandonnee": 0,
    }
