"""A small territory with everything the indicators count: structures in two departments and sectors,
information activities, opportunities at every stage, projects, an event with people present."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from crm.platform.dates import local_today
from crm.platform.extensions import db
from crm.referential.models import Offer, Sector


def sector_id(code: str) -> int:
    return db.session.scalar(select(Sector.id).where(Sector.code == code))


def offer(code: str) -> Offer:
    return db.session.scalars(select(Offer).where(Offer.code == code)).one()


@pytest.fixture
def territory(make_user, make_structure):
    """Users and structures; returns a namespace of them."""

    class T:
        pass

    t = T()
    t.animator = make_user("animateur", ["31"])
    t.animator_46 = make_user("animateur", ["46"])
    t.manager = make_user("manager")
    t.ehpad = make_structure(name="EHPAD Les Tilleuls", sector_id=sector_id("medico_social"))
    t.ch = make_structure(name="CH de Muret", commune="Muret", sector_id=sector_id("sanitaire"))
    t.cpts = make_structure(name="CPTS Sud Toulousain", sector_id=sector_id("exercice_coordonne"))
    t.ehpad_46 = make_structure(
        name="EHPAD du Lot", department_code="46", commune="Cahors", sector_id=sector_id("medico_social")
    )
    t.today = local_today()
    t.yesterday = t.today - timedelta(days=1)
    return t
