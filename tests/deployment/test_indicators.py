"""Deployment and active usage rates: the cells kept by the outbox consumer equal a full recomputation
(``crm indicators check``) after statuses by hand, by rule and by import, eligibility changes, a structure
that moves department or closes."""

from sqlalchemy import select

from crm.deployment import services
from crm.deployment.usage import import_usage
from crm.indicators.readmodel.check import check
from crm.indicators.readmodel.deployment import DeploymentCell
from crm.platform.extensions import db
from crm.referential.models import Category, Offer
from crm.structures.services import update_structure
from tests.workflows.conftest import process


def offer(code="MSSANTE"):
    return db.session.scalars(select(Offer).where(Offer.code == code)).one()


def cells(code="MSSANTE"):
    db.session.expire_all()
    return {
        c.department_code: (c.eligible, c.deployed)
        for c in db.session.scalars(select(DeploymentCell).where(DeploymentCell.offer_id == offer(code).id))
    }


def test_incremental_cells_equal_a_full_recomputation(make_user, make_structure):
    ehpad = db.session.scalars(select(Category).where(Category.code == "EHPAD")).one()
    admin = make_user("admin")
    a = make_structure(name="A", category_id=ehpad.id, sector_id=ehpad.sector_id, finess_et="310000005")
    b = make_structure(name="B", category_id=ehpad.id, sector_id=ehpad.sector_id)
    c = make_structure(name="C", department_code="81", category_id=ehpad.id, sector_id=ehpad.sector_id)
    outsider = make_structure(name="Mairie")  # no sector: not eligible by rule
    process()
    assert check() == []
    assert cells() == {"31": (2, 0), "81": (1, 0)}

    services.set_status(a, offer().id, "deploye", source="manuel", user_id=admin.id)
    services.set_status(c, offer().id, "en_projet", source="manuel", user_id=admin.id)
    db.session.commit()
    process()
    assert cells() == {"31": (2, 1), "81": (1, 0)} and check() == []

    services.set_override(outsider, offer(), True, user=admin)  # added by hand
    services.set_override(b, offer(), False, user=admin)  # excluded by hand
    process()
    assert cells() == {"31": (2, 1), "81": (1, 0)} and check() == []

    update_structure(a, {**_data(a), "department_code": "81"})  # moves: both departments change
    process()
    assert cells() == {"31": (1, 0), "81": (2, 1)} and check() == []

    update_structure(c, {**_data(c), "is_open": False})  # closes: out of the population
    process()
    assert cells() == {"31": (1, 0), "81": (1, 1)} and check() == []

    # The offer's rule narrowed to another category: every department of the offer recomputed.
    services.save_offer_settings(offer(), {"eligible_categories": "CH"}, user_id=admin.id)
    db.session.commit()
    process()
    assert cells() == {"31": (1, 0)} and check() == []  # the outsider, added by hand, stays

    # An import puts a structure "usage actif" (at or beyond "déployé").
    services.save_offer_settings(offer(), {"eligible_categories": ""}, user_id=admin.id)
    db.session.commit()
    import_usage(b"finess;mois;valeur\n310000005;2026-11;4\n", offer(), source="mss.csv")
    process()
    assert cells()["81"] == (1, 1) and check() == []


def _data(structure):
    return {
        "name": structure.name,
        "department_code": structure.department_code,
        "commune": structure.commune,
        "is_open": structure.is_open,
        "sector_id": structure.sector_id,
        "category_id": structure.category_id,
        "finess_et": structure.finess_et,
    }
