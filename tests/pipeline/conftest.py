"""Pipeline test helpers: an offer, a loss reason, opportunities at a given stage, JSON stage moves."""

import pytest
from sqlalchemy import select

from crm.pipeline import services
from crm.pipeline.models import LossReason
from crm.platform.extensions import db
from crm.referential.models import Offer
from tests.conftest import csrf_token
from workflows.dispatch import process_pending

JSON = {"Accept": "application/json"}


@pytest.fixture
def offer():
    return db.session.scalars(select(Offer).where(Offer.code == "VT_GRAND_AGE")).one()


@pytest.fixture
def reason():
    return db.session.scalars(select(LossReason).order_by(LossReason.id)).first()


@pytest.fixture
def make_opportunity(offer):
    """An opportunity opened by ``user`` at ``structure``, then moved to ``stage`` (a won one with its project)."""

    def factory(structure, user, stage="identifiee", title="ViaTrajectoire grand âge", offer_obj=None, **data):
        opportunity = services.create_opportunity(
            {"structure_id": structure.id, "offer_id": (offer_obj or offer).id, "title": title, **data}, user=user
        )
        if stage != "identifiee":
            reason_id = db.session.scalars(select(LossReason.id)).first() if stage in ("perdue", "abandonnee") else None
            services.change_stage(opportunity, stage, user=user, reason_id=reason_id)
        if stage == "gagnee":
            process_pending()  # its project: the won_opportunity_project rule, as a worker runs it
        return opportunity

    return factory


def move(client, opportunity_id, data, json=True, token=None):
    """POST to the stage endpoint as the board's script (``json``) or a plain form does."""
    data = dict(data)
    headers = dict(JSON) if json else {}
    if token is not False:
        if json:
            headers["X-CSRFToken"] = token or csrf_token(client)
        else:
            data["csrf_token"] = token or csrf_token(client)
    return client.post(f"/opportunites/{opportunity_id}/etape", data=data, headers=headers)
