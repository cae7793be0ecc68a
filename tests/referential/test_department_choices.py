"""Department selects: the region's departments first, the others in a group offered on demand, and a
record outside the region keeping its department."""

import re

from crm.referential.services import OTHER_DEPARTMENTS, department_choices, region_department_codes
from tests.events.conftest import event_type, make_event, organiser  # noqa: F401  (fixtures)

OCCITANIE = {"09", "11", "12", "30", "31", "32", "34", "46", "48", "65", "66", "81", "82"}


def select_html(html: str, name: str) -> str:
    match = re.search(rf'<select[^>]*name="{name}"[^>]*>(.*?)</select>', html, re.S)
    assert match, f"no select {name}"
    return match.group(1)


def region_and_others(select: str) -> tuple[list[str], list[str]]:
    """The option values before the "Autres départements" group, and those inside it."""
    head, _, group = select.partition(f'<optgroup label="{OTHER_DEPARTMENTS}">')
    values = lambda part: [v for v in re.findall(r'value="([^"]*)"', part) if v]  # noqa: E731
    return values(head), values(group)


def test_the_regions_departments_come_first_and_the_others_in_a_group():
    choices = department_choices("Tous")
    first, others = choices[None], choices[OTHER_DEPARTMENTS]
    assert first[0] == ("", "Tous")
    assert {code for code, _ in first[1:]} == OCCITANIE == set(region_department_codes())
    assert len(others) == 101 - 13 and "75" in {code for code, _ in others}
    assert department_choices()[None][0] != ("", "Tous")  # no blank unless asked for


def test_a_narrowed_list_inside_the_region_has_no_other_group(app):
    from crm.referential.services import departments_for_select

    mine = [d for d in departments_for_select() if d.code in ("31", "81")]
    assert department_choices("—", mine) == {None: [("", "—"), ("31", mine[0].label), ("81", mine[1].label)]}


def test_every_department_filter_lists_the_region_first(client, login_as):
    login_as("animateur", ["31"])
    for url in ("/pipeline", "/opportunites", "/projets", "/activites", "/structures", "/evenements"):
        html = client.get(url).get_data(as_text=True)
        region, others = region_and_others(select_html(html, "departement"))
        assert set(region) == OCCITANIE, url
        assert "75" in others, url


def test_a_filter_on_a_department_outside_the_region_keeps_it_selected(client, login_as):
    login_as("animateur", ["31"])
    html = client.get("/pipeline?departement=75").get_data(as_text=True)
    select = select_html(html, "departement")
    assert re.search(r'<optgroup label="Autres départements">.*<option value="75" selected>', select, re.S)


def test_the_event_form_and_the_public_form_list_the_region_first(client, login_as, make_event):
    event = make_event(department_code="75", place_name="Maison de la Mutualité", address="Paris")
    public = client.get(f"/e/{event.slug}").get_data(as_text=True)
    region, others = region_and_others(select_html(public, "department_code"))
    assert set(region) == OCCITANIE and "75" in others
    login_as("organisateur")
    html = client.get(f"/evenements/{event.id}/modifier").get_data(as_text=True)
    select = select_html(html, "department_code")
    region, others = region_and_others(select)
    assert set(region) == OCCITANIE
    # The event in Paris keeps its department, selected in the other group.
    assert re.search(r'<optgroup label="Autres départements">.*<option selected value="75">', select, re.S)
    new = select_html(client.get("/evenements/nouveau").get_data(as_text=True), "department_code")
    assert set(region_and_others(new)[0]) == OCCITANIE


def test_a_structure_outside_the_region_keeps_its_department(client, login_as, make_structure):
    structure = make_structure(name="Hôpital parisien", department_code="75", commune="Paris")
    login_as("admin")
    html = client.get(f"/structures/{structure.id}/modifier").get_data(as_text=True)
    select = select_html(html, "department_code")
    assert re.search(r'<optgroup label="Autres départements">.*<option selected value="75">', select, re.S)


def test_the_user_form_lists_the_region_first(client, login_as):
    login_as("admin")
    html = client.get("/admin/utilisateurs/nouveau").get_data(as_text=True)
    assert re.search(r'<select[^>]*data-multiselect[^>]*name="departments"', html)
    region, others = region_and_others(select_html(html, "departments"))
    assert set(region) == OCCITANIE and "75" in others
