"""Building blocks of the SVG charts: the accessible <svg> wrapper, escaping, axis ticks, French labels.

Charts are strings built here rather than Jinja templates because their geometry is computed; every text
that comes from data goes through ``esc`` and the result is well-formed XML (tests parse it).
Only presentation attributes are used, never ``style``: the Content-Security-Policy forbids inline styles.
"""

from __future__ import annotations

import hashlib
import math

from markupsafe import Markup, escape

from crm.platform.formatting import format_number, format_percent

FONT_FAMILY = 'system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif'


def esc(value) -> str:
    """Text or attribute value, escaped for XML (quotes included)."""
    return str(escape("" if value is None else value))


def num(value: float) -> str:
    """A coordinate, one decimal at most."""
    text = f"{value:.1f}"
    return "0" if text == "-0.0" else text[:-2] if text.endswith(".0") else text


def chart_id(kind: str, *content) -> str:
    """A stable id for a chart's title, description and patterns, derived from what it shows.

    Stable (not a counter) so a page renders the same twice; different charts on one page get
    different ids, and the same chart twice gets the same ids, which then name the same things.
    """
    digest = hashlib.blake2s(repr((kind, content)).encode(), digest_size=5).hexdigest()
    return f"chart-{kind}-{digest}"


def svg_document(
    cid: str,
    view_box: tuple[float, float, float, float],
    title: str,
    desc: str,
    body: str,
    *,
    kind: str,
    interactive: bool = False,
) -> Markup:
    """The complete <svg>, sized by CSS (no width or height), named by its <title> and described by <desc>.

    A chart with links gets role="group" rather than "img": an image's children are hidden from assistive
    technologies, which would leave its links focusable yet unnamed.
    """
    cid = esc(cid)
    role = "group" if interactive else "img"
    x, y, width, height = view_box
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="{num(x)} {num(y)} {num(width)} {num(height)}" '
        f'role="{role}" aria-labelledby="{cid}-title" aria-describedby="{cid}-desc" id="{cid}" '
        f'class="chart-svg chart-{kind}" font-family="{esc(FONT_FAMILY)}" font-size="13" fill="#1f2933">'
        f'<title id="{cid}-title">{esc(title)}</title><desc id="{cid}-desc">{esc(desc)}</desc>'
        f"{body}</svg>"
    )


def text(x: float, y: float, content, *, anchor: str = "start", extra: str = "") -> str:
    return f'<text x="{num(x)}" y="{num(y)}" text-anchor="{anchor}"{extra}>{esc(content)}</text>'


def truncate(label: str, max_chars: int) -> str:
    """Shorten a label that would overflow its column; the full label stays in the <title> tooltip."""
    label = str(label)
    return label if len(label) <= max_chars else label[: max_chars - 1].rstrip() + "…"


def format_value(value: float | None, *, percent: bool, decimals: int = 0) -> str:
    """French number or percentage; None is "—" (no data, never 0)."""
    return format_percent(value, decimals) if percent else format_number(value, decimals)


def format_days(days: float | None) -> str:
    """Average duration in days: one decimal below ten days, where it still means something."""
    if days is None:
        return "—"
    decimals = 0 if days >= 10 or float(days).is_integer() else 1
    return format_number(days, decimals)


def nice_ticks(vmax: float | None) -> list[float]:
    """Axis ticks from 0 up to at least ``vmax``: 4 or 5 values, steps of 1, 2, 2.5 or 5 times a power of ten."""
    if vmax is None or vmax <= 0:
        vmax = 1.0
    raw_step = vmax / 4
    magnitude = 10 ** math.floor(math.log10(raw_step))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw_step * (1 - 1e-9))
    count = max(1, math.ceil(vmax / step - 1e-9))
    return [round(i * step, 12) for i in range(count + 1)]


def tick_decimals(ticks: list[float], *, percent: bool) -> int:
    """Fewest decimals that tell the ticks apart (in percent points for rates)."""
    step = ticks[1] - ticks[0] if len(ticks) > 1 else 1
    step = step * 100 if percent else step
    for decimals in range(0, 4):
        if abs(round(step, decimals) - step) < 1e-9:
            return decimals
    return 3
