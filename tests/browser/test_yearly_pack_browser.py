"""In a real browser: a manager opens the Bilan annuel, chooses a department, writes a note and downloads the
PDF; the page passes the accessibility audit and does not scroll sideways."""

from __future__ import annotations

from pypdf import PdfReader

from tests.browser.audit import assert_accessible, assert_no_horizontal_scroll
from tests.browser.test_dashboard_browser import log_in
from tests.indicators.conftest import territory  # noqa: F401  (fixture)
from tests.indicators.test_maintenance import _activity
from workflows.dispatch import process_pending


def test_manager_reads_the_yearly_pack_writes_a_note_and_downloads_the_pdf(page, live_server, territory, tmp_path):
    from playwright.sync_api import expect

    t = territory
    _activity(t, [t.ehpad], offers=["VT_GRAND_AGE"])
    process_pending()
    log_in(page, live_server, t.manager)
    page.goto(f"{live_server}/bilan-annuel")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Bilan annuel {t.today.year}")
    page.get_by_label("Département", exact=True).select_option("31")
    page.get_by_role("button", name="Afficher").click()
    page.wait_for_url("**departement=31**")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Haute-Garonne")
    assert_accessible(page)
    assert_no_horizontal_scroll(page)

    page.get_by_label("Commentaire – Chiffres du rapport d'activité").fill("Une année de déploiement.")
    page.get_by_role("button", name="Enregistrer les commentaires").click()
    page.wait_for_url("**#commentaires")
    expect(page.get_by_role("status")).to_contain_text("Commentaires enregistrés.")
    expect(page.locator(".yearly-note")).to_contain_text("Une année de déploiement.")

    with page.expect_download() as download:
        page.get_by_role("link", name="Télécharger le rapport (PDF)").click()
    path = tmp_path / download.value.suggested_filename
    download.value.save_as(path)
    assert path.name == f"bilan-annuel-{t.today.year}-31.pdf"
    text = "".join(p.extract_text() for p in PdfReader(path).pages)
    assert "Une année de déploiement." in text
