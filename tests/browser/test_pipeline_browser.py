"""In a real browser: a visit logged from the structure page becomes an opportunity, moved through the board
(drag and drop and the card's menu) to won, and the project a worker then starts shows on the structure page."""

from sqlalchemy import select

from crm.pipeline import services
from crm.pipeline.models import LossReason, Opportunity, Project
from crm.platform.extensions import db
from crm.referential.models import Offer
from tests.conftest import PASSWORD, run_worker_burst


def log_in(page, live_server, user):
    page.goto(f"{live_server}/connexion")
    page.get_by_label("Adresse e-mail").fill(user.email)
    page.get_by_label("Mot de passe").fill(PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_url("**/ma-journee")  # an animator's home


def count_of(page, column: str) -> str:
    return page.locator(f'[data-column="{column}"] [data-count]').inner_text()


def test_visit_to_opportunity_to_won_project(page, live_server, make_user, make_structure, test_env, redis_conn):
    animator = make_user("animateur", ["31"])
    structure = make_structure(name="EHPAD L'Oustal", commune="Saint-Gaudens")
    log_in(page, live_server, animator)

    # 1. A visit logged from the structure page.
    page.goto(f"{live_server}/structures/{structure.id}")
    page.get_by_role("link", name="Déclarer une activité").first.click()
    page.wait_for_url("**/activites/nouvelle?structure_id=*")
    page.get_by_label("Type d'activité").select_option("visite")
    page.get_by_role("combobox", name="Offres présentées").fill("Grand âge")
    page.get_by_role("option", name="ViaTrajectoire – Grand âge").click()
    page.get_by_label("Notes", exact=True).fill("La directrice veut orienter via ViaTrajectoire.")
    page.get_by_role("button", name="Enregistrer l'activité").click()
    page.wait_for_url(f"**/structures/{structure.id}**")

    # 2. An opportunity from that visit, pre-filled.
    page.get_by_role("link", name="Créer une opportunité à partir de cette activité").click()
    page.wait_for_url("**/opportunites/nouvelle?activity_id=*")
    assert page.get_by_label("Besoin exprimé").input_value() == "La directrice veut orienter via ViaTrajectoire."
    assert page.get_by_label("Origine").input_value() == "visite"
    offer = db.session.scalars(select(Offer).where(Offer.code == "VT_GRAND_AGE")).one()
    assert page.get_by_label("Offre").input_value() == str(offer.id)
    page.get_by_label("Titre").fill("ViaTrajectoire grand âge")
    page.get_by_role("button", name="Créer l'opportunité").click()
    page.wait_for_url("**/opportunites/*")
    assert page.get_by_text("Opportunité créée.").is_visible()
    opportunity = db.session.scalars(select(Opportunity)).one()
    assert opportunity.source_activity_id is not None and opportunity.owner_id == animator.id

    # 3. Through the board: drag and drop, then the card's button, then drag and drop to won.
    page.goto(f"{live_server}/pipeline?departement=31")
    card = f"#opportunite-{opportunity.id}"
    assert count_of(page, "identifiee") == "1"
    page.drag_and_drop(card, '[data-column="qualifiee"] h2')
    page.wait_for_selector(f'[data-column="qualifiee"] {card}')
    assert count_of(page, "qualifiee") == "1" and count_of(page, "identifiee") == "0"
    status = page.locator("#board-status")
    assert "« ViaTrajectoire grand âge » (EHPAD L'Oustal) déplacée vers Qualifiée." in status.inner_text()

    page.locator(card).get_by_text("Déplacer").click()
    page.locator(card).get_by_role("button", name="Proposée").click()
    page.wait_for_selector(f'[data-column="proposee"] {card}')
    assert count_of(page, "proposee") == "1" and count_of(page, "qualifiee") == "0"

    page.drag_and_drop(card, '[data-column="gagnee"] h2')
    page.wait_for_selector(f'[data-column="gagnee"] {card}', state="attached")  # in the collapsed column
    assert "déplacée vers Gagnée : le projet est en cours de création." in status.inner_text()
    assert count_of(page, "gagnee") == "1" and count_of(page, "proposee") == "0"
    assert page.locator(f"{card}[draggable]").count() == 0  # a won card does not move any more
    db.session.expire_all()
    stages = [c.to_stage for c in db.session.get(Opportunity, opportunity.id).changes]
    assert stages == ["identifiee", "qualifiee", "proposee", "gagnee"]

    # 4. A worker runs the won_opportunity_project rule (the outbox queue's drain, enqueued after the
    # commit); the structure page, reached from the board's message, then shows the project and the engagement.
    run_worker_burst(test_env, queues=("outbox",))
    db.session.expire_all()
    project = db.session.scalars(select(Project)).one()
    assert project.opportunity_id == opportunity.id
    status.get_by_role("link", name="Voir les projets de la structure").click()
    page.wait_for_url(f"**/structures/{structure.id}*")
    projects = page.locator("#projets")
    assert projects.get_by_role("link", name="ViaTrajectoire grand âge").is_visible()
    assert "Engagée" in projects.inner_text()
    projects.get_by_role("link", name="ViaTrajectoire grand âge").click()
    page.wait_for_url(f"**/projets/{project.id}")
    assert page.get_by_role("heading", name="ViaTrajectoire grand âge").is_visible()


def test_dropping_on_lost_asks_for_the_reason(page, live_server, make_user, make_structure):
    animator = make_user("animateur", ["31"])
    structure = make_structure(name="SSIAD du Comminges")
    offer = db.session.scalars(select(Offer).where(Offer.code == "VT_GRAND_AGE")).one()
    opportunity = services.create_opportunity(
        {"structure_id": structure.id, "offer_id": offer.id, "title": "Téléo SSIAD"}, user=animator
    )
    reason = db.session.scalars(select(LossReason).order_by(LossReason.id)).first()
    log_in(page, live_server, animator)
    page.goto(f"{live_server}/pipeline")
    card = f"#opportunite-{opportunity.id}"

    page.drag_and_drop(card, '[data-column="perdue_abandonnee"] h2')
    dialog = page.locator("#loss-dialog")
    assert dialog.is_visible()
    dialog.get_by_role("button", name="Confirmer").click()
    assert dialog.get_by_text("Choisissez l'issue. Choisissez la raison.").is_visible()  # no choice, no move
    dialog.get_by_label("Issue").select_option("abandonnee")
    dialog.get_by_label("Raison").select_option(str(reason.id))
    dialog.get_by_label("Commentaire (facultatif)").fill("Reporté à 2027")
    dialog.get_by_role("button", name="Confirmer").click()
    page.wait_for_selector(f'[data-column="perdue_abandonnee"] {card}', state="attached")
    assert count_of(page, "perdue_abandonnee") == "1" and count_of(page, "identifiee") == "0"
    assert not dialog.is_visible()

    db.session.expire_all()
    saved = db.session.get(Opportunity, opportunity.id)
    assert saved.stage == "abandonnee" and saved.loss_reason_id == reason.id
    assert saved.changes[-1].comment == "Reporté à 2027"

    # A refused move (the opportunity is closed) shows the French error and leaves the card where it is.
    page.goto(f"{live_server}/opportunites/{opportunity.id}")
    assert page.get_by_text("Cette opportunité est close").is_visible()
