"""The pipeline board and the list view: columns, counts of the filtered set, filters, pagination, no N+1."""

import re
from datetime import date, timedelta

import pytest
from sqlalchemy import event, select, update

from crm.pipeline.models import Opportunity
from crm.pipeline.queries import CARDS_PER_COLUMN, OpportunityFilters, board
from crm.platform.dates import local_today
from crm.platform.extensions import db
from crm.referential.models import Offer
from tests.conftest import login


@pytest.fixture
def animator(make_user):
    return make_user("animateur", ["31"])


def column(html: str, key: str) -> str:
    start = html.index(f'data-column="{key}"')
    end = html.find('data-column="', start + 20)
    return html[start : end if end > 0 else len(html)]


def column_count(html: str, key: str) -> int:
    return int(re.search(r"data-count>([\d\u202f]+)<", column(html, key)).group(1).replace("\u202f", ""))


def cards(html: str, key: str) -> int:
    return column(html, key).count("data-opportunity=")


def test_board_has_the_open_columns_and_the_two_drop_zones(client, animator, make_structure, make_opportunity):
    structure = make_structure()
    for stage in ("identifiee", "qualifiee", "proposee", "gagnee", "perdue", "abandonnee"):
        make_opportunity(structure, animator, stage=stage, title=f"Opportunité {stage}")
    login(client, animator)
    html = client.get("/pipeline").get_data(as_text=True)
    for title in ("Identifiée", "Qualifiée", "Proposée", "Gagnée", "Perdue / abandonnée"):
        assert f'>{title} <span class="count"' in html
    assert [column_count(html, k) for k in ("identifiee", "qualifiee", "proposee", "gagnee", "perdue_abandonnee")] == [
        1,
        1,
        1,
        1,
        2,
    ]
    assert 'data-column="perdue_abandonnee" data-stages="perdue abandonnee"\n           data-needs-reason' in html
    # Open cards move (drag and drop, and a menu of submit buttons without JavaScript); closed ones do not.
    assert column(html, "qualifiee").count('draggable="true"') == 1 and "data-move-form" in column(html, "proposee")
    assert 'draggable="true"' not in column(html, "gagnee") and "data-move-form" not in column(html, "gagnee")
    card = column(html, "identifiee")
    # A compact card: title, structure, age in stage, the owner's initials (the full name for assistive tech).
    assert "Opportunité identifiee" in card and "EHPAD Les Tilleuls" in card and "0 j dans l'étape" in card
    initials = (animator.first_name[:1] + animator.last_name[:1]).upper()
    assert f'title="{animator.display_name}" aria-hidden="true">{initials}</span>' in card
    assert f'<span class="sr-only">Responsable : {animator.display_name}</span>' in card
    # The card's menu lists the stages it can go to, forward first, never the current one.
    menu = re.findall(r'name="stage" value="(\w+)"', card)
    assert menu == ["qualifiee", "proposee", "gagnee", "perdue", "abandonnee"]
    assert re.findall(r'name="stage" value="(\w+)"', column(html, "proposee")) == [
        "gagnee",
        "identifiee",
        "qualifiee",
        "perdue",
        "abandonnee",
    ]
    # Won and lost columns are collapsed by default, with their counts.
    assert '<details class="board-closed-cards" data-closed-cards>' in column(html, "gagnee")
    assert "<details" not in column(html, "identifiee").split("board-card")[0]
    assert 'id="loss-dialog"' in html and "— Choisir la raison —" in html


def test_counts_cover_the_filtered_set_not_only_the_cards_shown(client, animator, make_structure, offer):
    structure = make_structure()
    today = local_today()
    rows = [
        Opportunity(
            structure_id=structure.id,
            offer_id=offer.id,
            programme_id=offer.programme_id,
            department_code="31",
            title=f"Besoin {i}",
            stage="identifiee",
            identified_on=today,
            owner_id=animator.id,
        )
        for i in range(57)
    ]
    db.session.add_all(rows)
    db.session.commit()
    login(client, animator)
    html = client.get("/pipeline").get_data(as_text=True)
    assert column_count(html, "identifiee") == 57 and cards(html, "identifiee") == CARDS_PER_COLUMN == 20
    assert 'href="/opportunites?etape=identifiee">Voir tout (57)<span class="sr-only"> : Identifiée</span></a>' in html
    html = client.get("/pipeline?departement=31&mes=1").get_data(as_text=True)
    assert "/opportunites?etape=identifiee&amp;departement=31&amp;mes=1" in html


def test_newest_stage_change_first(animator, make_structure, make_opportunity):
    structure = make_structure()
    old = make_opportunity(structure, animator, title="Ancienne")
    new = make_opportunity(structure, animator, title="Récente")
    db.session.execute(
        update(Opportunity)
        .where(Opportunity.id == old.id)
        .values(stage_changed_at=old.stage_changed_at - timedelta(days=12))
    )
    db.session.commit()
    db.session.expire_all()
    columns = board(OpportunityFilters(), per_column=1)
    assert [o.title for o in columns[0].cards] == ["Récente"] and columns[0].count == 2
    assert columns[0].hidden_count == 1
    assert new.id != old.id


def test_filters(client, make_user, make_structure, make_opportunity):
    mine = make_user("animateur", ["31"])
    colleague = make_user("animateur", ["31", "81"])
    toulouse = make_structure(name="EHPAD Toulouse")
    albi = make_structure(name="CH Albi", department_code="81")
    teleo = (
        db.session.scalars(select(Offer).where(Offer.code == "TELEO")).first()
        or db.session.scalars(select(Offer).where(Offer.code != "VT_GRAND_AGE")).first()
    )
    make_opportunity(toulouse, mine, title="Mine 31")
    make_opportunity(toulouse, colleague, title="Colleague 31", stage="qualifiee")
    make_opportunity(albi, colleague, title="Colleague 81", offer_obj=teleo)
    late = make_opportunity(albi, colleague, title="Old 81", offer_obj=teleo)
    db.session.execute(update(Opportunity).where(Opportunity.id == late.id).values(identified_on=date(2024, 3, 1)))
    db.session.commit()
    login(client, mine)

    def titles(query):
        html = client.get("/pipeline" + query).get_data(as_text=True)
        return sorted(re.findall(r'id="carte-\d+"><a href="[^"]+">([^<]+)</a>', html))

    assert titles("") == ["Colleague 31", "Colleague 81", "Mine 31", "Old 81"]
    assert titles("?departement=81") == ["Colleague 81", "Old 81"]
    assert titles(f"?programme={teleo.programme_id}") == ["Colleague 81", "Old 81"]
    assert titles(f"?responsable={colleague.id}") == ["Colleague 31", "Colleague 81", "Old 81"]
    assert titles("?mes=1") == ["Mine 31"]
    assert titles("?du=2024-01-01&au=2024-12-31") == ["Old 81"]
    assert titles(f"?du={local_today().isoformat()}") == ["Colleague 31", "Colleague 81", "Mine 31"]
    html = client.get("/pipeline?departement=31").get_data(as_text=True)
    assert column_count(html, "identifiee") == 1 and column_count(html, "qualifiee") == 1
    # Malformed filters are ignored, never an error.
    for query in (
        "?departement=zzzz",
        "?programme=abc",
        "?responsable=-1",
        "?du=2024-13-45",
        "?mes=oui",
        "?programme=99999999999999999999",
    ):
        assert client.get("/pipeline" + query).status_code == 200, query


def test_board_queries_do_not_grow_with_the_cards(client, animator, make_user, make_structure, offer):
    owners = [animator] + [make_user("animateur", ["31"]) for _ in range(4)]
    structures = [make_structure(name=f"EHPAD {i}") for i in range(6)]

    def add(n):
        db.session.add_all(
            [
                Opportunity(
                    structure_id=structures[i % 6].id,
                    offer_id=offer.id,
                    programme_id=offer.programme_id,
                    department_code=structures[i % 6].department_code,
                    title=f"Besoin {i}",
                    stage=("identifiee", "qualifiee", "proposee", "gagnee", "perdue")[i % 5],
                    identified_on=local_today(),
                    owner_id=owners[i % 5].id,
                )
                for i in range(n)
            ]
        )
        db.session.commit()

    login(client, animator)

    def statements():
        seen = []

        def count(*_args):
            seen.append(1)

        event.listen(db.engine, "before_cursor_execute", count)
        try:
            assert client.get("/pipeline?departement=31").status_code == 200
        finally:
            event.remove(db.engine, "before_cursor_execute", count)
        return len(seen)

    add(5)
    few = statements()
    add(60)
    assert statements() == few


def test_list_view_filters_by_stage_and_paginates(client, animator, make_structure, offer, make_opportunity):
    structure = make_structure()
    db.session.add_all(
        [
            Opportunity(
                structure_id=structure.id,
                offer_id=offer.id,
                programme_id=offer.programme_id,
                department_code="31",
                title=f"Besoin {i:02d}",
                stage="qualifiee",
                identified_on=local_today(),
                owner_id=animator.id,
            )
            for i in range(30)
        ]
    )
    db.session.commit()
    make_opportunity(structure, animator, stage="perdue", title="Perdue")
    make_opportunity(structure, animator, stage="abandonnee", title="Abandonnée")
    login(client, animator)
    html = client.get("/opportunites").get_data(as_text=True)
    assert "32 opportunités" in html and html.count("/opportunites/") - html.count("/opportunites/nouvelle") >= 25
    assert "Page 1 sur 2" in html and 'rel="next"' in html
    page2 = client.get("/opportunites?page=2").get_data(as_text=True)
    assert "Page 2 sur 2" in page2 and 'rel="prev"' in page2
    rows = lambda h: len(re.findall(r"<tr>\s*<td><a href=\"/opportunites/\d+\">", h))  # noqa: E731
    assert rows(html) == 25 and rows(page2) == 7
    lost = client.get("/opportunites?etape=perdue_abandonnee").get_data(as_text=True)
    assert "2 opportunités" in lost and rows(lost) == 2
    assert rows(client.get("/opportunites?etape=qualifiee&page=2").get_data(as_text=True)) == 5
    for query in ("?page=abc", "?page=-4", "?page=99999", "?etape=xyz", "?page=99999999999999999999"):
        assert client.get("/opportunites" + query).status_code == 200, query


def test_a_structure_that_changes_department_takes_its_pipeline_along(animator, make_structure, make_opportunity):
    from crm.pipeline import services
    from crm.structures.services import update_structure

    structure = make_structure(name="MSP du Lauragais", department_code="31")
    opportunity = make_opportunity(structure, animator, stage="gagnee")
    assert opportunity.department_code == "31" and opportunity.project.department_code == "31"
    update_structure(structure, {"name": structure.name, "department_code": "11", "is_open": True})
    db.session.commit()
    db.session.expire_all()
    moved = db.session.get(Opportunity, opportunity.id)
    assert moved.department_code == "11" and moved.project.department_code == "11"
    assert [c.cards[0].id for c in board(OpportunityFilters(department="11")) if c.cards] == [opportunity.id]
    assert not any(c.count for c in board(OpportunityFilters(department="31")))
    assert services.sync_departments() == 0  # nothing left out of step
