"""The structure page's 360° view: timeline, follow-ups, opportunities, engagements, buttons, bounded queries."""

from datetime import date, timedelta
from html import unescape

import pytest
from sqlalchemy import event, select

from crm.activities import services as activities
from crm.pipeline import services as pipeline
from crm.platform.dates import local_today
from crm.platform.extensions import db
from crm.referential.models import Offer
from crm.structures.contacts import save_contact
from crm.tasks import services as tasks
from tests.conftest import login, post


def page_text(response) -> str:
    assert response.status_code == 200
    return unescape(response.get_data(as_text=True))


def offer(code: str) -> Offer:
    return db.session.scalars(select(Offer).where(Offer.code == code)).one()


@pytest.fixture
def animator(make_user):
    return make_user("animateur", ["31"])


def test_timeline_newest_first_with_its_details(client, animator, make_structure, make_user):
    structure = make_structure(name="EHPAD Les Tilleuls")
    partner = make_structure(name="CPTS du Lauragais")
    old = activities.log_activity(
        {
            "kind": "appel",
            "structure_ids": [structure.id],
            "subject": "Premier appel",
            "occurred_on": (local_today() - timedelta(days=30)).isoformat(),
        },
        user=animator,
    )
    new = activities.log_activity(
        {
            "kind": "reunion",
            "structure_ids": [structure.id, partner.id],
            "subject": "Réunion CPTS",
            "is_information": True,
            "offer_ids": [offer("SPICO_DOSSIERS").id],
        },
        user=animator,
    )
    login(client, make_user("manager"))
    html = page_text(client.get(f"/structures/{structure.id}"))
    assert "Activités (2)" in html
    assert html.index("Réunion CPTS") < html.index("Premier appel")
    assert f'href="/activites/{new.id}"' in html and f'href="/activites/{old.id}"' in html
    assert "Information" in html and animator.display_name in html
    assert f'href="/structures/{partner.id}">CPTS du Lauragais</a>' in html
    assert local_today().strftime("%d/%m/%Y") in html
    assert "Voir les" not in html


def test_timeline_is_limited_with_a_link_to_the_list(client, animator, make_structure):
    structure = make_structure()
    for i in range(53):
        activities.log_activity(
            {"kind": "appel", "structure_ids": [structure.id], "subject": f"Appel n°{i}"}, user=animator
        )
    login(client, animator)
    html = page_text(client.get(f"/structures/{structure.id}"))
    assert "Activités (53)" in html and html.count("<time datetime=") == 50
    assert f'href="/activites?structure={structure.id}">Voir les 53 activités' in html


def test_follow_ups_opportunities_and_engagements(client, animator, make_structure, make_user):
    structure = make_structure(name="CH de Muret")
    colleague = make_user("animateur", ["31"])
    tasks.create_task(
        {
            "title": "Relancer la DSI",
            "structure_id": structure.id,
            "due_on": (local_today() - timedelta(days=1)).isoformat(),
        },
        user=colleague,
    )
    done = tasks.create_task({"title": "Tâche finie", "structure_id": structure.id}, user=colleague)
    tasks.set_done(done, True, user=colleague)
    spico, via = offer("SPICO_DOSSIERS"), offer("SPICO_DISCUSSIONS")
    open_one = pipeline.create_opportunity(
        {"structure_id": structure.id, "offer_id": via.id, "title": "Messagerie des équipes"}, user=animator
    )
    won = pipeline.create_opportunity(
        {"structure_id": structure.id, "offer_id": spico.id, "title": "Dossier de coordination"}, user=animator
    )
    pipeline.change_stage(won, "gagnee", user=animator)
    from workflows.dispatch import process_pending

    process_pending()  # the won opportunity's project: a workflow rule's
    paused = pipeline.create_project(
        {"structure_id": structure.id, "offer_id": via.id, "title": "Projet en pause"}, user=animator
    )
    pipeline.update_project(paused, {"status": "suspendu"}, user=animator)

    login(client, animator)
    html = page_text(client.get(f"/structures/{structure.id}"))
    assert "Relancer la DSI" in html and f"Pour {colleague.display_name}" in html and "En retard" in html
    assert "Tâche finie" not in html
    assert f'href="/opportunites/{open_one.id}">Messagerie des équipes</a>' in html and "Identifiée" in html
    assert f'href="/opportunites/{won.id}">Dossier de coordination</a>' in html and "Gagnée" in html
    assert html.index("Messagerie des équipes") < html.index("Dossier de coordination")  # open ones first
    project = won.project
    assert spico.programme.label in html and "Engagée" in html
    assert f'href="/projets/{project.id}">Dossier de coordination</a>' in html
    assert "Autres projets" in html and f'href="/projets/{paused.id}">Projet en pause</a>' in html
    assert "Suspendu" in html
    # The colleague's task: the animator may not tick it from here.
    assert "/fait" not in html


@pytest.mark.parametrize(
    "role,departments,expected",
    [
        ("animateur", ["31"], {"Déclarer une activité", "Nouvelle opportunité", "Nouveau projet", "Nouvelle relance"}),
        ("admin", [], {"Déclarer une activité", "Nouvelle opportunité", "Nouveau projet", "Nouvelle relance"}),
        ("animateur", ["34"], {"Nouvelle relance"}),
        ("organisateur", [], {"Nouvelle relance"}),
        ("manager", [], set()),
    ],
)
def test_buttons_follow_the_role(client, make_user, make_structure, role, departments, expected):
    structure = make_structure()
    login(client, make_user(role, departments))
    html = page_text(client.get(f"/structures/{structure.id}"))
    buttons = {
        "Déclarer une activité": f'href="/activites/nouvelle?structure_id={structure.id}"',
        "Nouvelle opportunité": f'href="/opportunites/nouvelle?structure_id={structure.id}"',
        "Nouveau projet": f'href="/projets/nouveau?structure_id={structure.id}"',
        "Nouvelle relance": f'href="/relances?structure_id={structure.id}#nouvelle"',
    }
    assert {label for label, link in buttons.items() if link in html} == expected


def test_task_done_from_the_structure_page_comes_back(client, animator, make_structure):
    structure = make_structure()
    task = tasks.create_task({"title": "Rappeler", "structure_id": structure.id}, user=animator)
    login(client, animator)
    html = page_text(client.get(f"/structures/{structure.id}"))
    assert f'action="/relances/{task.id}/fait"' in html
    response = post(client, f"/relances/{task.id}/fait", {"next": f"/structures/{structure.id}#relances"})
    assert response.location.endswith(f"/structures/{structure.id}#relances")
    assert "Aucune relance en cours." in page_text(client.get(f"/structures/{structure.id}"))


def _queries_for(client, url) -> int:
    statements = []

    def count(*_args):
        statements.append(1)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        page_text(client.get(url))
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    return len(statements)


def test_the_page_does_not_query_per_activity(client, animator, make_structure):
    few, many = make_structure(name="Peu"), make_structure(name="Beaucoup")
    partners = [make_structure(name=f"Partenaire {i}") for i in range(5)]
    spico = offer("SPICO_DOSSIERS")
    for structure, n in ((few, 2), (many, 60)):
        contact = save_contact(structure, None, {"last_name": "Martin"})
        for i in range(n):
            activities.log_activity(
                {
                    "kind": "visite",
                    "structure_ids": [structure.id, partners[i % 5].id],
                    "contact_ids": [contact.id],
                    "offer_ids": [spico.id],
                    "programme_ids": [spico.programme_id],
                },
                user=animator,
            )
    login(client, animator)
    _queries_for(client, f"/structures/{few.id}")  # warm-up: session, user
    # One more query only: the count beyond the 50 shown.
    assert _queries_for(client, f"/structures/{many.id}") <= _queries_for(client, f"/structures/{few.id}") + 1


def test_unknown_structure(client, animator):
    login(client, animator)
    for structure_id in (999999, 99999999999):
        assert client.get(f"/structures/{structure_id}").status_code == 404
