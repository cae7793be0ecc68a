"""Usage import: column mapping saved per offer, preview with rejects and their line numbers, idempotent
re-import, the status "usage actif" set by the import, the CLI."""

import json

import pytest
from sqlalchemy import func, select

from crm.deployment import services
from crm.deployment.models import OfferDeploymentSettings, UsageFigure
from crm.deployment.usage import UsageFileError, import_usage, preview
from crm.platform.extensions import db
from crm.platform.models import OutboxEvent
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
