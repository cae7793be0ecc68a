"""Deployment and active usage rates: the cells kept by the outbox consumer equal a full recomputation
(``crm indicators check``) after statuses by hand, by rule and by import, eligibility changes, a structure
that moves department or closes."""

from datetime import date

from sqlalchemy import distinct, func, select

from crm.deployment import services
from crm.deployment.models import UsageFigure
from crm.deployment.usage import import_usage, push_usage
from crm.indicators.readmodel.check import check
from crm.indicators.readmodel.deployment import DeploymentCell
from crm.indicators.readmodel.usage import PERIOD_MONTHS, UsageCell, add_months, window_ends
from crm.platform.extensions import db
from crm.referential.models import Category, Offer
from crm.structures.identifiers import luhn_check_digit
from crm.structures.models import Structure
from crm.structures.services import delete_structure, update_structure
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
