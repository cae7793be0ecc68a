"""The services view (rates per department, map, exports) and the targeting list (sort, export)."""

from datetime import date
from functools import partial

from sqlalchemy import select

from crm.activities.services import log_activity
from crm.deployment import services
from crm.deployment.usage import import_usage
from crm.platform.extensions import db
from crm.referential.models import Category, Offer
from crm.structures.contacts import save_contact
from tests.workflows.conftest import process


def offer(code="MSSANTE"):
    return db.session.scalars(select(Offer).where(Offer.code == code)).one()


def scenario(make_user, make_structure):
    ehpad = db.session.scalars(select(Category).where(Category.code == "EHPAD")).one()
    admin = make_user("admin")
    animator = make_user("animateur", ["31"])
    kw = {"category_id": ehpad.id, "sector_id": ehpad.sector_id}
    a = make_structure(name="EHPAD Alpha", finess_et="310000005", **kw)
    b = make_structure(name="EHPAD Bravo", **kw)
    c = make_structure(name="EHPAD Charlie", **kw)
    make_structure(name="EHPAD Delta", department_code="81", **kw)
    services.set_status(a, offer().id, "deploye", source="manuel", user_id=admin.id)
    services.set_status(b, offer().id, "a_sensibiliser", source="manuel", user_id=admin.id)
    db.session.commit()
    import_usage(b"finess;mois;valeur\n310000005;2026-10;4\n310000005;2026-11;6\n", offer(), source="mss.csv")
    for _ in range(2):
        save_contact(c, None, {"last_name": "Martin", "first_name": "Léa", "email": "lea@example.org"})
    log_activity(
        {"kind": "visite", "occurred_on": date(2026, 9, 1).isoformat(), "structure_ids": [b.id]}, user=animator
    )
    process()
    return a, b, c


def test_services_view_shows_rates_per_department_and_exports(client, login_as, make_user, make_structure):
    scenario(make_user, make_structure)
    login_as("manager")
    html = client.get("/tableau-de-bord/services?offre=MSSANTE").get_data(as_text=True)
    assert "MSSanté" in html and "<svg" in html
    assert "33\u00a0%" in html  # 1 deployed of 3 eligible in 31
    assert "sept. 2026 – nov. 2026" in html
    csv = client.get("/tableau-de-bord/services/export.csv?offre=MSSANTE").get_data(as_text=True)
    assert "Taux de déploiement" in csv and "31" in csv
    assert client.get("/tableau-de-bord/services/export.xlsx?offre=MSSANTE").status_code == 200
    assert client.get("/tableau-de-bord/services?offre=NOPE").status_code == 404


def test_targets_list_sorts_by_size_and_last_visit_and_exports(client, login_as, make_user, make_structure):
    a, b, c = scenario(make_user, make_structure)
    login_as("animateur", ["31"])
    html = client.get("/tableau-de-bord/services/cibles?offre=MSSANTE&departement=31").get_data(as_text=True)
    assert "EHPAD Alpha" not in html  # equipped
    assert html.index("EHPAD Charlie") < html.index("EHPAD Bravo")  # 2 contacts first
    html = client.get("/tableau-de-bord/services/cibles?offre=MSSANTE&departement=31&tri=visite").get_data(as_text=True)
    assert html.index("EHPAD Charlie") < html.index("EHPAD Bravo")  # never visited first
    assert "01/09/2026" in html
    csv = client.get("/tableau-de-bord/services/cibles/export.csv?offre=MSSANTE&departement=31").get_data(as_text=True)
    assert "EHPAD Bravo" in csv and "EHPAD Charlie" in csv and "EHPAD Alpha" not in csv
    assert "EHPAD Delta" not in csv  # other department


def test_structure_list_filters_the_eligible_not_equipped(client, login_as, make_user, make_structure):
    scenario(make_user, make_structure)
    login_as("animateur", ["31"])
    html = client.get("/structures?non_equipees=MSSANTE&departement=31").get_data(as_text=True)
    assert "Éligibles non équipées pour" in html
    assert "EHPAD Bravo" in html and "EHPAD Charlie" in html and "EHPAD Alpha" not in html
    assert "EHPAD Alpha" in client.get("/structures?non_equipees=INCONNUE").get_data(as_text=True)


def test_targets_sort_by_partners_already_equipped_and_read_last_visits_of_the_page(
    client, login_as, make_user, make_structure
):
    from crm.deployment import targeting
    from crm.networks import services as networks
    from crm.networks.models import StructureLinkType

    a, b, c = scenario(make_user, make_structure)
    admin = make_user("admin")
    dac = db.session.scalars(select(StructureLinkType).where(StructureLinkType.code == "partenaire_dac")).one()
    cpts = db.session.scalars(select(StructureLinkType).where(StructureLinkType.code == "partenaire_cpts")).one()
    # Bravo is linked to the equipped Alpha (twice, under two types: one partner) and to Charlie (not equipped).
    for a_id, b_id, type_id in ((b.id, a.id, dac.id), (a.id, b.id, cpts.id), (b.id, c.id, dac.id)):
        networks.add_link({"structure_a_id": a_id, "structure_b_id": b_id, "type_id": type_id}, user=admin)
    db.session.commit()

    partners = partial(networks.equipped_partners, offer().id)
    rows, total = targeting.targets(offer(), "31", "partenaires", partners=partners)
    assert [(r.name, r.partners) for r in targeting.targets(offer(), "31", "nom", partners=partners)[0]] == [
        ("EHPAD Bravo", 1),
        ("EHPAD Charlie", 0),
    ]  # the page's own partners, counted for its rows alone
    assert [(r.name, r.partners) for r in rows] == [("EHPAD Bravo", 1), ("EHPAD Charlie", 0)] and total == 2
    # A page reads its rows' last visits alone; the whole list reads them in one aggregate: the same dates.
    page, total = targeting.targets(offer(), "31", "taille", limit=1)
    assert total == 2  # the window count is the list's, not the page's
    whole, _ = targeting.targets(offer(), "31", "taille", limit=None)
    assert [r.name for r in page] == ["EHPAD Charlie"] and page[0].last_visit is None
    assert {r.name: r.last_visit for r in whole} == {"EHPAD Charlie": None, "EHPAD Bravo": date(2026, 9, 1)}
    assert targeting.targets(offer(), "31", "nom")[0][0].last_visit == date(2026, 9, 1)
    assert targeting.targets(offer(), "31", "partenaires")[0][0].partners is None  # links not read: no column

    login_as("animateur", ["31"])
    html = client.get("/tableau-de-bord/services/cibles?offre=MSSANTE&departement=31&tri=partenaires").get_data(
        as_text=True
    )
    assert "Partenaires déjà équipés" in html and html.index("EHPAD Bravo") < html.index("EHPAD Charlie")
    csv = client.get(
        "/tableau-de-bord/services/cibles/export.csv?offre=MSSANTE&departement=31&tri=partenaires"
    ).get_data(as_text=True)
    assert "Partenaires déjà équipés" in csv and csv.index("EHPAD Bravo") < csv.index("EHPAD Charlie")
    lines = {line.split(";")[1]: line.split(";") for line in csv.splitlines() if "EHPAD" in line}
    assert lines["EHPAD Bravo"][-1] == "1" and lines["EHPAD Charlie"][-1] == "0", lines
