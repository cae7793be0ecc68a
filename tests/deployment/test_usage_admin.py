"""The admin page: upload, preview (matches, rejects with line numbers), other columns, then the background
job (a real RQ worker) writes the figures; the page shows the summary."""

import io

from sqlalchemy import func, select

from crm.deployment.models import OfferDeploymentSettings, UsageFigure, UsageImportRun
from crm.platform.extensions import db
from crm.referential.models import Offer
from tests.conftest import post, run_worker_burst

FILE = "col_a;col_b;col_c\n310000005;2026-10;12\n310000005;2026-11;15\n999999998;2026-11;3\n"


def test_upload_preview_remap_and_import_in_the_background(client, login_as, make_structure, test_env):
    make_structure(finess_et="310000005")
    login_as("admin")
    offer = db.session.scalars(select(Offer).where(Offer.code == "SPICO_DOSSIERS")).one()
    page = client.get("/admin/usages")
    assert page.status_code == 200 and "Import d'usage des services" in page.get_data(as_text=True)
    # Columns nobody can guess: a clear message, nothing stored.
    refused = post(
        client,
        "/admin/usages",
        {"offer_id": str(offer.id), "file": (io.BytesIO(FILE.encode()), "stats.csv")},
        content_type="multipart/form-data",
    )
    assert refused.status_code == 422 and "Colonnes introuvables" in refused.get_data(as_text=True)
    renamed = FILE.replace("col_a;col_b;col_c", "finess;mois;col_c")
    response = post(
        client,
        "/admin/usages",
        {"offer_id": str(offer.id), "file": (io.BytesIO(renamed.encode()), "stats.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 422  # the value column is still unknown
    with_value = renamed.replace("col_c", "valeur")
    response = post(
        client,
        "/admin/usages",
        {"offer_id": str(offer.id), "file": (io.BytesIO(with_value.encode()), "stats.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    run = db.session.scalars(select(UsageImportRun)).one()
    html = client.get(f"/admin/usages/{run.id}").get_data(as_text=True)
    assert "Aperçu" in html and "Aucune structure avec le FINESS 999999998" in html and "<td>4</td>" in html
    # Other columns: the value read from the month column is refused on every line.
    post(client, f"/admin/usages/{run.id}/correspondance", {"identifier": "finess", "month": "mois", "value": "mois"})
    db.session.expire_all()
    assert db.session.get(UsageImportRun, run.id).preview["matched"] == 0
    post(client, f"/admin/usages/{run.id}/correspondance", {"identifier": "finess", "month": "mois", "value": "valeur"})
    response = post(client, f"/admin/usages/{run.id}/importer")
    assert response.status_code == 302
    run_worker_burst(test_env, queues=("imports",))
    db.session.expire_all()
    run = db.session.get(UsageImportRun, run.id)
    assert run.status == "termine" and run.summary["created"] == 2 and run.summary["rejected"] == 1
    assert db.session.scalar(select(func.count()).select_from(UsageFigure)) == 2
    assert db.session.get(OfferDeploymentSettings, offer.id).column_mapping["value"] == "valeur"
    html = client.get(f"/admin/usages/{run.id}").get_data(as_text=True)
    assert "Bilan" in html and "Terminé" in html
    assert client.get(f"/admin/usages/{run.id}/etat").get_json()["status"] == "terminé"


def test_only_admins_reach_the_usage_import(client, login_as):
    login_as("manager")
    assert client.get("/admin/usages").status_code == 403
