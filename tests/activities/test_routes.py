"""Activity pages: role rules, logging from the form, French errors without a 500, list filters, detail."""

from datetime import date, timedelta
from html import unescape

import pytest
from sqlalchemy import func, select

from crm.activities import services
from crm.activities.models import Activity
from crm.platform.dates import local_today
from crm.platform.extensions import db
from crm.platform.models import OutboxEvent
from crm.referential.models import Offer, Programme
from crm.structures.contacts import erase_contact, save_contact
from crm.tasks.models import Task
from tests.conftest import login, post
from workflows.dispatch import process_pending


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def offer(code: str) -> Offer:
    return db.session.scalars(select(Offer).where(Offer.code == code)).one()


def page_text(response) -> str:
    return unescape(response.get_data(as_text=True))


@pytest.fixture
def animator(make_user):
    return make_user("animateur", ["31"])


def test_anonymous_is_sent_to_login(client, make_structure):
    structure = make_structure()
    for url in (
        "/activites",
        "/activites/nouvelle",
        f"/activites/nouvelle?structure_id={structure.id}",
        "/activites/1",
        f"/activites/contacts?structure_id={structure.id}",
    ):
        response = client.get(url)
        assert response.status_code == 302 and "/connexion" in response.location, url
    response = post(client, "/activites/nouvelle", {"kind": "visite", "structure_ids": structure.id})
    assert response.status_code == 302 and "/connexion" in response.location
    assert count(Activity) == 0


@pytest.mark.parametrize("role", ["manager", "organisateur"])
def test_readers_cannot_log_but_can_read(client, make_user, make_structure, animator, role):
    structure = make_structure()
    activity = services.log_activity({"kind": "visite", "structure_ids": [structure.id]}, user=animator)
    login(client, make_user(role))
    assert client.get("/activites/nouvelle").status_code == 403
    response = post(client, "/activites/nouvelle", {"kind": "visite", "structure_ids": structure.id})
    assert response.status_code == 403
    assert count(Activity) == 1
    listing = client.get("/activites")
    assert listing.status_code == 200 and "Déclarer une activité" not in page_text(listing)
    detail = client.get(f"/activites/{activity.id}")
    assert detail.status_code == 200 and structure.name in page_text(detail)
    assert "Créer une opportunité" not in page_text(detail)


def test_structure_outside_the_departments_is_refused_next_to_the_field(client, animator, make_structure):
    other = make_structure(name="CH de Béziers", department_code="34")
    login(client, animator)
    events = count(OutboxEvent)
    response = post(
        client,
        "/activites/nouvelle",
        {"kind": "visite", "structure_ids": other.id, "occurred_on": local_today().isoformat()},
    )
    html = page_text(response)
    assert response.status_code == 422
    assert 'id="structure_ids-err"' in html and "structures de vos départements" in html
    assert count(Activity) == 0 and count(OutboxEvent) == events


def test_form_is_prefilled_from_the_structure_page(client, animator, make_structure):
    structure = make_structure(name="EHPAD Les Tilleuls")
    save_contact(structure, None, {"first_name": "Anne", "last_name": "Martin", "function": "Directrice"})
    gone = save_contact(structure, None, {"last_name": "Effacé"})
    erase_contact(gone)
    login(client, animator)
    html = page_text(client.get(f"/activites/nouvelle?structure_id={structure.id}"))
    assert f'name="structure_ids" value="{structure.id}" checked' in html
    assert f'name="origin" type="hidden" value="{structure.id}"' in html
    assert "Anne Martin" in html and "Directrice" in html and "Effacé" not in html
    assert f'value="{local_today().isoformat()}"' in html
    assert 'data-autocomplete="/structures/autocomplete"' in html
    for junk in ("abc", "0", "-1", "99999999999", "999999"):
        assert client.get(f"/activites/nouvelle?structure_id={junk}").status_code == 200


def test_logs_a_multi_structure_activity_and_its_next_step(client, animator, make_structure):
    cpts = make_structure(name="CPTS du Lauragais")
    ehpads = [make_structure(name=f"EHPAD n°{i}") for i in range(3)]
    director = save_contact(ehpads[0], None, {"first_name": "Anne", "last_name": "Martin"})
    coordinator = save_contact(cpts, None, {"first_name": "Paul", "last_name": "Roux"})
    spico = offer("SPICO_DOSSIERS")
    programme = db.session.scalars(select(Programme).where(Programme.code == "CYBERSECURITE")).one()
    due = local_today() + timedelta(days=3)
    login(client, animator)
    response = post(
        client,
        "/activites/nouvelle",
        {
            "origin": cpts.id,
            "structure_ids": [cpts.id] + [e.id for e in ehpads],
            "kind": "reunion",
            "occurred_on": local_today().isoformat(),
            "duration_minutes": "90",
            "contact_ids": [director.id, coordinator.id],
            "offer_ids": [spico.id],
            "programme_ids": [programme.id],
            "subject": "Réunion de territoire",
            "notes": "Besoin d'une messagerie sécurisée.",
            "is_information": "y",
            "next_step": "Envoyer la convention SPICO",
            "next_step_due_on": due.isoformat(),
        },
    )
    assert response.status_code == 302 and response.location.endswith(f"/structures/{cpts.id}#activites")
    activity = db.session.scalars(select(Activity)).one()
    assert sorted(s.id for s in activity.structures) == sorted([cpts.id] + [e.id for e in ehpads])
    assert sorted(c.id for c in activity.contacts) == sorted([director.id, coordinator.id])
    assert [o.id for o in activity.offers] == [spico.id] and [p.id for p in activity.programmes] == [programme.id]
    assert (activity.kind, activity.duration_minutes, activity.is_information, activity.author_id) == (
        "reunion",
        90,
        True,
        animator.id,
    )
    html = page_text(client.get(response.location))
    assert "Activité enregistrée." in html
    assert f'href="/opportunites/nouvelle?activity_id={activity.id}"' in html
    assert "Créer une opportunité à partir de cette activité" in html
    process_pending()  # the next step's task: the activity_next_step_task rule, a moment later
    task = db.session.scalars(select(Task)).one()
    assert (task.title, task.due_on, task.owner_id, task.activity_id) == (
        "Envoyer la convention SPICO",
        due,
        animator.id,
        activity.id,
    )
    mine = page_text(client.get("/relances"))
    assert "Envoyer la convention SPICO" in mine and "Cette semaine" in mine
    for ehpad in ehpads:
        assert "Réunion de territoire" in page_text(client.get(f"/structures/{ehpad.id}"))


def test_without_origin_several_structures_lead_to_the_activity(client, animator, make_structure):
    first, second = make_structure(name="A"), make_structure(name="B")
    login(client, animator)
    response = post(client, "/activites/nouvelle", {"kind": "appel", "structure_ids": [first.id, second.id]})
    activity = db.session.scalars(select(Activity)).one()
    assert response.status_code == 302 and response.location.endswith(f"/activites/{activity.id}")


BAD_INPUTS = [
    ({"structure_ids": "abc"}, "structure_ids", "Identifiant invalide."),
    ({"structure_ids": "99999999999"}, "structure_ids", "Valeur attendue entre"),
    ({"structure_ids": "999999"}, "structure_ids", "Structure inconnue."),
    ({"structure_ids": ""}, "structure_ids", "Choisissez au moins une structure."),
    ({"kind": "pique-nique"}, "kind", "Choisissez le type d'activité."),
    ({"occurred_on": "2024-13-45"}, "occurred_on", "Date invalide (format attendu : AAAA-MM-JJ)."),
    ({"occurred_on": "31/12/2024"}, "occurred_on", "Date invalide"),
    ({"occurred_on": (local_today() + timedelta(days=5)).isoformat()}, "occurred_on", "futur"),
    ({"occurred_on": "1990-01-01"}, "occurred_on", "trop ancienne"),
    ({"duration_minutes": "1e9"}, "duration_minutes", "Durée en minutes attendue."),
    ({"duration_minutes": "1000000000"}, "duration_minutes", "Valeur attendue entre 0 et 1440."),
    ({"duration_minutes": "-5"}, "duration_minutes", "Valeur attendue entre 0 et 1440."),
    ({"offer_ids": "999999"}, "offer_ids", "Offre inconnue."),
    ({"offer_ids": "x"}, "offer_ids", "Identifiant invalide."),
    ({"programme_ids": "999999"}, "programme_ids", "Programme inconnu."),
    ({"contact_ids": "abc"}, "contact_ids", "Identifiant invalide."),
    ({"subject": "x" * 201}, "subject", "Pas plus de 200 caractères."),
    ({"next_step": "Rappeler"}, "next_step_due_on", "Indiquez l'échéance de la prochaine étape."),
    ({"next_step_due_on": "2024-02-30", "next_step": "Rappeler"}, "next_step_due_on", "Date invalide"),
    ({"next_step_due_on": local_today().isoformat()}, "next_step", "Décrivez la prochaine étape."),
]


@pytest.mark.parametrize(
    "values,field,message", BAD_INPUTS, ids=[f"{f}:{list(v.values())[0][:20]}" for v, f, _ in BAD_INPUTS]
)
def test_bad_input_is_refused_in_french_and_writes_nothing(client, animator, make_structure, values, field, message):
    structure = make_structure()
    login(client, animator)
    events = count(OutboxEvent)
    response = post(client, "/activites/nouvelle", {"kind": "visite", "structure_ids": structure.id, **values})
    html = page_text(response)
    assert response.status_code == 422
    assert message in html and f'id="{field}-err"' in html
    assert "Le formulaire contient des erreurs" in html
    assert count(Activity) == 0 and count(Task) == 0 and count(OutboxEvent) == events


def test_contact_of_another_structure_is_refused(client, animator, make_structure):
    structure, other = make_structure(name="Ici"), make_structure(name="Ailleurs")
    stranger = save_contact(other, None, {"last_name": "Roux"})
    login(client, animator)
    response = post(
        client, "/activites/nouvelle", {"kind": "visite", "structure_ids": structure.id, "contact_ids": stranger.id}
    )
    assert response.status_code == 422
    assert "Les contacts doivent appartenir aux structures choisies." in page_text(response)
    assert count(Activity) == 0


def test_search_without_javascript_offers_structures_to_tick(client, animator, make_structure):
    chosen = make_structure(name="CPTS du Lauragais")
    found = make_structure(name="EHPAD Les Tilleuls")
    login(client, animator)
    response = post(
        client,
        "/activites/nouvelle",
        {
            "kind": "visite",
            "structure_ids": chosen.id,
            "structure_q": "tilleuls",
            "ajouter_structure": "1",
            "subject": "Gardé",
        },
    )
    html = page_text(response)
    assert response.status_code == 200 and count(Activity) == 0
    assert f'name="structure_ids" value="{chosen.id}" checked' in html
    assert f'name="structure_ids" value="{found.id}">' in html and 'value="Gardé"' in html
    response = post(client, "/activites/nouvelle", {"kind": "visite", "structure_q": "zzzz", "ajouter_structure": "1"})
    assert "Aucune autre structure ouverte ne correspond à « zzzz »." in page_text(response)


def test_contacts_endpoint(client, animator, make_user, make_structure):
    first, second = make_structure(name="A"), make_structure(name="B", department_code="34")
    anne = save_contact(first, None, {"first_name": "Anne", "last_name": "Martin", "function": "Cadre"})
    paul = save_contact(second, None, {"last_name": "Roux"})
    erase_contact(save_contact(first, None, {"last_name": "Parti"}))
    login(client, make_user("manager"))
    response = client.get(f"/activites/contacts?structure_id={first.id}&structure_id={second.id}")
    assert response.status_code == 200
    assert {(c["id"], c["name"], c["structure_id"]) for c in response.get_json()} == {
        (anne.id, "Anne Martin", first.id),
        (paul.id, "Roux", second.id),
    }
    assert client.get("/activites/contacts").get_json() == []
    for junk in ("abc", "-3", "1e9", "99999999999"):
        response = client.get(f"/activites/contacts?structure_id={junk}")
        assert response.status_code == 400 and "identifiants" in response.get_json()["error"]["message"]


def test_list_filters(client, make_user, make_structure):
    alice = make_user("animateur", ["31", "81"])
    bob = make_user("animateur", ["31"])
    toulouse, albi = make_structure(name="CH Toulouse"), make_structure(name="CH Albi", department_code="81")
    old = (local_today() - timedelta(days=40)).isoformat()
    services.log_activity(
        {
            "kind": "visite",
            "structure_ids": [toulouse.id],
            "subject": "Visite A",
            "offer_ids": [offer("SPICO_DOSSIERS").id],
            "occurred_on": old,
        },
        user=alice,
    )
    services.log_activity({"kind": "appel", "structure_ids": [albi.id], "subject": "Appel B"}, user=alice)
    services.log_activity({"kind": "webinaire", "structure_ids": [toulouse.id], "subject": "Webinaire C"}, user=bob)
    spico_programme = offer("SPICO_DOSSIERS").programme_id
    login(client, make_user("manager"))

    def subjects(query):
        response = client.get("/activites" + query)
        assert response.status_code == 200, query
        html = page_text(response)
        return {s for s in ("Visite A", "Appel B", "Webinaire C") if s in html}

    assert subjects("") == {"Visite A", "Appel B", "Webinaire C"}
    assert subjects("?departement=81") == {"Appel B"}
    assert subjects("?type=webinaire") == {"Webinaire C"}
    assert subjects(f"?programme={spico_programme}") == {"Visite A"}
    assert subjects(f"?animateur={bob.id}") == {"Webinaire C"}
    assert subjects(f"?du={local_today().isoformat()}") == {"Appel B", "Webinaire C"}
    assert subjects(f"?au={(local_today() - timedelta(days=1)).isoformat()}") == {"Visite A"}
    assert subjects(f"?structure={toulouse.id}") == {"Visite A", "Webinaire C"}


@pytest.mark.parametrize(
    "query,message",
    [
        ("departement=ZZ", "Département inconnu."),
        ("type=pique-nique", "Type d'activité inconnu."),
        ("programme=abc", "Programme invalide."),
        ("animateur=-1", "Animateur invalide."),
        ("structure=1e9", "Structure invalide."),
        ("du=2024-13-45", "Date invalide"),
        ("du=2024-05-01&au=2024-04-01", "La fin de la période précède son début."),
        ("page=abc", None),
        ("page=0", None),
        ("page=99999999999", None),
        ("page=99999", None),
        ("programme=99999999999", "Programme invalide."),
    ],
)
def test_bad_list_parameters_never_fail(client, make_user, query, message):
    login(client, make_user("animateur", ["31"]))
    response = client.get("/activites?" + query)
    assert response.status_code == 200
    if message:
        assert message in page_text(response)


def test_list_paginates(client, animator, make_structure):
    structure = make_structure()
    for i in range(55):
        services.log_activity(
            {"kind": "appel", "structure_ids": [structure.id], "subject": f"Appel {i}"}, user=animator
        )
    login(client, animator)
    html = page_text(client.get("/activites"))
    assert "55 activités" in html and "Page 1 sur 2" in html and "apres=" in html
    assert "Page 2 sur 2" in page_text(client.get("/activites?page=2"))  # numbers still serve small offsets


def test_detail(client, animator, make_user, make_structure):
    structure = make_structure(name="EHPAD Les Tilleuls")
    anne = save_contact(structure, None, {"first_name": "Anne", "last_name": "Martin"})
    activity = services.log_activity(
        {
            "kind": "demonstration",
            "structure_ids": [structure.id],
            "contact_ids": [anne.id],
            "offer_ids": [offer("SPICO_DOSSIERS").id],
            "subject": "Démo SPICO",
            "notes": "Très intéressés",
            "next_step": "Rappeler",
            "next_step_due_on": (local_today() + timedelta(days=2)).isoformat(),
            "is_information": True,
        },
        user=animator,
    )
    login(client, animator)
    html = page_text(client.get(f"/activites/{activity.id}"))
    for text in (
        "Démonstration",
        "Démo SPICO",
        "EHPAD Les Tilleuls",
        "Anne Martin",
        "Très intéressés",
        "Rappeler",
        animator.display_name,
        "Activité d'information",
        "SPICO",
    ):
        assert text in html, text
    assert f'href="/opportunites/nouvelle?activity_id={activity.id}"' in html
    assert client.get("/activites/999999").status_code == 404
    assert client.get("/activites/99999999999").status_code == 404
    outsider = make_user("animateur", ["34"])
    post(client, "/deconnexion")
    login(client, outsider)
    assert "Créer une opportunité" not in page_text(client.get(f"/activites/{activity.id}"))
