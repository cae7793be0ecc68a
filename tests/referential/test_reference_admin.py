"""Reference data: loaded idempotently, editable by an admin with audit and event."""

from sqlalchemy import func, select

from crm.events.models import EventType
from crm.pipeline.models import LossReason
from crm.platform.extensions import db
from crm.platform.models import AuditEntry, OutboxEvent
from crm.referential.kinds import kinds
from crm.referential.models import Category, Department, FinessCategoryMapping, Offer, Programme, Sector
from crm.referential.services import load_reference_data, region_department_codes
from tests.conftest import login, post


def test_reference_data_is_complete_and_idempotent():
    assert db.session.scalar(select(func.count()).select_from(Department)) == 101
    assert db.session.scalar(select(func.count()).select_from(Programme)) == 16
    assert load_reference_data() == {}
    assert sorted(region_department_codes()) == [
        "09",
        "11",
        "12",
        "30",
        "31",
        "32",
        "34",
        "46",
        "48",
        "65",
        "66",
        "81",
        "82",
    ]
    assert db.session.get(Department, "2A").name == "Corse-du-Sud"
    es_esms = db.session.scalars(select(Sector.code).where(Sector.is_es_esms.is_(True))).all()
    assert sorted(es_esms) == ["medico_social", "sanitaire"]
    ehpad = db.session.get(FinessCategoryMapping, "500")
    assert ehpad.category.code == "EHPAD" and ehpad.category.sector.code == "medico_social"


def test_admin_edits_a_programme_and_it_is_audited(client, make_user):
    admin = make_user("admin")
    login(client, admin)
    programme = db.session.scalars(select(Programme).where(Programme.code == "COORDINATION")).one()
    response = post(
        client,
        f"/admin/referentiels/programmes/{programme.id}",
        {
            "number": programme.number,
            "code": programme.code,
            "label": "Coordination des parcours",
            "target_sectors": programme.target_sectors,
            "active": "y",
        },
    )
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Programme, programme.id).label == "Coordination des parcours"
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.entity_type == "ref_programmes")).one()
    assert entry.changes["label"] == ["Coordination", "Coordination des parcours"] and entry.user_id == admin.id
    assert db.session.scalars(select(OutboxEvent.type).order_by(OutboxEvent.id)).all()[-1] == "reference.changed"
    # A reload of reference data does not undo the admin's edit.
    load_reference_data()
    assert db.session.get(Programme, programme.id).label == "Coordination des parcours"


def test_admin_maps_a_finess_code_and_adds_an_offer(client, make_user):
    login(client, make_user("admin"))
    cds = db.session.scalars(select(Category).where(Category.code == "CDS")).one()
    response = post(
        client,
        "/admin/referentiels/finess/nouveau",
        {"finess_code": "999", "finess_label": "Code de test", "category_id": str(cds.id)},
    )
    assert response.status_code == 302
    assert db.session.get(FinessCategoryMapping, "999").category_id == cds.id
    programme = db.session.scalars(select(Programme).where(Programme.code == "SERVICES_SOCLES")).one()
    response = post(
        client,
        "/admin/referentiels/offres/nouveau",
        {"code": "ENS", "label": "Espace numérique de santé", "programme_id": str(programme.id), "active": "y"},
    )
    assert response.status_code == 302
    assert db.session.scalars(select(Offer).where(Offer.code == "ENS")).one().programme_id == programme.id


def test_duplicate_code_and_missing_fields_give_french_messages(client, make_user):
    login(client, make_user("admin"))
    response = post(
        client, "/admin/referentiels/secteurs/nouveau", {"code": "sanitaire", "label": "Doublon", "position": "3"}
    )
    assert response.status_code == 200 and "ce code existe déjà" in response.get_data(as_text=True)
    response = post(client, "/admin/referentiels/secteurs/nouveau", {"code": "", "label": "", "position": "x"})
    html = response.get_data(as_text=True)
    assert "Ce champ est obligatoire." in html and "N&#39;est pas un entier valide." in html
    assert "Not a valid" not in html  # WTForms' own messages come in French too
    html = post(client, "/admin/referentiels/secteurs/nouveau", {"code": "x", "label": "x", "position": ""}).get_data(
        as_text=True
    )
    assert "Nombre entier attendu." in html
    assert db.session.scalar(select(func.count()).select_from(Sector)) == 8
    assert client.get("/admin/referentiels/inconnu").status_code == 404
    assert client.get("/admin/referentiels/secteurs/99999").status_code == 404


def test_odd_keys_and_values_are_refused_without_a_server_error(client, make_user):
    login(client, make_user("admin"))
    for key in ("²", "99999999999999999999", "0", "-1"):
        assert client.get(f"/admin/referentiels/programmes/{key}").status_code == 404
    response = post(
        client,
        "/admin/referentiels/offres/nouveau",
        {"code": "ODD", "label": "Offre", "programme_id": "²", "active": "y"},
    )
    assert response.status_code == 200 and "Enregistrement impossible" in response.get_data(as_text=True)
    assert db.session.scalars(select(Offer).where(Offer.code == "ODD")).first() is None
    # Zero is a valid position (InputRequired, not DataRequired).
    response = post(client, "/admin/referentiels/secteurs/nouveau", {"code": "zero", "label": "Zéro", "position": "0"})
    assert response.status_code == 302
    assert db.session.scalars(select(Sector).where(Sector.code == "zero")).one().position == 0


def test_the_domains_above_register_their_kinds_and_seeds(client, make_user):
    assert list(kinds()) == [
        "secteurs",
        "categories",
        "programmes",
        "offres",
        "finess",
        "raisons",
        "types-evenement",
        "statuts-deploiement",  # the services' deployment statuses (issue 14)
        "types-lien",  # networks (issue 14)
    ]
    assert kinds()["raisons"].model is LossReason and kinds()["types-evenement"].model is EventType
    assert db.session.scalar(select(func.count()).select_from(LossReason)) > 0
    assert db.session.scalar(select(EventType.position).where(EventType.code == "webinaire")) == 1
    login(client, make_user("admin"))
    html = client.get("/admin/referentiels/").get_data(as_text=True)
    assert html.index("Raisons de perte") < html.index("Types d&#39;événement")
