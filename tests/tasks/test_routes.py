"""'Mes relances': role rules, buckets, done in one click, created by hand, the navigation badge."""

import re
from datetime import date, timedelta
from html import unescape

import pytest
from sqlalchemy import func, select

from crm.platform.dates import local_today
from crm.platform.extensions import db
from crm.tasks import services
from crm.tasks.models import Task
from tests.conftest import login, post


def page_text(response) -> str:
    return unescape(response.get_data(as_text=True))


def count_tasks() -> int:
    return db.session.scalar(select(func.count()).select_from(Task))


def in_days(days: int) -> str:
    return (local_today() + timedelta(days=days)).isoformat()


@pytest.fixture
def animator(make_user):
    return make_user("animateur", ["31"])


def test_anonymous_is_sent_to_login(client, animator):
    task = services.create_task({"title": "Rappeler"}, user=animator)
    assert "/connexion" in client.get("/relances").location
    for url in ("/relances", f"/relances/{task.id}/fait", f"/relances/{task.id}/rouvrir"):
        response = post(client, url, {"title": "Intrus"})
        assert response.status_code == 302 and "/connexion" in response.location
    db.session.expire_all()
    assert count_tasks() == 1 and db.session.get(Task, task.id).done_at is None


def test_page_groups_open_tasks_and_shows_recently_done(client, animator, make_structure):
    structure = make_structure(name="EHPAD Les Tilleuls")
    for title, days in (("Relance en retard", -3), ("Relance du jour", 0), ("Relance lointaine", 40)):
        services.create_task({"title": title, "due_on": in_days(days), "structure_id": structure.id}, user=animator)
    finished = services.create_task({"title": "Relance finie"}, user=animator)
    services.set_done(finished, True, user=animator)
    login(client, animator)
    html = page_text(client.get("/relances"))
    positions = [
        html.index(text)
        for text in (
            "En retard",
            "Relance en retard",
            "Aujourd'hui",
            "Relance du jour",
            "Cette semaine",
            "Plus tard",
            "Relance lointaine",
            "Récemment faites",
            "Relance finie",
        )
    ]
    assert positions == sorted(positions)
    assert (local_today() - timedelta(days=3)).strftime("%d/%m/%Y") in html
    assert f'href="/structures/{structure.id}"' in html
    assert f'action="/relances/{finished.id}/rouvrir"' in html
    assert html.count('name="csrf_token"') >= 5


def test_done_in_one_click_then_reopened(client, animator):
    task = services.create_task({"title": "Envoyer la convention", "due_on": in_days(0)}, user=animator)
    login(client, animator)
    response = post(client, f"/relances/{task.id}/fait")
    assert response.status_code == 302 and response.location.endswith("/relances")
    db.session.expire_all()
    assert db.session.get(Task, task.id).done_by_id == animator.id
    assert "Relance « Envoyer la convention » faite." in page_text(client.get("/relances"))
    post(client, f"/relances/{task.id}/rouvrir")
    db.session.expire_all()
    assert db.session.get(Task, task.id).done_at is None


def test_next_must_stay_on_the_site(client, animator, make_structure):
    structure = make_structure()
    task = services.create_task({"title": "A"}, user=animator)
    other = services.create_task({"title": "B"}, user=animator)
    login(client, animator)
    response = post(client, f"/relances/{task.id}/fait", {"next": f"/structures/{structure.id}#relances"})
    assert response.location.endswith(f"/structures/{structure.id}#relances")
    response = post(client, f"/relances/{other.id}/fait", {"next": "https://ailleurs.example/"})
    assert response.location.endswith("/relances")


def test_someone_else_cannot_complete_a_task(client, animator, make_user):
    task = services.create_task({"title": "Rappeler le CH"}, user=animator)
    login(client, make_user("animateur", ["31"]))
    assert "Rappeler le CH" not in page_text(client.get("/relances"))
    assert post(client, f"/relances/{task.id}/fait").status_code == 403
    assert post(client, f"/relances/{task.id}/rouvrir").status_code == 403
    assert post(client, "/relances/999999/fait").status_code == 404
    assert post(client, "/relances/99999999999/fait").status_code == 404
    db.session.expire_all()
    assert db.session.get(Task, task.id).done_at is None


def test_admin_and_creator_may_complete(client, animator, make_user):
    organiser = make_user("organisateur")
    task = services.create_task({"title": "Pour l'animateur", "owner_id": animator.id}, user=organiser)
    login(client, organiser)
    assert post(client, f"/relances/{task.id}/fait").status_code == 302
    post(client, "/deconnexion")
    login(client, make_user("admin"))
    assert post(client, f"/relances/{task.id}/rouvrir").status_code == 302


def test_manager_reads_an_empty_page_but_cannot_post(client, animator, make_user):
    task = services.create_task({"title": "Rappeler"}, user=animator)
    login(client, make_user("manager"))
    response = client.get("/relances")
    html = page_text(response)
    assert response.status_code == 200 and "Aucune relance en retard." in html
    assert "Nouvelle relance" not in html and "Rappeler" not in html
    assert post(client, "/relances", {"title": "Manager"}).status_code == 403
    assert post(client, f"/relances/{task.id}/fait").status_code == 403
    assert count_tasks() == 1


def test_create_by_hand(client, animator, make_structure):
    structure = make_structure(name="CH de Muret")
    login(client, animator)
    form = page_text(client.get(f"/relances?structure_id={structure.id}"))
    assert f'value="{structure.id}"' in form and 'value="CH de Muret"' in form
    assert 'data-autocomplete="/structures/autocomplete"' in form
    response = post(
        client,
        "/relances",
        {
            "title": "Appeler la directrice",
            "due_on": in_days(2),
            "structure_id": structure.id,
            "structure_label": "CH de Muret",
            "description": "Pour la convention",
        },
    )
    assert response.status_code == 302
    task = db.session.scalars(select(Task)).one()
    assert (task.owner_id, task.structure_id, task.source, task.description) == (
        animator.id,
        structure.id,
        "manuel",
        "Pour la convention",
    )
    assert "Appeler la directrice" in page_text(client.get("/relances"))


@pytest.mark.parametrize(
    "values,message",
    [
        ({"title": ""}, "Indiquez l'objet de la relance."),
        ({"title": "x" * 301}, "Pas plus de 300 caractères."),
        ({"due_on": "2024-13-45"}, "Date invalide (format attendu : AAAA-MM-JJ)."),
        ({"structure_id": "abc", "structure_label": "x"}, "Structure invalide."),
        ({"structure_id": "99999999999"}, "Structure invalide."),
        ({"structure_id": "999999"}, "Structure inconnue."),
        ({"structure_label": "EHPAD tapé sans choisir"}, "Choisissez la structure dans la liste proposée"),
    ],
)
def test_bad_input_is_refused_in_french(client, animator, values, message):
    login(client, animator)
    response = post(client, "/relances", {"title": "Rappeler", **values})
    html = page_text(response)
    assert response.status_code == 422 and message in html
    assert "Le formulaire contient des erreurs" in html
    assert count_tasks() == 0


def test_badge_counts_overdue_and_today(client, animator, make_user):
    for days in (-5, -1, 0, 3, 30):
        services.create_task({"title": f"J{days}", "due_on": in_days(days)}, user=animator)
    services.create_task({"title": "Sans date"}, user=animator)
    done = services.create_task({"title": "Faite", "due_on": in_days(-2)}, user=animator)
    services.set_done(done, True, user=animator)
    login(client, animator)
    html = client.get("/activites").get_data(as_text=True)
    assert re.search(r'Mes relances <span class="nav-count">3<span class="sr-only">', html)
    post(client, "/deconnexion")
    login(client, make_user("animateur", ["31"]))
    assert 'class="nav-count"' not in client.get("/activites").get_data(as_text=True)
