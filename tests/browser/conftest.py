"""Browser fixtures: a live server on a free local port and Debian's Chromium driven by Playwright.

Without Chromium the browser tests are skipped with a clear message, unless
REQUIRE_BROWSER=1 (CI), where they fail instead.
"""

from __future__ import annotations

import os
import shutil
import threading

import pytest
from werkzeug.serving import make_server

CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome")


def _chromium_path() -> str | None:
    explicit = os.environ.get("CHROMIUM_PATH")
    if explicit and os.path.exists(explicit):
        return explicit
    for name in CHROMIUM_CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.fixture(scope="session")
def chromium_path():
    path = _chromium_path()
    if path is None:
        message = (
            "Tests navigateur ignorés : Chromium est introuvable (installez le paquet Debian "
            "'chromium' ou définissez CHROMIUM_PATH)."
        )
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(message.replace("ignorés", "impossibles") + " REQUIRE_BROWSER=1 exige de les lancer.")
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def live_server(app):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture(scope="session")
def browser(chromium_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(locale="fr-FR", viewport={"width": 1024, "height": 768})
    page = context.new_page()
    page.set_default_timeout(10000)
    yield page
    context.close()


@pytest.fixture(params=[1280, 768], ids=["1280px", "768px"])
def width(request, page):
    """Each role's main journey runs at a laptop's width and a tablet's (issue 16): the page is resized."""
    page.set_viewport_size({"width": request.param, "height": 900})
    return request.param
