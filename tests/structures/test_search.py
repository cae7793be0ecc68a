"""Accent-, case- and punctuation-insensitive search, filters, sort, pagination."""

from crm.platform.text import fold
from crm.structures.identifiers import luhn_check_digit
from crm.structures.services import autocomplete, search_structures
from tests.conftest import login


def finess(partial):
    return partial + luhn_check_digit(partial)


def test_fold():
    assert fold("EHPAD L'OUSTAL – SAINT-GAUDENS") == "ehpad l oustal saint gaudens"
    assert fold("Ariège Œuvre") == "ariege oeuvre"


def test_search_ignores_accents_case_and_punctuation(make_structure):
    target = make_structure(name="EHPAD L'OUSTAL", commune="SAINT-GAUDENS", finess_et=finess("31000123"))
    make_structure(name="EHPAD Les Tilleuls", commune="Toulouse")
    make_structure(name="Centre hospitalier Comminges Pyrénées", commune="Saint-Gaudens")
    page = search_structures("ehpad saint gaudens")
    assert [s.id for s in page.items] == [target.id]
    assert [s.id for s in search_structures("Saint Gaudens EHPAD").items] == [target.id]
    assert search_structures("pyrenees").total == 1
    assert search_structures("PYRÉNÉES").total == 1
    assert search_structures(target.finess_et).items[0].id == target.id
    assert search_structures("%").total == 3  # punctuation alone filters nothing (and is never a wildcard)
    assert search_structures("ehpad%oustal").total == 1
    assert search_structures("").total == 3


def test_filters_and_status(make_structure):
    from crm.platform.extensions import db
    from crm.referential.models import Category

    ehpad = db.session.query(Category).filter_by(code="EHPAD").one()
    make_structure(name="EHPAD A", department_code="31", category_id=ehpad.id)
    make_structure(name="EHPAD B", department_code="81", category_id=ehpad.id)
    make_structure(name="EHPAD C", department_code="81", category_id=ehpad.id, is_open=False)
    assert search_structures("ehpad", department="81").total == 1
    assert search_structures("ehpad", department="81", status=None).total == 2
    assert search_structures("ehpad", status="fermees").items[0].name == "EHPAD C"
    assert search_structures(category=ehpad.id).total == 2
    assert search_structures(sector=ehpad.sector_id).total == 2


def test_sort_and_pagination(make_structure):
    for i in range(30):
        make_structure(name=f"Structure {i:02d}", commune=f"Commune {29 - i:02d}")
    first = search_structures(per_page=25)
    assert first.total == 30 and first.pages == 2 and len(first.items) == 25
    assert first.items[0].name == "Structure 00"
    second = search_structures(page=2, per_page=25)
    assert len(second.items) == 5 and second.items[-1].name == "Structure 29"
    assert search_structures(sort="commune").items[0].name == "Structure 29"


def test_autocomplete_returns_labels(make_structure):
    make_structure(name="SSIAD ADMR du Lauragais", commune="Villefranche-de-Lauragais")
    make_structure(name="Fermé", commune="Lauragais", is_open=False)
    results = autocomplete("lauragais")
    assert len(results) == 1 and "SSIAD ADMR du Lauragais" in results[0]["label"]
    assert autocomplete("l") == []


def test_search_page_and_bad_parameters(client, make_user, make_structure):
    make_structure(name="EHPAD L'OUSTAL", commune="SAINT-GAUDENS")
    login(client, make_user("manager"))
    html = client.get("/structures?q=ehpad+saint+gaudens").get_data(as_text=True)
    assert "EHPAD L&#39;OUSTAL" in html and "1 structure" in html
    for query in (
        "page=abc",
        "page=-3",
        "secteur=xyz",
        "tri=drop",
        "statut=inconnu",
        "q=" + "x" * 5000,
        "departement=<script>",
        "endpoint=x",
        "_method=POST",
        "_external=1&page=2",
        "secteur=99999999999999999999",
        "page=99999999999999999999",
    ):
        response = client.get(f"/structures?{query}")
        assert response.status_code == 200, query
    for query in ("statut=%00", "q=ehpad%00", "departement=3%001"):
        response = client.get(f"/structures?{query}")
        assert response.status_code == 400 and "octet nul" in response.get_data(as_text=True), query
    assert client.get("/structures/99999999999999999999999").status_code == 404
    empty = client.get("/structures?q=zzzzzz").get_data(as_text=True)
    assert "Aucune structure ne correspond" in empty
