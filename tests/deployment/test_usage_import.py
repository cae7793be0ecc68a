"""Usage import: column mapping saved per offer, preview with rejects and their line numbers, idempotent
re-import, the status "usage actif" set by the import, the CLI."""

import json

import pytest
from sqlalchemy import func, select

from crm.deployment import services
from crm.deployment.models import OfferDeploymentSettings, UsageFigure
from crm.deployment.usage import UsageFileError, import_usage, preview
from crm.platform.extensions import db
from crm.platform.models import AuditEntry, OutboxEvent
from crm.referential.models import Offer


@pytest.fixture
def offer():
    return db.session.scalars(select(Offer).where(Offer.code == "SPICO_DOSSIERS")).one()


@pytest.fixture
def structures(make_structure):
    return [
        make_structure(name="CH A", finess_et="310000005"),
        make_structure(name="EHPAD B", finess_et="310000013", siret="12345678900015"),
    ]


FILE = (
    "Etablissement;Période;Nb utilisateurs\n"
    "310000005;2026-10;12\n"
    "12345678900015;10/2026;0\n"
    "999999998;2026-10;4\n"
    "310000005;2026-11;15\n"
    "abc;2026-11;3\n"
    "310000013;2026-13;3\n"
    "310000013;2026-11;trois\n"
    "310000005;2026-11;16\n"
)
MAPPING = {"identifier": "Etablissement", "month": "Période", "value": "Nb utilisateurs"}


def figures(offer):
    db.session.expire_all()
    return sorted(
        (s, m.isoformat(), v)
        for s, m, v in db.session.execute(
            select(UsageFigure.structure_id, UsageFigure.month, UsageFigure.value).where(
                UsageFigure.offer_id == offer.id
            )
        )
    )


def test_preview_lists_matches_and_rejects_with_line_numbers(offer, structures):
    reading = preview(FILE.encode(), offer, MAPPING)
    assert reading.total == 8 and len(reading.lines) == 3
    assert [line for line, _ in reading.rejects] == [4, 6, 7, 8, 9]
    reasons = dict(reading.rejects)
    assert "Aucune structure avec le FINESS 999999998" in reasons[4]
    assert "ni un FINESS" in reasons[6]
    assert "Mois illisible" in reasons[7]
    assert "Valeur illisible" in reasons[8]
    assert "ligne 5" in reasons[9]
    assert db.session.scalar(select(func.count()).select_from(UsageFigure)) == 0  # nothing written


def test_import_writes_valid_lines_saves_the_mapping_and_is_idempotent(offer, structures):
    a, b = structures
    summary = import_usage(FILE.encode(), offer, source="spico.csv", mapping=MAPPING)
    assert (summary.created, summary.updated, summary.rejected) == (3, 0, 5)
    assert figures(offer) == sorted([(a.id, "2026-10-01", 12), (b.id, "2026-10-01", 0), (a.id, "2026-11-01", 15)])
    assert db.session.get(OfferDeploymentSettings, offer.id).column_mapping == MAPPING
    # A structure with usage above zero is "usage actif"; one at zero is left as it was.
    assert services.get_deployment(a.id, offer.id).status == "usage_actif"
    assert services.get_deployment(a.id, offer.id).source == "import"
    assert services.get_deployment(b.id, offer.id) is None
    events = db.session.scalars(select(OutboxEvent.type).order_by(OutboxEvent.id)).all()
    assert events.count("deployment.status_changed") == 1 and events.count("usage.imported") == 1
    # Again, without a mapping: the saved one is used, and the rows are the same.
    before = figures(offer)
    again = import_usage(FILE.encode(), offer, source="spico.csv")
    assert (again.created, again.updated, again.unchanged, again.statuses) == (0, 0, 3, 0)
    assert figures(offer) == before


def test_a_corrected_file_updates_its_month(offer, structures):
    a, _ = structures
    import_usage(FILE.encode(), offer, source="spico.csv", mapping=MAPPING)
    corrected = FILE.replace("310000005;2026-10;12", "310000005;2026-10;20")
    summary = import_usage(corrected.encode(), offer, source="spico.csv", mapping=MAPPING)
    assert summary.updated == 1 and (a.id, "2026-10-01", 20) in figures(offer)


def test_latin1_and_comma_separated_files_are_read(offer, structures):
    text = "finess,mois,valeur,commentaire\n310000005,2026-09,7,Établissement réservé\n"
    summary = import_usage(text.encode("latin-1"), offer, source="stats.csv")
    assert summary.created == 1 and summary.rejected == 0


def test_an_unmapped_file_is_refused_with_a_message(offer, structures):
    with pytest.raises(UsageFileError, match="Colonnes introuvables"):
        preview(b"a;b;c\n1;2;3\n", offer)


def test_a_higher_manual_status_becomes_usage_actif_by_import(offer, structures):
    a, _ = structures
    services.set_status(a, offer.id, "deploye", source="manuel")
    db.session.commit()
    import_usage(FILE.encode(), offer, source="spico.csv", mapping=MAPPING)
    db.session.expire_all()
    assert services.get_deployment(a.id, offer.id).status == "usage_actif"


def test_cli_imports_and_reports_in_json(app, offer, structures, tmp_path):
    path = tmp_path / "usage.csv"
    path.write_text(
        FILE.replace("Etablissement", "finess").replace("Période", "mois").replace("Nb utilisateurs", "valeur")
    )
    runner = app.test_cli_runner()
    result = runner.invoke(args=["crm", "import-usage", str(path), "--offer", "spico_dossiers", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["created"] == 3 and report["rejected"] == 5 and report["rejects"][0]["line"] == 4
    result = runner.invoke(args=["crm", "import-usage", str(path), "--offer", "NOPE"])
    assert result.exit_code == 2 and "Offre inconnue" in result.output


def test_statuses_moved_by_an_import_carry_their_audit_entry_and_event(offer, structures, make_structure):
    """The statuses are moved in SQL from the staged lines: each moved one has its entry and its event with
    the status it left, the structure's facts, and nothing for a structure already in active use."""
    a, b = structures
    c = make_structure(name="SSIAD C", finess_et="310000021")
    services.set_status(a, offer.id, "deploye", source="manuel")
    services.set_status(c, offer.id, "usage_actif", source="manuel")
    db.session.commit()
    first_event = db.session.scalar(select(func.max(OutboxEvent.id)))
    data = "finess;mois;valeur\n310000005;2026-10;3\n310000013;2026-10;4\n310000021;2026-10;5\n310000013;2026-11;0\n"
    summary = import_usage(data.encode(), offer, source="spico.csv")
    assert (summary.created, summary.statuses) == (4, 2)
    events = db.session.scalars(
        select(OutboxEvent)
        .where(OutboxEvent.id > first_event, OutboxEvent.type == "deployment.status_changed")
        .order_by(OutboxEvent.id)
    ).all()
    moved = {event.payload["structure_id"]: event.payload for event in events}
    assert set(moved) == {a.id, b.id}
    assert moved[a.id]["from_status"] == "deploye" and moved[b.id]["from_status"] is None
    assert moved[b.id]["department"] == b.department_code and moved[b.id]["source"] == "import"
    for structure in (a, b):
        deployment = services.get_deployment(structure.id, offer.id)
        assert moved[structure.id]["deployment_id"] == deployment.id
        entry = db.session.scalars(
            select(AuditEntry)
            .where(AuditEntry.entity_type == "structure_deployment", AuditEntry.entity_id == deployment.id)
            .order_by(AuditEntry.id.desc())
        ).first()
        assert entry.changes["status"][1] == "usage_actif" and entry.parent_id == structure.id


def test_a_value_back_to_zero_is_an_update_and_leaves_the_status(offer, structures):
    a, _ = structures
    import_usage(b"finess;mois;valeur\n310000005;2026-10;8\n", offer, source="a.csv")
    summary = import_usage(b"finess;mois;valeur\n310000005;2026-10;0\n", offer, source="b.csv")
    assert (summary.created, summary.updated, summary.unchanged, summary.statuses) == (0, 1, 0, 0)
    assert figures(offer) == [(a.id, "2026-10-01", 0)]
    db.session.expire_all()
    assert services.get_deployment(a.id, offer.id).status == "usage_actif"


def test_a_file_name_with_tabs_and_quotes_is_stored_as_sent(offer, structures):
    """The source travels through COPY's text format on PostgreSQL: its escapes must round-trip."""
    source = 'stats\t"oct"\\nov\n2026.csv'
    import_usage(b"finess;mois;valeur\n310000005;2026-10;8\n", offer, source=source)
    db.session.expire_all()
    assert db.session.scalars(select(UsageFigure.source)).one() == source


def test_two_imports_of_one_offer_at_once_write_each_figure_and_move_each_status_once(app, offer, structures):
    """The offer's lock (PostgreSQL) makes the second import wait for the first and find its figures."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("concurrent writers need PostgreSQL; SQLite serialises every writer")
    import threading

    offer_id = offer.id
    db.session.commit()
    data = b"finess;mois;valeur\n310000005;2026-10;3\n310000013;2026-10;4\n310000013;2026-11;5\n"
    barrier, results = threading.Barrier(2), []

    def run():
        with app.app_context():
            try:
                mine = db.session.get(Offer, offer_id)
                barrier.wait(timeout=30)
                results.append(import_usage(data, mine, source="race.csv"))
            except Exception as error:  # reported by the assertion below
                results.append(error)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(isinstance(r, Exception) for r in results), results
    assert sorted((r.created, r.unchanged, r.statuses) for r in results) == [(0, 3, 0), (3, 0, 2)]
    assert len(figures(offer)) == 3
    moved = db.session.scalars(select(OutboxEvent).where(OutboxEvent.type == "deployment.status_changed")).all()
    assert len(moved) == 2
