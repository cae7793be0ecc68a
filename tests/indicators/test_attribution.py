"""What an event produced: opportunities naming it, or opened within N days by a structure present at it,
and their projects; a series counts each opportunity once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from crm.events.models import Event
from crm.indicators.attribution import attribute, event_attribution, series_attribution
from crm.pipeline import services as pipeline
from crm.pipeline.models import Opportunity
from crm.platform.dates import local_date
from crm.platform.extensions import db
from tests.events.factories import add_registration, make_event, make_series
from tests.indicators.conftest import offer
from workflows.dispatch import process_pending


@pytest.fixture
def people(make_user, make_structure):
    class P:
        pass

    p = P()
    p.animator = make_user("animateur", ["31", "32"])
    p.ehpad = make_structure(name="EHPAD Les Tilleuls")
    p.ch = make_structure(name="CH d'Auch", department_code="32", commune="Auch")
    p.cpts = make_structure(name="CPTS Sud Toulousain")
    return p


def opportunity(p, structure, *, days_after=None, event=None, title="ViaTrajectoire", **data) -> Opportunity:
    """An opportunity at ``structure``; identified ``days_after`` days after ``event``'s first day if given."""
    created = pipeline.create_opportunity(
        {"structure_id": structure.id, "offer_id": offer("VT_GRAND_AGE").id, "title": title, **data}, user=p.animator
    )
    if days_after is not None:
        day = local_date(event.starts_at) + timedelta(days=days_after)
        db.session.execute(update(Opportunity).where(Opportunity.id == created.id).values(identified_on=day))
        db.session.commit()
        db.session.refresh(created)
    return created


def ids(attribution) -> set[int]:
    return {item.opportunity.id for item in attribution.items}


def test_attributed_by_source_whatever_the_dates_with_its_project(people):
    p = people
    event = make_event(days_ago=200)  # long before the window, and nobody registered
    named = opportunity(p, p.ch, source="evenement", source_event_id=event.id, title="Téléo au CH")
    for stage in ("qualifiee", "proposee", "gagnee"):
        pipeline.change_stage(named, stage, user=p.animator)
    process_pending()  # the won opportunity's project comes from its workflow rule
    other_source = opportunity(p, p.ehpad, source="visite")
    produced = event_attribution(event)
    assert ids(produced) == {named.id} and other_source.id not in ids(produced)
    [item] = produced.items
    assert item.named and item.project is not None and item.project.id == named.project.id
    assert (produced.opportunities, produced.named, produced.within_window, produced.projects) == (1, 1, 0, 1)
    assert produced.transformation_rate == 1.0


def test_attributed_within_the_window_for_a_structure_present(people):
    p = people
    event = make_event(days_ago=120)
    add_registration(event, "direction@ehpad.fr", status="present", structure=p.ehpad)
    add_registration(event, "cadre@ehpad.fr", status="present", structure=p.ehpad)  # two people: counted once
    same_day = opportunity(p, p.ehpad, event=event, days_after=0, title="Le jour même")
    last_day = opportunity(p, p.ehpad, event=event, days_after=90, title="Au 90e jour")
    produced = event_attribution(event)
    assert ids(produced) == {same_day.id, last_day.id}
    assert [(i.named, i.days_after) for i in produced.items] == [(False, 0), (False, 90)]
    assert (produced.named, produced.within_window, produced.projects) == (0, 2, 0)
    assert produced.transformation_rate == 0.0


def test_not_outside_the_window(people):
    p = people
    event = make_event(days_ago=150)
    add_registration(event, "a@ehpad.fr", status="present", structure=p.ehpad)
    opportunity(p, p.ehpad, event=event, days_after=-1, title="La veille")
    opportunity(p, p.ehpad, event=event, days_after=91, title="Au 91e jour")
    produced = event_attribution(event)
    assert produced.items == [] and produced.transformation_rate is None  # no data, never 0 %


def test_the_window_follows_the_setting(app, people):
    p = people
    event = make_event(days_ago=60)
    add_registration(event, "a@ehpad.fr", status="present", structure=p.ehpad)
    late = opportunity(p, p.ehpad, event=event, days_after=30)
    assert ids(event_attribution(event)) == {late.id}
    app.config["ATTRIBUTION_DAYS"] = 20
    try:
        assert ids(event_attribution(event)) == set()
    finally:
        app.config["ATTRIBUTION_DAYS"] = 90
    assert ids(event_attribution(event, days=30)) == {late.id}


def test_not_for_a_structure_that_was_not_present(people):
    p = people
    event = make_event(days_ago=10)
    add_registration(event, "absent@ehpad.fr", status="absent", structure=p.ehpad)
    add_registration(event, "excuse@ch.fr", status="excuse", structure=p.ch)
    add_registration(event, "inscrit@cpts.fr", status="inscrit", structure=p.cpts)
    add_registration(event, "annule@cpts.fr", status="annule", structure=p.cpts)
    add_registration(event, "libre@x.fr", status="present", structure_name="Cabinet libre", department_code="31")
    for structure in (p.ehpad, p.ch, p.cpts):
        opportunity(p, structure, event=event, days_after=2)
    assert event_attribution(event).items == []


def test_an_opportunity_naming_another_event_is_not_taken_by_the_window(people):
    p = people
    first = make_event(title="Webinaire DMP", days_ago=20)
    second = make_event(title="Atelier INS", days_ago=10)
    add_registration(first, "a@ehpad.fr", status="present", structure=p.ehpad)
    named = opportunity(p, p.ehpad, source="evenement", source_event_id=second.id)
    produced = attribute([first, second])
    assert ids(produced[first.id]) == set() and ids(produced[second.id]) == {named.id}


def test_a_series_counts_each_opportunity_once(people):
    p = people
    series = make_series("TOP e-santé 2024")
    gers = make_event(title="TOP e-santé Gers", department_code="32", series=series, days_ago=40)
    tarn = make_event(title="TOP e-santé Tarn", department_code="81", series=series, days_ago=20)
    make_event(title="Hors série", days_ago=30)
    for event in (gers, tarn):  # the CH came to both days
        add_registration(event, f"dsi-{event.id}@ch.fr", status="present", structure=p.ch)
    add_registration(tarn, "a@ehpad.fr", status="present", structure=p.ehpad)
    both = opportunity(p, p.ch, event=tarn, days_after=5, title="Après les deux journées")
    only_gers = opportunity(p, p.ch, event=gers, days_after=3, title="Entre les deux")
    named = opportunity(p, p.ehpad, source="evenement", source_event_id=tarn.id, title="Déclarée au Tarn")
    pipeline.change_stage(named, "qualifiee", user=p.animator)
    pipeline.change_stage(named, "proposee", user=p.animator)
    pipeline.change_stage(named, "gagnee", user=p.animator)
    process_pending()
    per_event, whole = series_attribution([gers, tarn])
    assert ids(per_event[gers.id]) == {both.id, only_gers.id}
    assert ids(per_event[tarn.id]) == {both.id, named.id}
    assert whole.opportunities == 3 and ids(whole) == {both.id, only_gers.id, named.id}
    assert (whole.named, whole.projects) == (1, 1)
    # The delay is counted from the first day that led to it.
    assert {i.opportunity.id: i.days_after for i in whole.items}[both.id] == 25


def test_reading_a_series_takes_a_fixed_number_of_queries(people):
    """Not one query per event: a six-day series is read with as many statements as a one-day one."""
    from sqlalchemy import event as sa_event

    p = people
    days = [make_event(title=f"Jour {n}", days_ago=10 + n) for n in range(6)]
    for n, day in enumerate(days):
        add_registration(day, f"p{n}@ehpad.fr", status="present", structure=p.ehpad)
    opportunity(p, p.ehpad)

    def statements_for(events) -> int:
        statements = []

        def count(*_):
            statements.append(1)

        db.session.expire_all()
        events = list(db.session.scalars(select(Event).where(Event.id.in_([e.id for e in events]))))  # as a page does
        sa_event.listen(db.engine, "before_cursor_execute", count)
        try:
            per_event, whole = series_attribution(events)
        finally:
            sa_event.remove(db.engine, "before_cursor_execute", count)
        assert whole.opportunities == 1 and all(a.opportunities == 1 for a in per_event.values())
        return len(statements)

    assert statements_for(days) == statements_for(days[:1])


# --- the pages ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["animateur", "organisateur", "manager", "admin"])
def test_the_event_page_says_what_it_produced(client, login_as, people, role):
    from tests.events.conftest import page_text

    p = people
    event = make_event(days_ago=30)
    add_registration(event, "a@ehpad.fr", status="present", structure=p.ehpad)
    won = opportunity(p, p.ehpad, event=event, days_after=3, title="Dossier de liaison")
    for stage in ("qualifiee", "proposee", "gagnee"):
        pipeline.change_stage(won, stage, user=p.animator)
    process_pending()
    named = opportunity(p, p.ch, source="evenement", source_event_id=event.id, title="Téléconsultation")
    login_as(role, ["31"] if role == "animateur" else None)
    response = client.get(f"/evenements/{event.id}")
    assert response.status_code == 200
    html = page_text(response)
    section = html[html.index("Ce que l'événement a produit") :]
    section = section[: section.index("</section>")]
    assert 'data-produced="opportunities">2<' in section and 'data-produced="named">1<' in section
    assert 'data-produced="window">1<' in section and 'data-produced="projects">1<' in section
    assert "50\u00a0%" in section  # one project of two opportunities
    assert f'href="/opportunites/{won.id}"' in section and f'href="/opportunites/{named.id}"' in section
    assert f'href="/projets/{won.project.id}"' in section
    assert "Ouverte 3 jours après" in section and "Déclarée issue de l'événement" in section
    assert ("Noter une opportunité issue de l'événement" in section) == (role in ("animateur", "admin"))


def test_an_event_that_produced_nothing_says_so(client, login_as):
    event = make_event(days_ago=5)  # over: an upcoming event shows this section only once it produced something
    login_as("manager")
    html = client.get(f"/evenements/{event.id}").get_data(as_text=True)
    assert 'data-produced="opportunities">0<' in html and "Aucune opportunité pour l'instant." in html
    assert 'data-produced="rate">pas de données' in html


def test_the_series_page_has_a_row_per_day_and_a_total(client, login_as, people):
    p = people
    series = make_series("TOP e-santé 2024")
    gers = make_event(title="TOP e-santé Gers", department_code="32", series=series, days_ago=40)
    tarn = make_event(title="TOP e-santé Tarn", department_code="81", series=series, days_ago=20)
    for event in (gers, tarn):
        add_registration(event, f"dsi-{event.id}@ch.fr", status="present", structure=p.ch)
    opportunity(p, p.ch, event=tarn, days_after=1)
    login_as("organisateur")
    html = client.get(f"/evenements/series/{series.id}").get_data(as_text=True)
    table = html[html.index('data-table="series-produced"') :]
    rows = {key: table[table.index(f'data-event="{key}"') :].split("</tr>")[0] for key in (gers.id, tarn.id, "total")}
    for key in (gers.id, tarn.id, "total"):  # each day led to it, and the series counts it once
        assert 'data-produced="opportunities">1<' in rows[key]
    assert table.index(f'data-event="{gers.id}"') < table.index(f'data-event="{tarn.id}"')
    assert "pas de données" not in rows["total"] and "0\u00a0%" in rows["total"]
