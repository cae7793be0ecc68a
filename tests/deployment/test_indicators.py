"""Deployment and active usage rates: the cells kept by the outbox consumer equal a full recomputation
(``crm indicators check``) after statuses by hand, by rule and by import, eligibility changes, a structure
that moves department or closes."""

from datetime import date

from sqlalchemy import distinct, func, select

from crm.deployment import services
from crm.deployment.models import UsageFigure
from crm.deployment.usage import import_usage, push_usage
from crm.indicators.readmodel import usage as usage_readmodel
from crm.indicators.readmodel.check import check
from crm.indicators.readmodel.deployment import DeploymentCell, keys_of_event
from crm.indicators.readmodel.usage import ALL, PERIOD_MONTHS, UsageCell, add_months, scopes_of_event, window_ends
from crm.platform.extensions import db
from crm.platform.models import OutboxEvent
from crm.referential.models import Category, Offer
from crm.structures.identifiers import luhn_check_digit
from crm.structures.models import Structure
from crm.structures.services import delete_structure, update_structure
from tests.api.conftest import api_as, openapi_document  # noqa: F401  (fixtures)
from tests.workflows.conftest import process, process_again


def offer(code="MSSANTE"):
    return db.session.scalars(select(Offer).where(Offer.code == code)).one()


def cells(code="MSSANTE"):
    db.session.expire_all()
    return {
        c.department_code: (c.eligible, c.deployed)
        for c in db.session.scalars(select(DeploymentCell).where(DeploymentCell.offer_id == offer(code).id))
    }


def test_incremental_cells_equal_a_full_recomputation(make_user, make_structure):
    ehpad = db.session.scalars(select(Category).where(Category.code == "EHPAD")).one()
    admin = make_user("admin")
    a = make_structure(name="A", category_id=ehpad.id, sector_id=ehpad.sector_id, finess_et="310000005")
    b = make_structure(name="B", category_id=ehpad.id, sector_id=ehpad.sector_id)
    c = make_structure(name="C", department_code="81", category_id=ehpad.id, sector_id=ehpad.sector_id)
    outsider = make_structure(name="Mairie")  # no sector: not eligible by rule
    process()
    assert check() == []
    assert cells() == {"31": (2, 0), "81": (1, 0)}

    services.set_status(a, offer().id, "deploye", source="manuel", user_id=admin.id)
    services.set_status(c, offer().id, "en_projet", source="manuel", user_id=admin.id)
    db.session.commit()
    process()
    assert cells() == {"31": (2, 1), "81": (1, 0)} and check() == []

    services.set_override(outsider, offer(), True, user=admin)  # added by hand
    services.set_override(b, offer(), False, user=admin)  # excluded by hand
    process()
    assert cells() == {"31": (2, 1), "81": (1, 0)} and check() == []

    update_structure(a, {**_data(a), "department_code": "81"})  # moves: both departments change
    process()
    assert cells() == {"31": (1, 0), "81": (2, 1)} and check() == []

    update_structure(c, {**_data(c), "is_open": False})  # closes: out of the population
    process()
    assert cells() == {"31": (1, 0), "81": (1, 1)} and check() == []

    # The offer's rule narrowed to another category: every department of the offer recomputed.
    services.save_offer_settings(offer(), {"eligible_categories": "CH"}, user_id=admin.id)
    db.session.commit()
    process()
    assert cells() == {"31": (1, 0)} and check() == []  # the outsider, added by hand, stays

    # An import puts a structure "usage actif" (at or beyond "déployé").
    services.save_offer_settings(offer(), {"eligible_categories": ""}, user_id=admin.id)
    db.session.commit()
    import_usage(b"finess;mois;valeur\n310000005;2026-11;4\n", offer(), source="mss.csv")
    process()
    assert cells()["81"] == (1, 1) and check() == []


def _data(structure):
    return {
        "name": structure.name,
        "department_code": structure.department_code,
        "commune": structure.commune,
        "is_open": structure.is_open,
        "sector_id": structure.sector_id,
        "category_id": structure.category_id,
        "finess_et": structure.finess_et,
    }


# --- The active usage rate (ind_usage_cells) ----------------------------------------------------------------


def finess(prefix: str) -> str:
    return prefix + luhn_check_digit(prefix)


def usage_cells(code="MSSANTE") -> dict:
    db.session.expire_all()
    return {
        (c.department_code, c.month.strftime("%Y-%m")): c.active
        for c in db.session.scalars(select(UsageCell).where(UsageCell.offer_id == offer(code).id))
    }


def direct_active(the_offer, department: str, end: date) -> int:
    """The active count as the services view counted it before the cells: straight from the figures."""
    start = add_months(end, -(PERIOD_MONTHS - 1))
    return db.session.scalar(
        select(func.count(distinct(UsageFigure.structure_id)))
        .join(Structure, Structure.id == UsageFigure.structure_id)
        .where(
            UsageFigure.offer_id == the_offer.id,
            UsageFigure.month.between(start, end),
            UsageFigure.value > 0,
            Structure.department_code == department,
            services.population(the_offer).condition(),
        )
    )


def direct_cells(code="MSSANTE") -> dict:
    """Every (department, window end) with a count above zero, counted directly over a range wider than the
    figures (two years around them), so that a stored cell too many or too few shows."""
    the_offer = offer(code)
    departments = set(db.session.scalars(select(distinct(Structure.department_code))))
    out = {}
    for k in range(-12, 13):
        end = add_months(date(2026, 11, 1), k)
        for department in departments:
            count = direct_active(the_offer, department, end)
            if count:
                out[(department, end.strftime("%Y-%m"))] = count
    return out


def windows(department: str, *months: str) -> dict:
    """The cells a structure active in ``months`` gives alone: each month and the two after."""
    ends = window_ends({date(int(m[:4]), int(m[5:]), 1) for m in months})
    return {(department, end.strftime("%Y-%m")): 1 for end in ends}


def merged(*cell_sets: dict) -> dict:
    out: dict = {}
    for cells_of in cell_sets:
        for key, count in cells_of.items():
            out[key] = out.get(key, 0) + count
    return out


def assert_consistent(expected: dict) -> None:
    stored = usage_cells()
    assert stored == expected
    assert stored == direct_cells()
    assert check() == []


def test_usage_cells_equal_a_full_recomputation(make_user, make_structure):
    ehpad = db.session.scalars(select(Category).where(Category.code == "EHPAD")).one()
    kw = {"category_id": ehpad.id, "sector_id": ehpad.sector_id}
    admin = make_user("admin")
    fa, fb, fc, fo = (finess(p) for p in ("31000010", "31000020", "81000030", "31000040"))
    a = make_structure(name="A", finess_et=fa, **kw)
    b = make_structure(name="B", finess_et=fb, **kw)
    c = make_structure(name="C", department_code="81", finess_et=fc, **kw)
    outsider = make_structure(name="Mairie", finess_et=fo)  # no sector: not eligible by rule
    process()
    assert_consistent({})

    # First import: A active in September, B at zero, C in November, the outsider not eligible.
    first = f"finess;mois;valeur\n{fa};2026-09;3\n{fb};2026-10;0\n{fc};2026-11;5\n{fo};2026-11;2\n"
    import_usage(first.encode(), offer(), source="mss-1.csv")
    process()
    assert_consistent(merged(windows("31", "2026-09"), windows("81", "2026-11")))

    # Re-import: A's September back to zero (its windows empty), then to a value again.
    import_usage(f"finess;mois;valeur\n{fa};2026-09;0\n".encode(), offer(), source="mss-2.csv")
    process()
    assert_consistent(windows("81", "2026-11"))
    import_usage(f"finess;mois;valeur\n{fa};2026-09;7\n".encode(), offer(), source="mss-3.csv")
    process()
    assert_consistent(merged(windows("31", "2026-09"), windows("81", "2026-11")))

    # A new month: B in December, A in October (A's windows overlap: counted once each).
    import_usage(f"finess;mois;valeur\n{fb};2026-12;4\n{fa};2026-10;1\n".encode(), offer(), source="mss-4.csv")
    process()
    both_31 = merged(windows("31", "2026-09", "2026-10"), windows("31", "2026-12"))
    assert both_31[("31", "2026-12")] == 2  # A (October) and B (December) in October-December
    assert_consistent(merged(both_31, windows("81", "2026-11")))

    # The API's push, for a month after every other.
    push_usage(offer(), [{"finess": fc, "month": "2027-03", "value": 2}], user_id=admin.id)
    process()
    expected = merged(both_31, windows("81", "2026-11", "2027-03"))
    assert_consistent(expected)

    # Statuses move no usage cell (the import already put them "usage actif"); an idempotent reprocess neither.
    services.set_status(b, offer().id, "en_projet", source="manuel", user_id=admin.id)
    db.session.commit()
    process()
    process_again("usage.imported")
    assert_consistent(expected)

    # Eligibility by hand: the outsider added (its November counts in 31), A excluded.
    services.set_override(outsider, offer(), True, user=admin)
    services.set_override(a, offer(), False, user=admin)
    process()
    only_b = windows("31", "2026-12")
    assert_consistent(merged(only_b, windows("31", "2026-11"), windows("81", "2026-11", "2027-03")))
    services.set_override(a, offer(), None, user=admin)  # back to the rule
    process()
    assert_consistent(merged(expected, windows("31", "2026-11")))

    # The offer's rule narrowed to another category: only the outsider, added by hand, stays; then widened back.
    services.save_offer_settings(offer(), {"eligible_categories": "CH"}, user_id=admin.id)
    db.session.commit()
    process()
    assert_consistent(windows("31", "2026-11"))
    services.save_offer_settings(offer(), {"eligible_categories": ""}, user_id=admin.id)
    db.session.commit()
    process()
    assert_consistent(merged(expected, windows("31", "2026-11")))

    # B moves to 81: its windows leave 31 and join 81.
    update_structure(b, {**_data(b), "department_code": "81"})
    process()
    assert_consistent(
        merged(
            windows("31", "2026-09", "2026-10"),
            windows("31", "2026-11"),
            windows("81", "2026-12"),
            windows("81", "2026-11", "2027-03"),
        )
    )

    # C closes: out of every window; the outsider is deleted: its figures and windows go with it.
    update_structure(c, {**_data(c), "is_open": False})
    process()
    assert_consistent(merged(windows("31", "2026-09", "2026-10"), windows("31", "2026-11"), windows("81", "2026-12")))
    delete_structure(outsider)
    process()
    assert_consistent(merged(windows("31", "2026-09", "2026-10"), windows("81", "2026-12")))


def test_a_usage_event_recomputes_its_periods_in_its_departments_only(make_user, make_structure, monkeypatch):
    """The consumer's work for an import is bounded by it: the periods containing its months, in the departments of
    its structures (every department once the import is large); a stored cell outside them is left alone, and
    ``check`` then names it."""
    ehpad = db.session.scalars(select(Category).where(Category.code == "EHPAD")).one()
    kw = {"category_id": ehpad.id, "sector_id": ehpad.sector_id}
    admin = make_user("admin")
    fa, fc = finess("31000050"), finess("81000060")
    structure_a = make_structure(name="A", finess_et=fa, **kw)
    make_structure(name="C", department_code="81", finess_et=fc, **kw)
    process()
    stale = UsageCell(offer_id=offer().id, department_code="81", month=date(2026, 11, 1), active=9)
    db.session.add(stale)
    db.session.commit()

    import_usage(f"finess;mois;valeur\n{fa};2026-11;2\n".encode(), offer(), source="a.csv")
    [event] = db.session.scalars(
        select(OutboxEvent).where(OutboxEvent.type == "usage.imported").order_by(OutboxEvent.id)
    ).all()
    ends = frozenset(window_ends({date(2026, 11, 1)}))
    assert scopes_of_event(event, {}) == {(offer().id, frozenset({"31"}), ends)}
    process()
    assert usage_cells() == {**windows("31", "2026-11"), ("81", "2026-11"): 9}
    [difference] = check()
    assert (difference.table, difference.missing, difference.extra) == (
        "ind_usage_cells",
        0,
        1,
    )  # stored, not recomputed

    # A large import: every department, for its periods only (the stale cell is in them this time).
    monkeypatch.setattr(usage_readmodel, "MANY_STRUCTURES", 1)
    import_usage(f"finess;mois;valeur\n{fa};2026-10;1\n{fc};2026-10;0\n".encode(), offer(), source="b.csv")
    event = db.session.scalars(
        select(OutboxEvent).where(OutboxEvent.type == "usage.imported").order_by(OutboxEvent.id.desc())
    ).first()
    assert scopes_of_event(event, {}) == {(offer().id, ALL, frozenset(window_ends({date(2026, 10, 1)})))}
    # An import that leaves its structures out of the event: every department too; one that wrote none: nothing.
    unlisted = {k: v for k, v in event.payload.items() if k != "structure_ids"}
    whole = {(offer().id, ALL, frozenset(window_ends({date(2026, 10, 1)})))}
    assert scopes_of_event(OutboxEvent(aggregate_type="offer_usage", payload=unlisted), {}) == whole
    empty = {**event.payload, "structure_ids": []}
    assert scopes_of_event(OutboxEvent(aggregate_type="offer_usage", payload=empty), {}) == set()
    process()
    assert usage_cells() == windows("31", "2026-10", "2026-11") == direct_cells() and check() == []

    # The metric or the CSV's mapping change no population: no cell to recompute.
    services.save_offer_settings(offer(), {"metric_name": "Messages"}, user_id=admin.id)
    db.session.commit()
    event = db.session.scalars(
        select(OutboxEvent)
        .where(OutboxEvent.type == "deployment.offer_settings_changed")
        .order_by(OutboxEvent.id.desc())
    ).first()
    assert event.payload["changed"] == ["metric_name"]
    assert scopes_of_event(event, {}) == set() and keys_of_event(event, {}) == set()
    process()
    assert usage_cells() == direct_cells() and check() == []

    # A structure created has no figures yet (its eligible count moves, not its usage); one renamed moves none.
    created = make_structure(name="D", **kw)
    renamed = update_structure(structure_a, {**_data(structure_a), "name": "A bis"})
    events = {
        e.type: e
        for e in db.session.scalars(
            select(OutboxEvent)
            .where(OutboxEvent.aggregate_id.in_([created.id, renamed.id]), OutboxEvent.aggregate_type == "structure")
            .order_by(OutboxEvent.id)
        )
    }
    assert events["structure.updated"].payload["changed"] == ["name"]
    assert scopes_of_event(events["structure.created"], {created.id: {"31"}}) == set()
    assert keys_of_event(events["structure.created"], {created.id: {"31"}}) == {(ALL, "31")}
    assert scopes_of_event(events["structure.updated"], {renamed.id: {"31"}}) == set()
    assert keys_of_event(events["structure.updated"], {renamed.id: {"31"}}) == set()
    process()
    assert usage_cells() == direct_cells() and check() == []

    # A department too large to read structure by structure: the same cells, from the offer's figures.
    monkeypatch.setattr(usage_readmodel, "MANY_STRUCTURES", 0)
    services.set_override(structure_a, offer(), False, user=admin)
    process()
    assert usage_cells() == direct_cells() == {} and check() == []
    services.set_override(structure_a, offer(), None, user=admin)
    process()
    assert usage_cells() == direct_cells() == windows("31", "2026-10", "2026-11") and check() == []


def test_services_view_and_api_read_the_cells_and_equal_a_direct_count(
    client, login_as, api_as, make_user, make_structure
):
    ehpad = db.session.scalars(select(Category).where(Category.code == "EHPAD")).one()
    kw = {"category_id": ehpad.id, "sector_id": ehpad.sector_id}
    fa, fb, fc = finess("31000070"), finess("31000080"), finess("81000090")
    make_structure(name="A", finess_et=fa, **kw)
    make_structure(name="B", finess_et=fb, **kw)
    make_structure(name="B2", **kw)  # eligible, no figures
    make_structure(name="C", department_code="81", finess_et=fc, **kw)
    data = f"finess;mois;valeur\n{fa};2026-08;5\n{fb};2026-10;0\n{fb};2026-11;3\n{fc};2026-09;1\n"
    import_usage(data.encode(), offer(), source="mss.csv")
    process()
    reader = api_as("organisateur")
    # Every period from before the figures to after them: the API's active counts equal a direct count.
    for k in range(-2, 6):
        end = add_months(date(2026, 8, 1), k)
        body = reader.get(f"/api/v1/indicators/deployment?offer=MSSANTE&month={end:%Y-%m}").get_json()
        [figures] = body["data"]
        rows = {row["department"]: row for row in figures["departments"]}
        for department in ("31", "81"):
            expected = direct_active(offer(), department, end)
            assert rows[department]["active"] == expected, (end, department)
        assert figures["total"]["active"] == sum(row["active"] for row in rows.values())
    # By default the period ends with the latest month: A (August) is out, B (November) in; C (September) in.
    [figures] = reader.get("/api/v1/indicators/deployment?offer=MSSANTE").get_json()["data"]
    rows = {row["department"]: row for row in figures["departments"]}
    assert (figures["start"], figures["end"]) == ("2026-09", "2026-11")
    assert (rows["31"]["eligible"], rows["31"]["active"], rows["31"]["active_rate"]) == (3, 1, 0.3333)
    assert (rows["81"]["active"], rows["81"]["active_rate"]) == (1, 1.0)
    # The page shows the same, the French way.
    login_as("manager")
    html = client.get("/tableau-de-bord/services?offre=MSSANTE").get_data(as_text=True)
    assert "33\u00a0%" in html and "sept. 2026 – nov. 2026" in html
    # A period that ends after the figures: C's September still counts in November, no longer in December.
    html = client.get("/tableau-de-bord/services?offre=MSSANTE&mois=2027-01").get_data(as_text=True)
    assert "nov. 2026 – janv. 2027" in html
    [later] = reader.get("/api/v1/indicators/deployment?offer=MSSANTE&month=2027-02").get_json()["data"]
    assert later["total"]["active"] == 0 and later["total"]["active_rate"] == 0.0
    # Every offer at once (one set of statements for all of them) gives each offer what it gives alone,
    # each with its own default period.
    spico = db.session.scalars(select(Offer).where(Offer.code == "SPICO_DOSSIERS")).one()
    import_usage(f"finess;mois;valeur\n{fa};2026-06;9\n".encode(), spico, source="spico.csv")
    process()
    every = reader.get("/api/v1/indicators/deployment").get_json()["data"]
    assert len(every) > 2
    by_code = {item["offer"]: item for item in every}
    for code in ("MSSANTE", "SPICO_DOSSIERS", every[-1]["offer"]):
        [alone] = reader.get(f"/api/v1/indicators/deployment?offer={code}").get_json()["data"]
        assert by_code[code] == alone
    assert (by_code["SPICO_DOSSIERS"]["end"], by_code["MSSANTE"]["end"]) == ("2026-06", "2026-11")
