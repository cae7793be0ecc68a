"""The events list filters by year, type, programme, department and status; the filters stay in the
pagination links, and a value it does not know is said in French."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timezone
from html import unescape

from sqlalchemy import select

from crm.events.models import EventType
from crm.platform.dates import PARIS
from crm.platform.extensions import db
from crm.referential.models import Offer, Programme
from tests.events.factories import make_event


def _paris(*args) -> datetime:
    """A Paris wall-clock time, stored as the services store it: in UTC."""
    return datetime(*args, tzinfo=PARIS).astimezone(UTC)


def _type_id(code: str) -> int:
    return db.session.scalar(select(EventType.id).where(EventType.code == code))


def _programme(code: str) -> Programme:
    return db.session.scalars(select(Programme).where(Programme.code == code)).one()


def _listed(client, query: str) -> tuple[str, list[str]]:
    response = client.get("/evenements?" + query)
    assert response.status_code == 200
    html = unescape(response.get_data(as_text=True))
    return html, re.findall(r'<a href="/evenements/\d+">([^<]+)</a>', html)


def test_filters_by_year_type_programme_department_and_status(client, login_as):
    coordination, orientation = _programme("COORDINATION"), _programme("ORIENTATION")
    for n in range(27):  # more than a page
        event = make_event(title=f"Atelier SPICO {n:02d}", type_code="atelier", commit=False)
        event.starts_at = event.ends_at = _paris(2024, 3, 1 + n % 28, 10)
        event.programmes = [coordination]
    # Either side of new year's midnight in Paris (the UTC day would put both in 2024).
    late = make_event(
        title="TOP du réveillon", type_code="top_esante", department_code="46", status="annule", commit=False
    )
    late.starts_at = late.ends_at = _paris(2024, 12, 31, 23, 30)
    early = make_event(title="Webinaire du nouvel an", department_code=None, status="clos", commit=False)
    early.starts_at = early.ends_at = _paris(2025, 1, 1, 0, 30)
    early.offers = [db.session.scalars(select(Offer).where(Offer.code == "VT_GRAND_AGE")).one()]
    db.session.commit()
    login_as("manager")

    html, titles = _listed(client, f"annee=2024&programme={coordination.id}")
    for label in ("Année", "Type", "Programme", "Département", "Statut"):
        assert re.search(rf'<label for="\w+">{label}</label>', html), label
    assert "27 événements" in html and len(titles) == 25 and "TOP du réveillon" not in titles
    assert f'<option value="{coordination.id}" selected>' in html and '<option value="2024" selected>' in html
    following = re.search(r'<a href="([^"]+)" rel="next">', html).group(1)
    assert "annee=2024" in following and f"programme={coordination.id}" in following and "page=2" in following
    html, titles = _listed(client, following.split("?", 1)[1])
    assert len(titles) == 2 and all(t.startswith("Atelier SPICO") for t in titles)
    previous = re.search(r'<a href="([^"]+)" rel="prev">', html).group(1)
    assert "annee=2024" in previous and f"programme={coordination.id}" in previous

    assert _listed(client, "annee=2025")[1] == ["Webinaire du nouvel an"]
    assert _listed(client, "annee=2024&departement=46")[1] == ["TOP du réveillon"]
    assert _listed(client, f"programme={orientation.id}&periode=tous")[1] == ["Webinaire du nouvel an"]
    assert _listed(client, f"annee=2024&statut=annule&type={_type_id('top_esante')}")[1] == ["TOP du réveillon"]
    assert _listed(client, f"annee=2024&type={_type_id('webinaire')}")[1] == []
    assert _listed(client, "annee=2024&statut=clos")[1] == []


def test_unknown_filter_values_are_said_in_french(client, login_as):
    make_event(title="Webinaire INS")
    login_as("animateur")
    html, titles = _listed(client, "annee=20x4&programme=999999&periode=tous")
    assert "Année invalide : choisissez une année de la liste." in html and "Programme inconnu." in html
    assert titles == ["Webinaire INS"]  # the bad filters are left out, the list still shows
    assert client.get("/evenements?annee=" + "9" * 5000).status_code == 200
