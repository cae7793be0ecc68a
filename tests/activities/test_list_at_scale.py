"""The activity list at national scale: departments kept beside each activity, cursor pages, bounded counts.

docs/architecture.md, "Lists at national scale": a department's list reads activity_departments in date
order, deep pages go on by cursor, the total stops counting at COUNT_CAP.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from html import unescape

import pytest
from sqlalchemy import select

from crm.activities import services
from crm.activities.models import activity_departments
from crm.platform import paging
from crm.platform.dates import local_today
from crm.platform.extensions import db
from crm.platform.paging import CursorError, PageTooDeep, decode_cursor, encode_cursor
from crm.structures.services import update_structure
from tests.conftest import login


def _rows() -> set[tuple]:
    return set(db.session.execute(select(activity_departments)).all())


def _log(user, structures, days_ago=0, subject=None):
    return services.log_activity(
        {
            "kind": "visite",
            "structure_ids": [s.id for s in structures],
            "occurred_on": (local_today() - timedelta(days=days_ago)).isoformat(),
            "subject": subject,
        },
        user=user,
    )


def test_departments_follow_logging_editing_moving_and_deleting(make_user, make_structure):
    from crm.activities.departments import rebuild_all
    from crm.referential.models import Offer

    user = make_user("admin")
    toulouse = make_structure(name="CH Toulouse", department_code="31")
    albi = make_structure(name="CH Albi", department_code="81")
    other = make_structure(name="EHPAD Muret", department_code="31")
    offer = db.session.scalar(select(Offer).order_by(Offer.id))
    today = local_today()
    both = _log(user, [toulouse, albi, other])
    assert _rows() == {(both.id, "31", 0, "visite", today), (both.id, "81", 0, "visite", today)}  # once each

    earlier = today - timedelta(days=3)
    services.update_activity(
        both, {"structure_ids": [albi.id], "occurred_on": earlier, "kind": "appel", "offer_ids": [offer.id]}, user=user
    )
    assert _rows() == {(both.id, "81", 0, "appel", earlier), (both.id, "81", offer.programme_id, "appel", earlier)}
    assert [a.id for a in services.list_activities(department="81", programme=offer.programme_id).items] == [both.id]
    assert [a.id for a in services.list_activities(department="81", kind="appel").items] == [both.id]
    assert services.list_activities(department="81", kind="visite").items == []

    services.update_activity(both, {"structure_ids": [toulouse.id, albi.id]}, user=user)
    update_structure(albi, {"name": albi.name, "department_code": "82", "is_open": True})
    db.session.commit()
    expected = {
        (both.id, code, programme, "appel", earlier) for code in ("31", "82") for programme in (0, offer.programme_id)
    }
    assert _rows() == expected
    rebuild_all()  # the set-based derivation agrees with the rows written one activity at a time
    assert _rows() == expected
    assert [a.id for a in services.list_activities(department="82").items] == [both.id]
    assert services.list_activities(department="81").items == []

    services.delete_activity(both, user=user)
    assert _rows() == set()


def test_cursor_pages_neither_skip_nor_repeat_while_activities_are_logged(make_user, make_structure):
    user = make_user("admin")
    structure = make_structure()
    for i in range(7):
        _log(user, [structure], days_ago=i % 3, subject=f"A{i}")  # ties on the day: the id breaks them
    first = services.list_activities(per_page=3, department="31")
    assert first.keyset and first.total == 7 and not first.total_capped and first.next_cursor
    _log(user, [structure], subject="new")  # newer than every row: it must not shift the next pages
    seen = [a.subject for a in first.items]
    cursor = first.next_cursor
    while cursor:
        page = services.list_activities(per_page=3, department="31", cursor=cursor)
        seen += [a.subject for a in page.items]
        cursor = page.next_cursor
    assert sorted(seen) == sorted(f"A{i}" for i in range(7)) and len(seen) == 7
    # The same order as the numbered pages (newest first, then the highest id).
    numbered = [a.subject for n in (1, 2, 3) for a in services.list_activities(per_page=3, page=n).items]
    assert numbered[0] == "new" and numbered[1:] == seen


def test_the_count_stops_at_the_cap_and_deep_numbers_are_refused(make_user, make_structure, monkeypatch):
    user = make_user("admin")
    structure = make_structure()
    for i in range(6):
        _log(user, [structure], days_ago=i)
    monkeypatch.setattr(paging, "COUNT_CAP", 4)
    monkeypatch.setattr(paging, "MAX_OFFSET", 2)
    page = services.list_activities(per_page=2)
    assert (page.total, page.total_capped, len(page.items)) == (4, True, 2)
    assert services.list_activities(per_page=2, page=2).items  # 2 rows skipped: still a number
    with pytest.raises(PageTooDeep):
        services.list_activities(per_page=2, page=3)
    monkeypatch.setattr(paging, "COUNT_CAP", 10)
    # An exact (small) total: any page number is cheap, past the end is the last page.
    last = services.list_activities(page=999, per_page=4)
    assert (last.page, len(last.items)) == (2, 2)


_KINDS = (date, int)


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "%%%",
        "bm90IGpzb24",
        encode_cursor(["x", 1]),
        encode_cursor([1, 2]),
        encode_cursor(["2026-01-01"]),
        encode_cursor(["2026-01-01", True]),
        encode_cursor(["2026-01-01", -1]),
        "A" * 500,
    ],
)
def test_a_forged_cursor_is_refused(cursor):
    with pytest.raises(CursorError):
        decode_cursor(cursor, _KINDS)


def test_list_page_by_cursor_and_a_forged_one(client, make_user, make_structure):
    user = make_user("animateur", ["31"])
    structure = make_structure()
    for i in range(55):
        _log(user, [structure], subject=f"Visite {i}")
    login(client, user)
    html = unescape(client.get("/activites?departement=31").get_data(as_text=True))
    assert "55 activités" in html and "Page 1 sur 2" in html
    next_url = re.search(r'href="(/activites\?[^"]*apres=[^"]+)" rel="next"', html).group(1)
    assert "departement=31" in next_url  # the filters go on with the cursor
    second = unescape(client.get(next_url).get_data(as_text=True))
    assert second.count("<tr>") - 1 == 5 and "Suite de la liste" in second and "Début de la liste" in second
    forged = client.get("/activites?departement=31&apres=abc")
    assert forged.status_code == 200 and "Curseur de pagination invalide" in unescape(forged.get_data(as_text=True))
