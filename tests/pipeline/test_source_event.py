"""An opportunity may name the event it came from: only with the source "evenement", an event that took place."""

import pytest
from sqlalchemy import select

from crm.pipeline import services
from crm.pipeline.models import Opportunity
from crm.platform.extensions import db
from crm.platform.validation import ValidationFailed
from tests.conftest import post
from tests.events.factories import make_event


@pytest.fixture
def animator(make_user):
    return make_user("animateur", ["31"])


def _create(structure, offer, animator, **data):
    return services.create_opportunity(
        {"structure_id": structure.id, "offer_id": offer.id, "title": "Besoin", **data}, user=animator
    )


def test_an_opportunity_names_its_event(make_structure, offer, animator):
    event = make_event(days_ago=3)
    opportunity = _create(make_structure(), offer, animator, source="evenement", source_event_id=event.id)
    assert opportunity.source_event_id == event.id and opportunity.source_event.title == event.title


@pytest.mark.parametrize(
    "source, event_kwargs, event_id, message",
    [
        ("visite", {"days_ago": 3}, None, "suppose l'origine « Événement »"),
        ("evenement", {"days_ago": 3, "status": "brouillon"}, None, "n'a pas eu lieu"),
        ("evenement", {"days_ago": 3, "status": "annule"}, None, "n'a pas eu lieu"),
        ("evenement", {"days_ago": -2}, None, "pas encore commencé"),
        ("evenement", None, 999999, "Événement inconnu."),
        ("evenement", None, "abc", "Événement invalide."),
        ("evenement", None, 2**31, "Événement invalide."),
    ],
)
def test_the_event_is_checked(make_structure, offer, animator, source, event_kwargs, event_id, message):
    structure = make_structure()
    if event_kwargs is not None:
        event_id = make_event(**event_kwargs).id
    with pytest.raises(ValidationFailed) as refused:
        _create(structure, offer, animator, source=source, source_event_id=event_id)
    assert message in refused.value.errors["source_event_id"]
    db.session.rollback()
    assert db.session.scalar(select(db.func.count()).select_from(Opportunity)) == 0


def test_the_form_offers_the_events_that_took_place(client, login_as, make_structure, offer):
    login_as("animateur", ["31"])
    past = make_event(title="Webinaire DMP", days_ago=5)
    make_event(title="Atelier à venir", days_ago=-5)
    make_event(title="Brouillon passé", days_ago=5, status="brouillon")
    html = client.get(f"/opportunites/nouvelle?event_id={past.id}").get_data(as_text=True)
    select_html = html[html.index('name="source_event_id"') :].split("</select>")[0]
    assert "Webinaire DMP" in select_html and "Atelier à venir" not in select_html and "Brouillon" not in select_html
    assert f'<option selected value="{past.id}"' in select_html or f'value="{past.id}" selected' in select_html
    assert 'data-show-when="source=evenement"' in html
    structure = make_structure()
    response = post(
        client,
        "/opportunites/nouvelle",
        {
            "structure_id": structure.id,
            "offer_id": offer.id,
            "title": "DMP",
            "source": "evenement",
            "source_event_id": past.id,
        },
    )
    assert response.status_code == 302
    created = db.session.scalars(select(Opportunity)).one()
    assert created.source_event_id == past.id
    page = client.get(f"/opportunites/{created.id}").get_data(as_text=True)
    assert f'href="/evenements/{past.id}#produit"' in page


def test_a_choice_left_behind_by_another_origin_is_dropped(client, login_as, make_structure, offer):
    login_as("animateur", ["31"])
    past = make_event(days_ago=5)
    response = post(
        client,
        "/opportunites/nouvelle",
        {
            "structure_id": make_structure().id,
            "offer_id": offer.id,
            "title": "DMP",
            "source": "visite",
            "source_event_id": past.id,
        },
    )
    assert response.status_code == 302
    assert db.session.scalars(select(Opportunity)).one().source_event_id is None
