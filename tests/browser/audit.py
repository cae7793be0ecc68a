"""What the browser tests check on every page they visit: axe-core's rules and the layout.

axe-core (vendored under tests/browser/vendor, MPL-2.0, see static/VENDORED.md) is injected into the
page and run with the WCAG 2.1 A/AA rules, which RGAA 4.1 follows; a violation of impact "serious" or
"critical" fails the test. The layout check reads the page's height and whether anything is wider
than the viewport (horizontal scroll), which issue 16 asks the pipeline and the dashboard to avoid.
Also used by bin/ui_audit.py, which crawls every page of each role and takes the screenshots.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin, urlparse

AXE_SOURCE = Path(__file__).with_name("vendor") / "axe.min.js"
BLOCKING = ("serious", "critical")
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


@dataclass
class Violation:
    rule: str
    impact: str
    help: str
    nodes: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        where = "; ".join(self.nodes[:5])
        return f"{self.rule} ({self.impact}, {len(self.nodes)} nœuds) : {self.help} → {where}"


def axe_violations(page, impacts=BLOCKING) -> list[Violation]:
    """Run axe-core on the page as it is now; the violations of the given impacts."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        # Evaluated through the DevTools protocol: the app's CSP (script-src 'self') stays on.
        page.evaluate(AXE_SOURCE.read_text(encoding="utf-8"))
    result = page.evaluate(
        """async (tags) => {
            const options = {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']};
            const r = await window.axe.run(document, options);
            const summary = (n) => n.failureSummary
                ? ' [' + n.failureSummary.replace(/\\s+/g, ' ').slice(0, 160) + ']' : '';
            return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.map(n => n.target.join(' ') + summary(n))}));
        }""",
        AXE_TAGS,
    )
    return [Violation(v["id"], v["impact"] or "", v["help"], v["nodes"]) for v in result if v["impact"] in impacts]


def assert_accessible(page) -> None:
    """Fail with the list of serious or critical axe-core violations of the page, if any."""
    violations = axe_violations(page)
    assert not violations, f"axe-core sur {page.url} :\n" + "\n".join(str(v) for v in violations)


def layout(page) -> dict:
    """The page's height, the viewport's width and the elements that stick out of it (horizontal scroll)."""
    return page.evaluate(
        """() => {
            const width = document.documentElement.clientWidth;
            const over = [];
            for (const el of document.body.querySelectorAll('*')) {
                const r = el.getBoundingClientRect();
                if (r.width && r.right > width + 1) {
                    let clipped = false;
                    for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
                        const s = getComputedStyle(p);
                        const inside = p.getBoundingClientRect().right <= width + 1;
                        if (s.overflowX !== 'visible' && inside) { clipped = true; break; }
                    }
                    const cls = typeof el.className === 'string' && el.className
                        ? '.' + el.className.split(' ').join('.') : '';
                    if (!clipped) over.push((el.tagName + (el.id ? '#' + el.id : '') + cls).slice(0, 80));
                }
            }
            return {height: document.documentElement.scrollHeight, width: width,
                    scroll_width: document.documentElement.scrollWidth, overflowing: over.slice(0, 10)};
        }"""
    )


def assert_no_horizontal_scroll(page) -> dict:
    box = layout(page)
    assert box["scroll_width"] <= box["width"] + 1 and not box["overflowing"], (
        f"{page.url} déborde à {box['width']} px : largeur {box['scroll_width']} px, {box['overflowing']}"
    )
    return box


# Links a crawl does not follow: downloads, feeds, logout, JSON and the autocompletes.
SKIP = re.compile(
    r"(\.ics|\.csv|\.xlsx|\.pdf|\.json|/deconnexion|/export|/emargement|/autocomplete|/pieces/|/calendrier/personnel"
    r"|mailto:|/e/structures)"
)


def pattern(url: str) -> str:
    """A page's kind: its path with numbers as N and public slugs as S (one visit per kind)."""
    path = re.sub(r"/\d+", "/N", urlparse(url).path)
    return re.sub(r"^/e/(?!annuler|avis|structures)[^/]+", "/e/S", path)


def crawl(page, base: str, start: str = "/", max_pages: int = 60):
    """Visit the pages reachable from ``start`` by links, one per kind, breadth first; yields each kind.

    The page is left on the visited page when the generator yields, so the caller checks it there.
    """
    seen, queue, visited = set(), [urljoin(base, start)], 0
    while queue and visited < max_pages:
        url = queue.pop(0)
        key = pattern(url)
        if key in seen:
            continue
        seen.add(key)
        response = page.goto(url)
        if response is None or response.status >= 400 or not page.url.startswith(base):
            continue
        visited += 1
        yield key
        for href in page.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))"):
            target = urljoin(page.url, href).split("#")[0]
            if target.startswith(base) and not SKIP.search(target) and pattern(target) not in seen:
                queue.append(target)


def heading_problems(page) -> list[str]:
    """Headings in order (RGAA 9.1): one h1 in main, first; no level skipped going down."""
    levels = page.eval_on_selector_all(
        "main h1, main h2, main h3, main h4, main h5, main h6", "els => els.map(e => Number(e.tagName[1]))"
    )
    problems = []
    if levels.count(1) != 1 or (levels and levels[0] != 1):
        problems.append(f"titres : {levels.count(1)} h1, premier niveau {levels[:1]}")
    skipped = [(a, b) for a, b in zip(levels, levels[1:]) if b > a + 1]
    if skipped:
        problems.append(f"titres : niveaux sautés {skipped[:3]}")
    return problems


def click_nav(page, name: str) -> None:
    """Follow a link of the main menu, opening it first where it is collapsed (under 900 px)."""
    toggle = page.locator("[data-menu-toggle]")
    if toggle.count() and toggle.is_visible() and toggle.get_attribute("aria-expanded") != "true":
        toggle.click()
    page.get_by_role("navigation", name="Navigation principale").get_by_role("link", name=name, exact=True).click()
