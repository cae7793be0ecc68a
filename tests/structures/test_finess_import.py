"""FINESS import: the official layout, encodings, rejects, upsert, closures, hand edits, atomicity, CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from crm.platform.dates import local_today
from crm.platform.extensions import db
from crm.platform.models import AuditEntry, OutboxEvent
from crm.referential.models import Category, FinessCategoryMapping
from crm.seed.finess_file import finess_number, generate_establishments, structureet_line, write_establishments
from crm.structures import finess, services
from crm.structures.finess import (
    ADVISORY_LOCK_KEY,
    FinessFileError,
    FinessImportConflict,
    closures_need_confirmation,
    import_finess,
)
from crm.structures.finess_parse import lambert93_to_wgs84, wgs84_to_lambert93
from crm.structures.models import Structure

ROOT = Path(__file__).resolve().parents[2]


def rows(departments=("31",), count=6, seed=1) -> list[dict]:
    return generate_establishments(list(departments), count, seed=seed)


def write(tmp_path, establishments, name="finess.csv", **kwargs) -> Path:
    return write_establishments(tmp_path / name, establishments, **kwargs)


def counts() -> tuple[int, int, int]:
    return tuple(
        db.session.scalar(select(func.count()).select_from(model)) for model in (Structure, AuditEntry, OutboxEvent)
    )


def by_finess(number: str) -> Structure:
    db.session.expire_all()
    return db.session.scalars(select(Structure).where(Structure.finess_et == number)).one()


def accented(row: dict) -> dict:
    row.update(
        rs="RÉSIDENCE LES CÈDRES",
        rslongue="EHPAD RÉSIDENCE LES CÈDRES - L'OUSTAL",
        numvoie="12",
        compvoie="B",
        typvoie="AV",
        voie="DE L'ISLE",
        lieuditbp="BP 12",
        compldistrib="",
        ligneacheminement="31800 SAINT-GAUDENS CEDEX",
        commune="483",
        departement="31",
        libdepartement="HAUTE-GARONNE",
        telephone="05 61 94 00 00",
        categetab="500",
        dateouv="1987-03-02",
        datemaj="2024-05-06",
        coordxet="574357",
        coordyet="6279617",
        sourcecoordet="1,ATLASANTE,100,IGN,BD_ADRESSE,V2.2,LAMBERT_93",
    )
    return row


@pytest.mark.parametrize("encoding", ["latin-1", "utf-8"])
def test_official_layout_in_latin1_or_utf8(tmp_path, encoding):
    establishments = rows(count=5)
    accented(establishments[0])
    path = write(tmp_path, establishments, encoding=encoding)
    if encoding == "latin-1":
        with pytest.raises(UnicodeDecodeError):
            path.read_bytes().decode("utf-8")

    summary = import_finess(path)

    assert (summary.created, summary.updated, summary.unchanged, summary.closed) == (5, 0, 0, 0)
    assert summary.rejected == [] and summary.skipped == 0 and summary.total_lines == 10
    structure = by_finess(establishments[0]["nofinesset"])
    assert structure.name == "RÉSIDENCE LES CÈDRES"
    assert structure.long_name == "EHPAD RÉSIDENCE LES CÈDRES - L'OUSTAL"
    assert structure.address == "12 B AVENUE DE L'ISLE, BP 12"
    assert (structure.postal_code, structure.commune, structure.commune_code) == ("31800", "SAINT-GAUDENS", "31483")
    assert structure.department_code == "31" and structure.phone == "0561940000"
    assert structure.category.code == "EHPAD" and structure.sector.code == "medico_social"
    assert structure.finess_category_code == "500" and structure.finess_ej == establishments[0]["nofinessej"]
    assert structure.opened_on == date(1987, 3, 2) and structure.finess_updated_on == date(2024, 5, 6)
    assert abs(structure.latitude - 43.60) < 0.01 and abs(structure.longitude - 1.44) < 0.01
    assert structure.source == "finess" and structure.is_open and structure.manual_fields == []
    assert "residence les cedres" in structure.search_text and "saint gaudens" in structure.search_text
    assert counts() == (5, 5, 5)
    event = db.session.scalars(select(OutboxEvent).where(OutboxEvent.aggregate_id == structure.id)).one()
    assert event.type == "structure.created"
    assert event.payload == {
        "structure_id": structure.id,
        "finess_et": structure.finess_et,
        "department": "31",
        "sector": "medico_social",
        "category": "EHPAD",
        "is_open": True,
    }
    audit = db.session.scalars(select(AuditEntry).where(AuditEntry.entity_id == structure.id)).one()
    assert audit.origin == "import FINESS" and audit.action == "create"
    assert audit.changes["name"] == [None, "RÉSIDENCE LES CÈDRES"]


def test_bad_lines_are_reported_and_the_rest_imports(tmp_path):
    establishments = rows(count=4)
    bad_key = dict(
        establishments[0],
        nofinesset=establishments[0]["nofinesset"][:8] + str((int(establishments[0]["nofinesset"][8]) + 1) % 10),
    )
    unknown_department = dict(establishments[1], nofinesset=finess_number("31", 999001), departement="99")
    no_name = dict(establishments[1], nofinesset=finess_number("31", 999002), rs="")
    bad_siret = dict(establishments[2], nofinesset=finess_number("31", 999003), siret="12345678901234")
    duplicate = dict(establishments[3], rs="DOUBLON")
    trailing = (
        structureet_line(dict(establishments[3], nofinesset=finess_number("31", 999004), numuai="0310001A")) + ";"
    )  # 33 fields, the last one empty
    extra = [
        "structureet;310000001;trop court",
        structureet_line(bad_key),
        structureet_line(unknown_department),
        structureet_line(no_name),
        structureet_line(bad_siret),
        structureet_line(duplicate),
        trailing,
        "autrechose;1;2",
        "geolocalisation;" + establishments[0]["nofinesset"] + ";1;2",
    ]
    path = write(tmp_path, establishments, extra_lines=extra)

    summary = import_finess(path)

    # Header = line 1, the 4 establishments = lines 2-5, the extra lines from line 6.
    assert summary.rejected == [
        {"line": 6, "reason": "nombre de champs incorrect (3 au lieu de 32)"},
        {
            "line": 7,
            "reason": f"Le numéro FINESS est invalide (clé de contrôle incorrecte) : « {bad_key['nofinesset']} »",
        },
        {"line": 8, "reason": "département inconnu : « 99 »"},
        {"line": 9, "reason": "raison sociale (rs) manquante"},
        {"line": 11, "reason": f"numéro FINESS {duplicate['nofinesset']} en double (déjà lu ligne 5)"},
        {"line": 13, "reason": "type de ligne inconnu : « autrechose »"},
        {"line": 14, "reason": "nombre de champs incorrect (4 au lieu de 6)"},
    ]
    assert summary.created == 6  # the 4, the bad SIRET one, the one with a trailing ';'
    assert by_finess(bad_siret["nofinesset"]).siret is None
    assert by_finess(establishments[3]["nofinesset"]).name == establishments[3]["rs"]
    lines = summary.lines()
    assert "Créées : 6" in lines and "Lignes rejetées : 7" in lines
    assert "  ligne 8 : département inconnu : « 99 »" in lines


def test_reimport_is_idempotent_and_changes_are_updated(tmp_path, make_user):
    user = make_user("admin")
    establishments = rows(count=6)
    path = write(tmp_path, establishments)
    import_finess(path)
    before = counts()
    versions = dict(db.session.execute(select(Structure.finess_et, Structure.version)).all())

    again = import_finess(path)

    assert (again.created, again.updated, again.unchanged, again.closed, again.rejected) == (0, 0, 6, 0, [])
    assert counts() == before
    assert dict(db.session.execute(select(Structure.finess_et, Structure.version)).all()) == versions

    changed = establishments[2]
    old_name = changed["rs"]
    changed.update(rs="EHPAD LES NOUVEAUX TILLEULS", telephone="0562000000")
    summary = import_finess(write(tmp_path, establishments, name="v2.csv"), user_id=user.id, origin="cli")

    assert (summary.created, summary.updated, summary.unchanged) == (0, 1, 5)
    structure = by_finess(changed["nofinesset"])
    assert structure.name == "EHPAD LES NOUVEAUX TILLEULS" and structure.phone == "0562000000"
    assert structure.version == versions[changed["nofinesset"]] + 1
    assert "nouveaux tilleuls" in structure.search_text
    audit = db.session.scalars(
        select(AuditEntry).where(AuditEntry.entity_id == structure.id, AuditEntry.action == "update")
    ).one()
    assert audit.changes["name"] == [old_name, "EHPAD LES NOUVEAUX TILLEULS"]
    assert audit.user_id == user.id and audit.origin == "cli"
    event = db.session.scalars(select(OutboxEvent).where(OutboxEvent.type == "structure.updated")).one()
    assert event.aggregate_id == structure.id and event.actor_id == user.id
    assert {"name", "phone"} <= set(event.payload["changed"]) and event.payload["is_open"] is True


def test_absent_structures_are_closed_then_reopened(tmp_path, make_structure):
    establishments = rows(count=5)
    other_region = rows(departments=("75",), count=1, seed=9)
    import_finess(write(tmp_path, establishments + other_region), all_regions=True)
    by_hand = make_structure(name="CPTS du Comminges", department_code="31")
    gone = establishments.pop(1)

    # 1 of the 5 open structures of the region is more than 5 %: the closure must be confirmed.
    summary = import_finess(write(tmp_path, establishments, name="v2.csv"), confirmed_closures=1)

    assert (summary.closed, summary.unchanged, summary.skipped) == (1, 4, 0)
    closed = by_finess(gone["nofinesset"])
    assert not closed.is_open and closed.closed_on == local_today()
    assert db.session.get(Structure, by_hand.id).is_open  # not from FINESS
    assert by_finess(other_region[0]["nofinesset"]).is_open  # outside the import's departments
    event = db.session.scalars(select(OutboxEvent).where(OutboxEvent.type == "structure.closed")).one()
    assert event.aggregate_id == closed.id and event.payload["is_open"] is False

    assert import_finess(write(tmp_path, establishments, name="v2.csv")).closed == 0

    establishments.append(gone)
    summary = import_finess(write(tmp_path, establishments, name="v3.csv"))

    assert (summary.updated, summary.closed) == (1, 0)
    reopened = by_finess(gone["nofinesset"])
    assert reopened.is_open and reopened.closed_on is None
    audit = db.session.scalars(
        select(AuditEntry).where(AuditEntry.entity_id == reopened.id).order_by(AuditEntry.id.desc())
    ).first()
    assert audit.changes["is_open"] == [False, True]


def test_a_rejected_line_or_an_empty_scope_closes_nothing(tmp_path):
    establishments = rows(count=3)
    import_finess(write(tmp_path, establishments))
    broken = structureet_line(establishments[0]).rsplit(";", 3)[0]  # its number is still listed
    summary = import_finess(write(tmp_path, establishments[1:], name="v2.csv", extra_lines=[broken]))
    assert summary.closed == 0 and len(summary.rejected) == 1
    assert import_finess(write(tmp_path, rows(("75",), 2), name="paris.csv")).closed == 0
    assert db.session.scalar(select(func.count()).where(Structure.is_open.is_(False))) == 0


def test_region_filter_and_all_regions(tmp_path):
    establishments = (
        rows(("31", "09"), 4, seed=3) + rows(("75",), 2, seed=4) + rows(("2A",), 2, seed=5) + rows(("971",), 1, seed=6)
    )
    path = write(tmp_path, establishments)

    regional = import_finess(path)
    assert (regional.created, regional.skipped) == (4, 5)
    assert set(db.session.scalars(select(Structure.department_code).distinct())) <= {"31", "09"}

    corsica = import_finess(path, region_code="94")
    assert (corsica.created, corsica.skipped) == (2, 7)
    assert by_finess(establishments[6]["nofinesset"]).department_code == "2A"

    national = import_finess(path, all_regions=True)
    assert (national.created, national.unchanged, national.skipped) == (3, 6, 0)
    assert db.session.scalar(select(func.count()).select_from(Structure)) == 9
    overseas = by_finess(next(r["nofinesset"] for r in establishments if r["departement"] == "9A"))
    assert overseas.department_code == "971" and overseas.commune_code.startswith("971")
    assert overseas.latitude is None and overseas.longitude is None  # UTM, not converted


def test_hand_edits_are_kept_and_reported(tmp_path):
    establishments = rows(count=3)
    path = write(tmp_path, establishments)
    import_finess(path)
    structure = by_finess(establishments[0]["nofinesset"])
    data = {field: getattr(structure, field) for field in services.STRUCTURE_FIELDS}
    services.update_structure(structure, {**data, "name": "EHPAD L'Oustal (nom d'usage)"})
    assert by_finess(establishments[0]["nofinesset"]).manual_fields == ["name"]

    same_file = import_finess(path)
    assert same_file.unchanged == 3 and same_file.kept_manual == [
        {
            "finess": structure.finess_et,
            "field": "name",
            "kept": "EHPAD L'Oustal (nom d'usage)",
            "file": establishments[0]["rs"],
        }
    ]

    establishments[0].update(rs="EHPAD RENOMMÉ PAR FINESS", telephone="0561000000")
    summary = import_finess(write(tmp_path, establishments, name="v2.csv"))
    assert summary.updated == 1 and summary.kept_manual[0]["file"] == "EHPAD RENOMMÉ PAR FINESS"
    structure = by_finess(establishments[0]["nofinesset"])
    assert structure.name == "EHPAD L'Oustal (nom d'usage)" and structure.phone == "0561000000"
    assert any("conservé « EHPAD L'Oustal (nom d'usage) »" in line for line in summary.lines())


def test_structure_created_by_hand_is_adopted(tmp_path, make_structure):
    establishments = rows(count=2)
    by_hand = make_structure(name="Ehpad saisi à la main", finess_et=establishments[0]["nofinesset"])
    summary = import_finess(write(tmp_path, establishments))
    assert (summary.created, summary.updated) == (1, 1)
    adopted = db.session.get(Structure, by_hand.id)
    # The registry takes the structure over, but what was typed by hand is kept and said.
    assert adopted.source == "finess" and adopted.name == "Ehpad saisi à la main"
    assert adopted.manual_fields == ["commune", "name"]
    assert {k["field"] for k in summary.kept_manual} == {"name", "commune"}
    assert adopted.phone == (establishments[0]["telephone"] or None) or adopted.phone


def test_hand_closure_survives_a_reimport_and_is_reported(tmp_path, make_structure):
    from crm.structures.services import update_structure

    establishments = rows(count=2)
    path = write(tmp_path, establishments)
    import_finess(path)
    structure = by_finess(establishments[0]["nofinesset"])
    data = {
        f: getattr(structure, f)
        for f in (
            "name",
            "department_code",
            "commune",
            "finess_et",
            "siret",
            "postal_code",
            "address",
            "phone",
            "long_name",
            "category_id",
        )
    }
    update_structure(structure, {**data, "is_open": False})
    assert "is_open" in structure.manual_fields
    summary = import_finess(path)
    assert by_finess(establishments[0]["nofinesset"]).is_open is False
    assert {
        "finess": structure.finess_et,
        "field": "is_open",
        "kept": "fermée",
        "file": "ouverte",
    } in summary.kept_manual


def test_unknown_category_gets_a_mapping_with_the_file_label(tmp_path):
    establishments = rows(count=2)
    establishments[0].update(categetab="699", libcategetab="Entreprise expérimentale de télésanté")
    path = write(tmp_path, establishments)

    import_finess(path)

    structure = by_finess(establishments[0]["nofinesset"])
    assert structure.category.code == "FINESS_699"
    assert structure.category.label == "Entreprise expérimentale de télésanté"
    assert structure.sector_id is None and structure.finess_category_code == "699"
    mapping = db.session.get(FinessCategoryMapping, "699")
    assert mapping.category_id == structure.category_id and mapping.finess_label == structure.category.label
    assert import_finess(path).unchanged == 2
    assert db.session.scalar(select(func.count()).where(Category.code == "FINESS_699")) == 1


def test_lambert93_to_wgs84():
    lat, lon = lambert93_to_wgs84(574357, 6279617)  # Toulouse, place du Capitole
    assert abs(lat - 43.60) < 0.01 and abs(lon - 1.44) < 0.01
    lat, lon = lambert93_to_wgs84(*wgs84_to_lambert93(48.8530, 2.3499))  # Notre-Dame de Paris
    assert abs(lat - 48.8530) < 1e-7 and abs(lon - 2.3499) < 1e-7
    assert lambert93_to_wgs84(700000, 6600000) == pytest.approx((46.5, 3.0))


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"nofinesset;rs\n310000001;x\n",
        b"finess;etalab;96;2024-13-45\n",
        "finess;etalab;x;2024-09-10\nstructureet;é".encode("latin-1"),
    ],
)
def test_bad_header_writes_nothing(tmp_path, content):
    path = tmp_path / "bad.csv"
    path.write_bytes(content + "\n".join(structureet_line(r) for r in rows()).encode())
    with pytest.raises(FinessFileError) as error:
        import_finess(path)
    assert "FINESS" in str(error.value)
    assert counts() == (0, 0, 0)


def test_failure_midway_leaves_nothing(tmp_path):
    establishments = rows(count=6)
    import_finess(write(tmp_path, establishments))
    before = counts()
    states = dict(db.session.execute(select(Structure.finess_et, Structure.name)).all())
    establishments.pop(0)
    establishments[0]["rs"] = "NOM CHANGÉ"
    establishments += rows(count=3, seed=7)
    calls = []

    def progress(done, total):
        calls.append((done, total))
        if len(calls) == 2:
            raise RuntimeError("le worker s'arrête")

    with pytest.raises(RuntimeError):
        import_finess(write(tmp_path, establishments, name="v2.csv"), progress=progress, confirmed_closures=1)

    assert calls == [(0, 8), (8, 8)]
    assert counts() == before
    assert dict(db.session.execute(select(Structure.finess_et, Structure.name)).all()) == states
    assert db.session.scalar(select(func.count()).where(Structure.is_open.is_(False))) == 0


def test_a_structure_saved_during_the_import_aborts_it(tmp_path, monkeypatch):
    establishments = rows(count=4)
    import_finess(write(tmp_path, establishments))
    before = counts()
    load = finess._load_existing

    def read_before_a_user_saved():
        existing = load()
        existing[establishments[0]["nofinesset"]]["version"] -= 1
        return existing

    monkeypatch.setattr(finess, "_load_existing", read_before_a_user_saved)
    establishments[0]["rs"] = establishments[1]["rs"] = "NOM CHANGÉ"
    with pytest.raises(FinessImportConflict) as error:
        import_finess(write(tmp_path, establishments + rows(count=1, seed=8), name="v2.csv"))
    assert "relancez" in str(error.value)
    assert counts() == before


def test_progress_every_2000_rows(tmp_path):
    calls = []
    import_finess(write(tmp_path, rows(count=2500)), progress=lambda done, total: calls.append((done, total)))
    assert calls == [(0, 2500), (2000, 2500), (2500, 2500)]


def _cli(path, *options) -> list[str]:
    return [sys.executable, "-m", "flask", "--app", "wsgi", "crm", "import-finess", str(path), "--json", *options]


def test_cli_prints_the_json_summary(tmp_path, test_env):
    establishments = rows(("31", "75"), 6, seed=5)
    path = write(tmp_path, establishments, extra_lines=["structureet;x"])
    env = {**os.environ, **test_env}
    result = subprocess.run(_cli(path), cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert list(summary) == ["created", "updated", "unchanged", "closed", "rejected", "skipped", "kept_manual"]
    in_region = sum(1 for r in establishments if r["departement"] == "31")
    assert summary["created"] == in_region and summary["skipped"] == 6 - in_region
    assert summary["rejected"] == [{"line": 8, "reason": "nombre de champs incorrect (2 au lieu de 32)"}]
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(Structure)) == in_region

    bad = tmp_path / "bad.csv"
    bad.write_text("ceci n'est pas un fichier FINESS\n")
    result = subprocess.run(_cli(bad), cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "première ligne" in json.loads(result.stdout.splitlines()[0])["error"]
    from crm.structures.models import ImportRun

    failed = db.session.scalars(select(ImportRun).where(ImportRun.filename == "bad.csv")).one()
    assert (failed.origin, failed.status) == ("cli", "échoué") and "première ligne" in failed.error


def test_postgresql_imports_never_interleave(tmp_path, test_env):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("advisory locks are PostgreSQL's")
    path = write(tmp_path, rows(count=3))
    env = {**os.environ, **test_env}
    with db.engine.connect() as holder:
        holder.execute(text("SELECT pg_advisory_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
        process = subprocess.Popen(
            _cli(path), cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        time.sleep(5)
        assert process.poll() is None  # waiting for the lock
        assert db.session.scalar(select(func.count()).select_from(Structure)) == 0
        holder.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_LOCK_KEY})
        holder.commit()
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    assert json.loads(out)["created"] == 3


def test_a_line_with_a_nul_byte_is_rejected_not_fatal(tmp_path):
    from crm.seed.finess_file import generate_establishments, write_establishments
    from crm.structures.finess import import_finess

    rows = generate_establishments(["31"], 3, seed=11)
    rows[1]["rs"] = "EHPAD\x00NUL"
    path = write_establishments(tmp_path / "nul.csv", rows, encoding="utf-8")
    summary = import_finess(path)
    assert summary.created == 2
    assert [r["reason"] for r in summary.rejected] == ["caractère de contrôle invalide dans la ligne"]


def test_a_structure_moved_by_the_registry_takes_its_pipeline_along(tmp_path, make_user):
    from crm.pipeline import services as pipeline
    from crm.pipeline.models import Opportunity
    from crm.referential.models import Offer

    establishments = rows(count=2)
    import_finess(write(tmp_path, establishments))
    structure = by_finess(establishments[0]["nofinesset"])
    offer = db.session.scalars(select(Offer).where(Offer.code == "VT_GRAND_AGE")).one()
    opportunity = pipeline.create_opportunity(
        {"structure_id": structure.id, "offer_id": offer.id, "title": "VT"}, user=make_user("admin")
    )
    assert opportunity.department_code == "31"
    establishments[0].update(departement="09", libdepartement="ARIEGE", ligneacheminement="09000 FOIX")

    summary = import_finess(write(tmp_path, establishments, name="moved.csv"))

    assert summary.updated == 1
    assert by_finess(establishments[0]["nofinesset"]).department_code == "09"
    assert db.session.get(Opportunity, opportunity.id).department_code == "09"


# --- the closure guard: a truncated file must not close the region ------------------------------


def snapshot() -> tuple:
    """Everything an import writes: rows counted, and each structure's state and version."""
    db.session.expire_all()
    return (
        counts(),
        [db.session.scalar(select(func.count()).select_from(model)) for model in (FinessCategoryMapping, Category)],
        sorted(
            db.session.execute(select(Structure.finess_et, Structure.is_open, Structure.name, Structure.version)).all()
        ),
    )


def test_closure_threshold_is_more_than_five_percent():
    assert not closures_need_confirmation(0, 0)  # empty registry: a first import closes nothing
    assert not closures_need_confirmation(1, 20) and closures_need_confirmation(1, 19)
    assert not closures_need_confirmation(5, 100) and closures_need_confirmation(6, 100)
    assert closures_need_confirmation(1, 1) and closures_need_confirmation(407, 437)


def test_closing_more_than_five_percent_writes_nothing_until_confirmed(tmp_path):
    establishments = rows(count=20)
    assert import_finess(write(tmp_path, establishments)).created == 20  # first import: nothing to close

    # Exactly 5 % (1 of 20 open): goes through.
    first_gone = establishments.pop(0)
    assert import_finess(write(tmp_path, establishments, name="v2.csv")).closed == 1

    # 1 of the 19 still open is more than 5 %: refused, even the creation, the update and the new
    # category mapping of the same file are not written.
    second_gone = establishments.pop(0)
    establishments[0]["rs"] = "NOM CHANGÉ PAR FINESS"
    new = rows(count=1, seed=42)[0]
    new.update(categetab="699", libcategetab="Catégorie jamais vue")
    before = snapshot()
    path = write(tmp_path, establishments + [new], name="v3.csv")

    summary = import_finess(path)

    assert summary.refused and summary.closures_refused == 1 and summary.open_in_scope == 19
    assert (summary.created, summary.updated, summary.unchanged, summary.closed) == (1, 1, 17, 0)
    assert [c["finess_et"] for c in summary.closing] == [second_gone["nofinesset"]]
    assert snapshot() == before
    assert summary.as_dict()["closures_refused"] == 1
    assert "il fermerait 1 structure sur les 19" in summary.refusal_message()
    assert "5,3 %" in summary.refusal_message()

    # A confirmation for fewer closures than the file makes is not one.
    assert import_finess(path, confirmed_closures=0).refused and snapshot() == before

    confirmed = import_finess(path, confirmed_closures=1)

    assert not confirmed.refused and "closures_refused" not in confirmed.as_dict()
    assert (confirmed.created, confirmed.updated, confirmed.closed) == (1, 1, 1)
    assert not by_finess(second_gone["nofinesset"]).is_open and not by_finess(first_gone["nofinesset"]).is_open
    assert by_finess(establishments[0]["nofinesset"]).name == "NOM CHANGÉ PAR FINESS"


def test_a_partial_file_cannot_close_the_registry(tmp_path, make_user):
    """The demo's accident: a 30-row file closed the 407 structures, one with a live project."""
    from crm.pipeline import services as pipeline
    from crm.referential.models import Offer

    establishments = rows(count=40)
    import_finess(write(tmp_path, establishments))
    structure = by_finess(establishments[-1]["nofinesset"])
    offer = db.session.scalars(select(Offer).where(Offer.code == "VT_GRAND_AGE")).one()
    pipeline.create_opportunity(
        {"structure_id": structure.id, "offer_id": offer.id, "title": "VT"}, user=make_user("admin")
    )
    before = snapshot()

    summary = import_finess(write(tmp_path, establishments[:5], name="partial.csv"))

    assert (summary.closures_refused, summary.open_in_scope, summary.unchanged) == (35, 40, 5)
    assert snapshot() == before
    from crm.structures.imports import closing_sample

    sample = closing_sample(summary.closing, limit=3)
    assert sample["flagged"] == 1 and len(sample["structures"]) == 3
    assert sample["structures"][0]["id"] == structure.id and sample["structures"][0]["opportunities"] == 1


def test_the_threshold_counts_the_open_structures_of_the_scope_only(tmp_path):
    in_region = rows(count=19)
    elsewhere = rows(departments=("75",), count=100, seed=3)
    import_finess(write(tmp_path, in_region + elsewhere), all_regions=True)
    closed_by_hand = by_finess(in_region[0]["nofinesset"])
    data = {f: getattr(closed_by_hand, f) for f in services.STRUCTURE_FIELDS}
    services.update_structure(closed_by_hand, {**data, "is_open": False})

    # Paris's 100 structures do not dilute the region's: 1 of its 18 open ones is more than 5 %.
    summary = import_finess(write(tmp_path, in_region[2:], name="v2.csv"))

    assert (summary.closures_refused, summary.open_in_scope) == (1, 18)
    # Nationally, 1 of the 118 open is under 5 %.
    national = import_finess(write(tmp_path, in_region[2:] + elsewhere, name="v3.csv"), all_regions=True)
    assert not national.refused and national.closed == 1


def test_a_tiny_registry_still_asks(tmp_path):
    establishments = rows(count=2)
    import_finess(write(tmp_path, establishments[:1]))
    summary = import_finess(write(tmp_path, establishments[1:], name="other.csv"))
    assert (summary.closures_refused, summary.open_in_scope, summary.created) == (1, 1, 1)
    assert db.session.scalar(select(func.count()).select_from(Structure)) == 1


def test_cli_refuses_closures_unless_confirmed_and_records_its_runs(tmp_path, test_env, client, make_user):
    from crm.structures.models import ImportRun
    from tests.conftest import login, post

    establishments = rows(count=10)
    env = {**os.environ, **test_env}
    first = subprocess.run(
        _cli(write(tmp_path, establishments)), cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert first.returncode == 0, first.stderr
    before = snapshot()
    partial = write(tmp_path, establishments[:3] + rows(count=1, seed=99), name="partiel.csv")

    refused = subprocess.run(_cli(partial), cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)

    assert refused.returncode == 3, refused.stderr
    summary = json.loads(refused.stdout)
    assert summary["closures_refused"] == 7 and summary["open_in_scope"] == 10
    assert (summary["created"], summary["unchanged"], summary["closed"]) == (1, 3, 0)
    assert "--confirm-closures" in refused.stderr and "rien n'a été enregistré" in refused.stderr
    assert snapshot() == before

    text_mode = subprocess.run(_cli(partial)[:-1], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert text_mode.returncode == 3 and "À fermer : 7" in text_mode.stdout
    assert snapshot() == before

    confirmed = subprocess.run(
        _cli(partial, "--confirm-closures"), cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )

    assert confirmed.returncode == 0, confirmed.stderr
    done = json.loads(confirmed.stdout)
    assert (done["closed"], done["created"]) == (7, 1) and "closures_refused" not in done
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).where(Structure.is_open.is_(False))) == 7

    # Every CLI run is recorded, and listed on the admin page with its state.
    runs = db.session.scalars(select(ImportRun).order_by(ImportRun.id)).all()
    assert [(r.origin, r.status, r.filename) for r in runs] == [
        ("cli", "terminé", "finess.csv"),
        ("cli", "refusé", "partiel.csv"),
        ("cli", "refusé", "partiel.csv"),
        ("cli", "terminé", "partiel.csv"),
    ]
    assert runs[1].summary["closures_refused"] == 7 and runs[1].summary["closing_sample"]["flagged"] == 0
    assert runs[3].summary["closed"] == 7 and runs[3].finished_at is not None
    login(client, make_user("admin"))
    page = client.get("/admin/imports").get_data(as_text=True)
    assert page.count("Ligne de commande") == 4 and "Refusé : fermetures à confirmer" in page
    assert "7 fermetures à confirmer, rien d'enregistré" in page
    detail = client.get(f"/admin/imports/{runs[1].id}").get_data(as_text=True)
    assert "--confirm-closures" in detail and "Confirmer et importer" not in detail
    response = post(client, f"/admin/imports/{runs[1].id}/confirmer", {"confirm": "y"}, follow_redirects=True)
    assert "relancez la commande avec --confirm-closures" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(ImportRun, runs[1].id).status == "refusé"
