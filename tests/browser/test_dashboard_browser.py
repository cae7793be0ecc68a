"""In a real browser: a manager reads the dashboard, changes period and department and clicks a rate to see
the structures behind it; an animator logs an activity and sees the indicator move on the dashboard
already open (no reload: the page polls), processed by a real RQ worker."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from crm.indicators.periods import MONTHS
from tests.browser.audit import assert_accessible, assert_no_horizontal_scroll
from tests.conftest import PASSWORD, ROOT
from tests.indicators.conftest import territory  # noqa: F401  (fixture)
from tests.indicators.test_maintenance import _activity
from workflows.dispatch import process_pending


def log_in(page, live_server, user):
    page.goto(f"{live_server}/connexion")
    page.get_by_label("Adresse e-mail").fill(user.email)
    page.get_by_label("Mot de passe").fill(PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_load_state()


def test_manager_changes_period_and_department_then_clicks_a_rate(page, width, live_server, territory):
    """The manager's main journey, at 1280 and 768 px (``width``), every page checked by axe-core."""
    from playwright.sync_api import expect

    t = territory
    _activity(t, [t.ehpad], offers=["VT_GRAND_AGE"])
    _activity(t, [t.ehpad_46], user=t.animator_46)
    process_pending()

    log_in(page, live_server, t.manager)
    page.wait_for_url("**/tableau-de-bord")
    expect(page.get_by_role("heading", level=1)).to_contain_text(str(t.today.year))
    # Region, this year: both EHPAD took part, out of the three ES/ESMS.
    expect(page.locator('[data-figure="participation"] [data-counts]')).to_contain_text("2 / 3")
    assert_accessible(page)
    assert_no_horizontal_scroll(page)

    page.get_by_label("Période", exact=True).select_option("mois")
    page.get_by_label("Début (ou un jour de la période)").fill(t.today.isoformat())
    page.get_by_label("Département", exact=True).select_option("31")
    page.get_by_role("button", name="Afficher").click()
    page.wait_for_url("**departement=31**")
    expect(page.get_by_role("heading", level=1)).to_contain_text(MONTHS[t.today.month - 1])
    tile = page.locator('[data-figure="participation"]')
    expect(tile.locator("[data-counts]")).to_contain_text("1 / 2")
    expect(tile.locator("[data-rate]")).to_have_text("50\u00a0%")

    tile.locator("[data-rate]").click()
    page.wait_for_url("**/indicateurs/participation/detail**")
    counted = page.locator("section", has=page.locator("#comptees"))
    not_reached = page.locator("section", has=page.locator("#non-atteintes"))
    expect(counted.get_by_role("link", name="EHPAD Les Tilleuls")).to_be_visible()
    expect(not_reached.get_by_role("link", name="CH de Muret")).to_be_visible()
    expect(counted.get_by_role("link", name="CH de Muret")).to_have_count(0)
    assert_accessible(page)
    assert_no_horizontal_scroll(page)


@pytest.fixture
def worker(test_env, redis_conn):
    """A real RQ worker on the outbox queue, running in the background for the test."""
    env = {**os.environ, **test_env, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rq.cli",
            "worker",
            "-w",
            "workflows.worker.Worker",
            "--url",
            test_env["REDIS_URL"],
            "outbox",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    yield process
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()


def test_animator_logs_an_activity_and_sees_the_indicator_move(browser, page, live_server, territory, worker):
    from playwright.sync_api import expect

    t = territory
    process_pending()
    log_in(page, live_server, t.animator)
    page.goto(f"{live_server}/mon-tableau-de-bord")
    counts = page.locator('[data-figure="participation"] [data-counts]').first
    expect(counts).to_contain_text("0 / 2")

    # In another tab, the visit is logged from the structure's page.
    other = page.context.new_page()
    other.goto(f"{live_server}/activites/nouvelle?structure_id={t.ch.id}")
    other.get_by_label("Type d'activité").select_option("reunion")
    other.get_by_label("Activité d'information (compte pour l'indicateur de participation du CPOM)").check()
    other.get_by_role("button", name="Enregistrer l'activité").click()
    other.wait_for_url(f"**/structures/{t.ch.id}**")
    other.close()

    # The dashboard tab was not reloaded: the worker processed the event and the tile polled it.
    expect(counts).to_contain_text("1 / 2", timeout=30000)
    expect(page.locator("[data-freshness-text]").first).to_have_text("à jour", timeout=15000)
    assert worker.poll() is None  # the worker is still alive
