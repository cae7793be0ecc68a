"""The new-opportunity form takes the day the need was identified (today by default, never the future)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from crm.pipeline.models import Opportunity
from crm.platform.dates import local_today
from crm.platform.extensions import db
from tests.conftest import post


def test_the_form_takes_identified_on(client, login_as, make_structure, offer):
    login_as("animateur", ["31"])
    structure = make_structure()
    page = client.get("/opportunites/nouvelle").get_data(as_text=True)
    assert 'name="identified_on"' in page and f'value="{local_today().isoformat()}"' in page
    week_ago = (local_today() - timedelta(days=7)).isoformat()
    data = {
        "structure_id": structure.id,
        "offer_id": offer.id,
        "title": "Besoin",
        "source": "visite",
        "identified_on": week_ago,
    }
    assert post(client, "/opportunites/nouvelle", data).status_code == 302
    assert db.session.scalars(select(Opportunity.identified_on)).one().isoformat() == week_ago
    future = post(
        client, "/opportunites/nouvelle", {**data, "identified_on": (local_today() + timedelta(days=2)).isoformat()}
    )
    assert future.status_code == 422 and "ne peut pas être dans le futur" in future.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Opportunity)) == 1
