"""Targets (issue 13): the service's rules, the grid pages by role, the copy, the CSV/XLSX round trip, the
prorated reading on a fixed date."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from crm.platform.extensions import db
from crm.platform.models import AuditEntry, OutboxEvent
from crm.referential.models import Programme
from crm.targets import services
from crm.targets.models import Target
from tests.conftest import login, post


def _count(model=Target, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def _rows(year: int) -> set[tuple]:
    return {(t.indicator, t.department_code, t.programme_id, Decimal(t.value)) for t in services.targets_of_year(year)}


@pytest.fixture
def manager(make_user):
    return make_user("manager")


# --- progress: the prorated reading ---------------------------------------------------------------------


def test_a_count_is_prorated_by_the_days_elapsed_on_a_fixed_date():
    today = date(2026, 7, 2)
    reading = services.progress(150, Decimal("365"), "territorial_events", date(2026, 1, 1), date(2026, 12, 31), today)
    assert reading.elapsed_days == 182 and reading.year_days == 365
    assert reading.expected == 182.0  # 365 × 182 / 365
    assert reading.gap == -32.0
    assert reading.status == "behind"
    ahead = services.progress(190, Decimal("300"), "webinars", date(2026, 1, 1), date(2026, 12, 31), today)
    assert ahead.expected == round(300 * 182 / 365, 2) and ahead.status == "on_track"
    done = services.progress(310, Decimal("300"), "webinars", date(2026, 1, 1), date(2026, 12, 31), today)
    assert done.status == "reached"


def test_a_rate_compares_directly_and_the_gap_is_in_points():
    today = date(2026, 7, 2)
    reading = services.progress(37.5, Decimal("40"), "participation", date(2026, 1, 1), date(2026, 12, 31), today)
    assert reading.expected == 40.0 and reading.gap == -2.5 and reading.status == "behind"
    above = services.progress(41, Decimal("40"), "participation", date(2026, 1, 1), date(2026, 12, 31), today)
    assert above.status == "on_track"
    closed = services.progress(41, Decimal("40"), "participation", date(2025, 1, 1), date(2025, 12, 31), today)
    assert closed.status == "reached" and closed.elapsed_days == 365


def test_the_projection_follows_last_years_curve():
    today = date(2026, 7, 2)
    reading = services.progress(
        60,
        Decimal("100"),
        "webinars",
        date(2026, 1, 1),
        date(2026, 12, 31),
        today,
        last_year_full=80,
        last_year_same_period=40,
    )
    assert reading.projection == 120.0  # 80 × 60 / 40
    undefined = services.progress(
        60, Decimal("100"), "webinars", date(2026, 1, 1), date(2026, 12, 31), today, last_year_full=80
    )
    assert undefined.projection is None
    assert services.same_period_last_year(date(2026, 1, 1), date(2026, 12, 31), today) == (
        date(2025, 1, 1),
        date(2025, 7, 2),
    )
    assert services.progress(None, None, "webinars", date(2026, 1, 1), date(2026, 12, 31), today).status is None


# --- the service: validation, audit and outbox ----------------------------------------------------------


def test_values_are_read_the_french_way_and_checked_against_the_indicator():
    assert services.parse_value("12,5", "participation") == (Decimal("12.50"), None)
    assert services.parse_value(" 1 200 ", "webinar_participants") == (Decimal("1200.00"), None)
    assert services.parse_value("12,5 %", "participation")[0] == Decimal("12.50")
    assert services.parse_value("101", "participation")[1] == "Un taux est compris entre 0 et 100 %."
    assert services.parse_value("-1", "webinars")[1] == "Une cible en nombre ne peut pas être négative."
    assert services.parse_value("2,5", "webinars")[1] == "Une cible en nombre est un nombre entier."
    assert services.parse_value("douze", "webinars")[1].startswith("Nombre attendu")
    assert services.parse_value("1,234", "participation")[1] == "Deux décimales au plus."


def test_a_target_is_written_with_its_audit_entry_and_event_and_is_unique(manager):
    target, outcome = services.save_target(
        {"indicator": "participation", "year": 2026, "department": "31", "value": "40"}, user=manager
    )
    assert outcome == "created" and target.department_code == "31" and target.programme_id is None
    again, outcome = services.save_target(
        {"indicator": "participation", "year": 2026, "department": "31", "value": "40,0"}, user=manager
    )
    assert outcome == "unchanged" and again.id == target.id
    _, outcome = services.save_target(
        {"indicator": "participation", "year": 2026, "department": "31", "value": "45"}, user=manager
    )
    assert outcome == "updated"
    region, _ = services.save_target({"indicator": "participation", "year": 2026, "value": 42}, user=manager)
    assert region.department_code is None and _count() == 2
    events = db.session.scalars(select(OutboxEvent.type).where(OutboxEvent.aggregate_type == "target")).all()
    assert events == ["target.set", "target.set", "target.set"]
    assert _count(AuditEntry, AuditEntry.entity_type == "target") == 3
    services.delete_target(region, user=manager)
    assert _count() == 1
    assert db.session.scalar(select(func.count()).where(OutboxEvent.type == "target.deleted")) == 1
    assert services.target_values(2026) == {("participation", "31", None): Decimal("45.00")}
    assert services.target_values(2026, "34") == {}
    from workflows.dispatch import process_pending

    process_pending()  # no consumer subscribes to them yet: the drain passes them without an error
    assert _count(OutboxEvent, OutboxEvent.processed_at.is_(None)) == 0
    assert _count(OutboxEvent, OutboxEvent.last_error.is_not(None)) == 0


def test_refused_targets_say_why_in_french(manager):
    with pytest.raises(services.ValidationFailed) as refused:
        services.save_target(
            {"indicator": "bonheur", "year": 1990, "department": "75", "programme_id": 999, "value": "x"},
            user=manager,
        )
    assert set(refused.value.errors) == {"indicator", "year", "department", "programme_id", "value"}
    programme = db.session.scalars(select(Programme)).first()
    with pytest.raises(services.ValidationFailed) as refused:
        services.save_target(
            {"indicator": "webinars", "year": 2026, "programme_id": programme.id, "value": "3"}, user=manager
        )
    assert refused.value.errors == {"programme_id": "Cet indicateur n'a pas de cible par programme."}
    assert _count() == 0


def test_only_managers_and_admins_write(make_user):
    for role in ("animateur", "organisateur"):
        with pytest.raises(PermissionError):
            services.save_target({"indicator": "webinars", "year": 2026, "value": 3}, user=make_user(role))
    services.save_target({"indicator": "webinars", "year": 2026, "value": 3}, user=make_user("admin"))
    assert _count() == 1


# --- the grid pages ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["manager", "admin"])
def test_managers_and_admins_save_the_grid(client, make_user, role):
    login(client, make_user(role))
    page = client.get("/cibles?annee=2026")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'name="cible-participation-region"' in html and 'name="cible-webinars-31"' in html
    response = post(
        client,
        "/cibles?annee=2026",
        {"cible-participation-region": "12,5", "cible-webinars-31": "4", "cible-territorial_events-region": ""},
    )
    assert response.status_code == 302
    assert services.target_values(2026) == {
        ("participation", None, None): Decimal("12.50"),
        ("webinars", "31", None): Decimal("4.00"),
    }
    assert "12,5" in client.get("/cibles?annee=2026").get_data(as_text=True)
    # A cell emptied removes its target.
    post(client, "/cibles?annee=2026", {"cible-participation-region": "12,5", "cible-webinars-31": ""})
    assert services.target_values(2026) == {("participation", None, None): Decimal("12.50")}


def test_a_wrong_cell_is_shown_in_french_and_nothing_is_written(client, make_user):
    login(client, make_user("manager"))
    response = post(
        client,
        "/cibles?annee=2026",
        {"cible-participation-region": "12,5", "cible-transformation-31": "140", "cible-webinars-34": "deux"},
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Rien n'a été enregistré : 2 cases à corriger" in html
    assert "Un taux est compris entre 0 et 100 %." in html and "Nombre attendu" in html
    assert 'id="cible-transformation-31" name="cible-transformation-31" value="140"' in html
    assert 'aria-invalid="true" aria-describedby="cible-webinars-34-err"' in html
    assert _count() == 0


def test_the_programmes_grid_sets_the_three_rates_per_programme(client, make_user):
    login(client, make_user("manager"))
    programme = db.session.scalars(select(Programme).order_by(Programme.number)).first()
    page = client.get("/cibles/programmes?annee=2026&indicateur=engagement")
    assert page.status_code == 200
    name = f"cible-engagement-31-{programme.id}"
    assert f'name="{name}"' in page.get_data(as_text=True)
    assert post(client, "/cibles/programmes?annee=2026&indicateur=engagement", {name: "25"}).status_code == 302
    assert services.target_values(2026) == {("engagement", "31", programme.id): Decimal("25.00")}
    assert client.get("/cibles/programmes?indicateur=webinars").status_code == 404


@pytest.mark.parametrize("role", ["animateur", "organisateur"])
def test_animators_and_organisers_read_but_do_not_write(client, make_user, manager, role):
    services.save_target({"indicator": "participation", "year": 2026, "value": "40"}, user=manager)
    login(client, make_user(role))
    page = client.get("/cibles?annee=2026")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert '<input type="text"' not in html and "40" in html
    assert post(client, "/cibles?annee=2026", {"cible-participation-region": "50"}).status_code == 403
    assert post(client, "/cibles/copier?annee=2027").status_code == 403
    assert post(client, "/cibles/import", {"file": (io.BytesIO(b"x"), "c.csv")}).status_code == 403
    assert client.get("/cibles/export.csv?annee=2026").status_code == 200
    assert services.target_values(2026) == {("participation", None, None): Decimal("40.00")}


def test_anonymous_visitors_are_sent_to_log_in(client):
    assert client.get("/cibles").status_code in (302, 401)


# --- copy from the previous year ------------------------------------------------------------------------


def test_copy_from_the_previous_year_keeps_existing_values_unless_confirmed(client, manager):
    for indicator, value in (("participation", "40"), ("webinars", "20"), ("transformation", "30")):
        services.save_target({"indicator": indicator, "year": 2025, "value": value}, user=manager)
    services.save_target({"indicator": "webinars", "year": 2026, "value": "25"}, user=manager)
    login(client, manager)
    page = client.get("/cibles?annee=2026").get_data(as_text=True)
    assert "3 cibles en 2025" in page and "1 cible de 2026 a déjà une autre valeur" in page
    assert post(client, "/cibles/copier?annee=2026").status_code == 302
    assert services.target_values(2026) == {
        ("participation", None, None): Decimal("40.00"),
        ("webinars", None, None): Decimal("25.00"),  # kept
        ("transformation", None, None): Decimal("30.00"),
    }
    post(client, "/cibles/copier?annee=2026", {"overwrite": "y"})
    assert services.target_values(2026)[("webinars", None, None)] == Decimal("20.00")
    assert services.target_values(2025) == services.target_values(2026)


# --- export and import ----------------------------------------------------------------------------------


def _some_targets(user):
    programme = db.session.scalars(select(Programme).order_by(Programme.number)).first()
    for data in (
        {"indicator": "participation", "value": "40"},
        {"indicator": "participation", "department": "31", "value": "37,5"},
        {"indicator": "engagement", "department": "09", "programme_id": programme.id, "value": "12"},
        {"indicator": "webinar_participants", "value": "1200"},
    ):
        services.save_target({"year": 2026, **data}, user=user)


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_export_then_import_gives_the_same_rows_and_is_idempotent(client, manager, fmt):
    _some_targets(manager)
    before = _rows(2026)
    login(client, manager)
    exported = client.get(f"/cibles/export.{fmt}?annee=2026")
    assert exported.status_code == 200
    if fmt == "xlsx":
        sheet = load_workbook(io.BytesIO(exported.data)).active
        header = [c.value for c in sheet[5]][:6]
        assert header == ["indicateur", "libellé", "année", "département", "programme", "valeur"]
    for target in services.targets_of_year(2026):
        db.session.delete(target)
    db.session.commit()
    response = post(client, "/cibles/import", {"file": (io.BytesIO(exported.data), f"cibles.{fmt}")})
    assert response.status_code == 302
    assert _rows(2026) == before
    events = _count(OutboxEvent)
    summary = services.import_file(exported.data, f"cibles.{fmt}", user=manager)
    assert summary.unchanged == 4 and summary.changed == 0
    assert _count(OutboxEvent) == events  # nothing changed, nothing written


def test_a_bad_line_is_reported_with_its_number_and_nothing_is_written(client, manager):
    content = (
        "indicateur;année;département;programme;valeur\r\n"
        "participation;2026;Région;;40\r\n"
        "participation;2026;31;;140\r\n"
        "webinars;2026;;;12\r\n"
        "inconnu;2026;;;3\r\n"
    ).encode()
    with pytest.raises(services.ImportFailed) as failed:
        services.import_file(content, "cibles.csv", user=manager)
    assert failed.value.errors == [
        "Ligne 3 : Un taux est compris entre 0 et 100 %.",
        "Ligne 5 : Indicateur inconnu : participation, transformation, engagement, structures_accompanied, "
        "medico_social, other_offers, territorial_events, webinars, webinar_participants, webinar_useful.",
    ]
    assert _count() == 0
    login(client, manager)
    response = post(client, "/cibles/import", {"file": (io.BytesIO(content), "cibles.csv")}, follow_redirects=True)
    html = response.get_data(as_text=True)
    assert "Import refusé, aucune cible enregistrée." in html and "Ligne 3" in html
    assert _count() == 0
    fixed = content.replace(b"140", b"14").replace(b"inconnu", b"territorial_events")
    services.import_file(fixed, "c.csv", user=manager)
    assert services.target_values(2026)[("participation", "31", None)] == Decimal("14.00")
