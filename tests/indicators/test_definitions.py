"""docs/indicators.md is the one written definition: served by the app, linked from the "?" beside each
rate, and cited by the code instead of any file outside the repository."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import ROOT, login
from tests.indicators.test_dashboard_routes import data, page  # noqa: F401 - the dashboard's fixture

SECTIONS = ("participation", "transformation", "engagement", "populations")


def test_the_definitions_page_renders_the_repository_document(client, make_user):
    assert client.get("/indicateurs/definitions").status_code in (302, 401)  # staff only, like the dashboards
    login(client, make_user("manager"))
    html = page(client, "/indicateurs/definitions")
    for section in SECTIONS:
        assert f'id="{section}"' in html, section
    assert "<table" not in html or "<th" in html
    assert "5 / 5 = 100 %" in html and "ouvertes à un moment de la période" in html
    assert "<h1" in html and "Définition des indicateurs" in html


def test_each_rate_of_the_dashboards_links_to_its_definition(app, client, data):  # noqa: F811
    login(client, data.manager)
    html = page(client, "/tableau-de-bord?periode=annee&debut=" + data.today.isoformat())
    for key in ("participation", "transformation", "engagement"):
        assert f'href="/indicateurs/definitions#{key}"' in html, key
    detail = page(client, "/indicateurs/participation/detail?periode=annee&debut=" + data.today.isoformat())
    assert 'href="/indicateurs/definitions#participation"' in detail
    animator = app.test_client()
    login(animator, data.animator)
    assert 'href="/indicateurs/definitions#engagement"' in page(animator, "/mon-tableau-de-bord")


def test_the_code_cites_no_definition_outside_the_repository():
    cited = []
    for path in [*Path(ROOT, "crm").rglob("*.py"), *Path(ROOT, "templates").rglob("*.html")]:
        text = path.read_text(encoding="utf-8")
        if re.search(r"DOMAIN\.md|\.\./shared|shared/DOMAIN", text):
            cited.append(str(path.relative_to(ROOT)))
    assert cited == []
    assert "docs/indicators.md" in Path(ROOT, "crm/indicators/queries.py").read_text(encoding="utf-8")
