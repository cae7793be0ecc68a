"""The dashboards at a laptop's width (1280 px) and a tablet's (768 px): nothing wider than the page in
``main`` (the heatmap scrolls inside its own box), a bounded height, no serious or critical axe-core
violation; the heatmap's empty cells carry no link."""

from __future__ import annotations

import pytest

from tests.browser.audit import assert_accessible, assert_no_horizontal_scroll, layout
from tests.browser.test_dashboard_browser import log_in
from tests.indicators.conftest import territory  # noqa: F401  (fixture)
from tests.indicators.test_maintenance import _scenario
from workflows.dispatch import process_pending

WIDTHS = (1280, 768)


def main_overflow(page) -> list[str]:
    """What sticks out of the viewport inside ``main`` (the header is laid out elsewhere)."""
    return page.evaluate(
        """() => {
            const width = document.documentElement.clientWidth;
            const out = [];
            for (const el of document.querySelectorAll('main, main *')) {
                const r = el.getBoundingClientRect();
                if (!r.width || r.right <= width + 1) continue;
                let clipped = false;
                for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
                    const s = getComputedStyle(p);
                    if (s.overflowX !== 'visible' && p.getBoundingClientRect().right <= width + 1) {
                        clipped = true; break;
                    }
                }
                const cls = el.className ? '.' + String(el.className).split(' ').join('.') : '';
                if (!clipped) out.push(el.tagName + cls);
            }
            return out.slice(0, 10);
        }"""
    )


def check_layout(page, max_height: int) -> dict:
    box = layout(page)
    assert not main_overflow(page), f"{page.url} à {box['width']} px : {main_overflow(page)}"
    assert_no_horizontal_scroll(page)  # the header too (collapsed menu under 900 px)
    assert box["height"] < max_height, f"{page.url} à {box['width']} px : {box['height']} px de haut"
    return box


@pytest.mark.parametrize("width", WIDTHS)
def test_manager_dashboard_fits_and_its_heatmap_scrolls_in_its_box(browser, live_server, territory, width):
    t = territory
    _scenario(t)
    process_pending()
    context = browser.new_context(locale="fr-FR", viewport={"width": width, "height": 900})
    page = context.new_page()
    try:
        log_in(page, live_server, t.manager)
        page.goto(f"{live_server}/tableau-de-bord")
        check_layout(page, max_height=9000 if width == 1280 else 12000)
        heat = page.evaluate(
            """() => {
                const box = document.querySelector('.heatmap-scroll');
                const table = box.querySelector('table');
                const ensemble = [...table.querySelectorAll('thead th')].pop();
                return {box: box.getBoundingClientRect().width, table: table.getBoundingClientRect().width,
                        scroll: box.scrollWidth, client: box.clientWidth,
                        ensembleRight: ensemble.getBoundingClientRect().right,
                        boxRight: box.getBoundingClientRect().right};
            }"""
        )
        if width == 1280:
            # The whole table, "Ensemble" column included, in its box: no scroll at a laptop's width.
            assert heat["scroll"] <= heat["client"] + 1, heat
            assert heat["ensembleRight"] <= heat["boxRight"] + 1, heat
        # Empty cells are plain text; every link leads to structures behind the figure.
        cells = page.locator(".heatmap tbody td")
        assert cells.count() > 0
        for link in page.locator(".heatmap tbody td a").all():
            assert link.text_content().strip() not in ("", "—")
        assert page.locator(".heatmap tbody td.heat-empty a").count() == 0
        assert page.locator(".heatmap tbody td.heat-empty").count() > 0
        assert_accessible(page)
    finally:
        context.close()


@pytest.mark.parametrize("width", WIDTHS)
def test_animator_dashboard_fits(browser, live_server, territory, width):
    t = territory
    _scenario(t)
    process_pending()
    context = browser.new_context(locale="fr-FR", viewport={"width": width, "height": 900})
    page = context.new_page()
    try:
        log_in(page, live_server, t.animator)
        page.goto(f"{live_server}/mon-tableau-de-bord")
        check_layout(page, max_height=4000 if width == 1280 else 6000)
        assert_accessible(page)
    finally:
        context.close()
