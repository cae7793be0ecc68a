"""Server-side SVG charts of the managers' dashboard: map, heatmap legend, funnel, trend lines, bars.

Each function returns a complete, accessible <svg> (title, description, viewBox, no fixed size) as Markup,
to be placed in a page with the ``figure`` macro of ``templates/_macros/charts.html``, which adds the data
table that screen-reader users read instead of the drawing. No JavaScript and no network: the dashboard
works offline and under the app's Content-Security-Policy.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

from markupsafe import Markup

from crm.indicators.charts_palette import (
    AXIS,
    BAR_FILL,
    GRID,
    NO_DATA_FILL,
    NO_DATA_HATCH,
    NO_DATA_LABEL,
    SEQUENTIAL,
    SERIES_STYLES,
    class_index,
    class_ranges,
    heat_class,
    heat_colour,
    text_colour_for,
    value_range,
)
from crm.indicators.charts_svg import (
    chart_id as make_chart_id,
)
from crm.indicators.charts_svg import (
    esc,
    format_days,
    format_value,
    nice_ticks,
    num,
    svg_document,
    text,
    tick_decimals,
    truncate,
)
from crm.indicators.geo import department_shapes, normalise_code
from crm.platform.formatting import format_number, plural

__all__ = [
    "bar_chart",
    "choropleth_map",
    "funnel_chart",
    "heat_class",
    "heat_colour",
    "heat_legend",
    "text_colour_for",
    "trend_chart",
]

WIDTH = 640
MAP_HEIGHT = 540
MAX_SERIES = len(SERIES_STYLES)


def _hatch(cid: str) -> str:
    return (
        f'<pattern id="{esc(cid)}-hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
        f'patternTransform="rotate(45)"><rect width="6" height="6" fill="{NO_DATA_FILL}"/>'
        f'<line x1="0" y1="0" x2="0" y2="6" stroke="{NO_DATA_HATCH}" stroke-width="1.5"/></pattern>'
    )


def _range_label(low: float, high: float, value_label: Callable[[float | None], str]) -> str:
    return value_label(low) if low == high else f"{value_label(low)} – {value_label(high)}"


def _legend_item(x: float, y: float, fill: str, label: str, extra: str = "") -> str:
    return (
        f'<g class="legend-item"{extra}><rect x="{num(x)}" y="{num(y)}" width="18" height="13" fill="{fill}" '
        f'stroke="{AXIS}" stroke-width="0.5"/>{text(x + 25, y + 11, label)}</g>'
    )


def _empty(cid: str, title: str, kind: str, message: str = "Aucune donnée à afficher.") -> Markup:
    return svg_document(
        cid, (0, 0, WIDTH, 40), title, message, text(WIDTH / 2, 25, message, anchor="middle"), kind=kind
    )


def choropleth_map(
    values: dict[str, float | None],
    *,
    codes: Iterable[str],
    title: str,
    value_label: Callable[[float | None], str],
    link_for: Callable[[str], str | None] | None = None,
    selected: str | None = None,
    chart_id: str | None = None,
) -> Markup:
    """Departments of ``codes`` coloured by ``values`` on the 5-class scale, each with its code and value
    written on it, a tooltip, an optional link, and a legend. A code without a value, or with None, is drawn
    hatched as "pas de données"; codes without an outline (overseas) are listed under the legend."""
    values = {normalise_code(code): value for code, value in values.items()}
    selected = normalise_code(selected) if selected is not None else None
    shapes = department_shapes(codes, width=WIDTH, height=MAP_HEIGHT)
    cid = chart_id or make_chart_id("map", title, sorted(values.items(), key=str), [s.code for s in shapes], selected)
    if not shapes:
        return _empty(cid, title, "map", "Aucun département à afficher sur la carte.")
    shown = {shape.code: values.get(shape.code) for shape in shapes}
    extent = value_range(shown.values())
    vmin, vmax = extent if extent else (None, None)
    hatch_fill = f"url(#{esc(cid)}-hatch)"

    areas, labels, outline = [], [], ""
    for shape in shapes:
        value = shown[shape.code]
        index = class_index(value, vmin, vmax)
        colour = NO_DATA_FILL if index is None else SEQUENTIAL[index]
        fill = hatch_fill if index is None else colour
        css = "dept no-data" if index is None else f"dept cls-{index}"
        tooltip = f"{shape.name}\u00a0: {NO_DATA_LABEL if value is None else value_label(value)}"
        area = f'<path d="{shape.path}" fill="{fill}" class="{css}" data-code="{esc(shape.code)}"'
        url = link_for(shape.code) if link_for else None
        current = ' aria-current="true"' if shape.code == selected else ""
        if url:
            areas.append(f'<a href="{esc(url)}" class="dept-link"{current}><title>{esc(tooltip)}</title>{area}/></a>')
        else:
            areas.append(f"{area}><title>{esc(tooltip)}</title></path>")
        if shape.code == selected:
            outline = (
                f'<path d="{shape.path}" fill="none" stroke="#1f2933" stroke-width="3" '
                f'class="dept-selected" pointer-events="none"/>'
            )
        size = max(6.0, min(13.0, shape.box[2] / 4, shape.box[3] / 2.8))
        labels.append(
            f'<text x="{num(shape.label_x)}" y="{num(shape.label_y)}" font-size="{num(size)}" '
            f'fill="{text_colour_for(colour)}" stroke="{colour}" class="map-label" data-code="{esc(shape.code)}">'
            f'<tspan x="{num(shape.label_x)}" dy="-0.2em" font-weight="700">{esc(shape.code)}</tspan>'
            f'<tspan x="{num(shape.label_x)}" dy="1.15em">{esc(value_label(value))}</tspan></text>'
        )

    legend, bottom = _map_legend(shapes, extent, value_label, hatch_fill)
    top = shapes.bounds[1] - 10
    area_attributes = 'stroke="#6b7280" stroke-width="0.8" stroke-linejoin="round" fill-rule="evenodd"'
    body = (
        f'<defs>{_hatch(cid)}</defs><g class="map-areas" {area_attributes}>{"".join(areas)}</g>{outline}'
        f'<g class="map-labels" aria-hidden="true" pointer-events="none" text-anchor="middle" '
        f'stroke-width="2.5" stroke-linejoin="round" paint-order="stroke">{"".join(labels)}</g>{legend}'
    )
    interactive = any(area.startswith("<a ") for area in areas)
    return svg_document(
        cid,
        (0, top, WIDTH, bottom + 6 - top),
        title,
        _map_description(shapes, shown, extent, value_label),
        body,
        kind="map",
        interactive=interactive,
    )


def _map_legend(shapes, extent, value_label, hatch_fill) -> tuple[str, float]:
    """The legend under the map, three entries a row, and the y where it ends."""
    legend_y = shapes.bounds[3] + 16
    entries = [
        (
            SEQUENTIAL[index],
            _range_label(low, high, value_label),
            f' data-class="{index}" data-min="{low!r}" data-max="{high!r}"',
        )
        for index, low, high in (class_ranges(*extent) if extent else [])
    ]
    entries.append((hatch_fill, NO_DATA_LABEL, ' data-class="none"'))
    column = WIDTH / 3
    legend = [text(10, legend_y + 10, "Légende", extra=' font-weight="700"')]
    for i, (fill, label, extra) in enumerate(entries):
        legend.append(_legend_item(10 + (i % 3) * column, legend_y + 20 + (i // 3) * 22, fill, label, extra))
    bottom = legend_y + 20 + math.ceil(len(entries) / 3) * 22
    if shapes.missing:
        note = f"Non représentés sur la carte (outre-mer ou code inconnu)\u00a0: {', '.join(shapes.missing)}"
        legend.append(text(10, bottom + 10, note, extra=f' class="map-missing" fill="{AXIS}" font-size="12"'))
        bottom += 20
    return f'<g class="map-legend">{"".join(legend)}</g>', bottom


def _map_description(shapes, shown, extent, value_label) -> str:
    parts = [f"Carte de {plural(len(shapes), 'département')}."]
    if extent:
        names = {shape.code: shape.name for shape in shapes}

        def who(target):
            return ", ".join(names[code] for code, value in shown.items() if value == target)

        parts.append(
            f"Valeurs de {value_label(extent[0])} ({who(extent[0])}) à {value_label(extent[1])} ({who(extent[1])})."
        )
    unknown = sum(1 for value in shown.values() if value is None)
    if unknown:
        parts.append(f"Pas de données pour {plural(unknown, 'département')}.")
    if shapes.missing:
        parts.append(f"Non représentés sur la carte\u00a0: {', '.join(shapes.missing)}.")
    return " ".join(parts)


def heat_legend(
    vmin: float | None,
    vmax: float | None,
    *,
    value_label: Callable[[float | None], str],
    title: str = "Légende des couleurs",
    chart_id: str | None = None,
) -> Markup:
    """The scale of a heatmap table (cells coloured with ``heat_class``): one swatch per class, plus no data."""
    cid = chart_id or make_chart_id("heat", vmin, vmax, title)
    ranges = class_ranges(vmin, vmax) if vmin is not None and vmax is not None else []
    entries = [(SEQUENTIAL[index], _range_label(low, high, value_label)) for index, low, high in ranges]
    entries.append((f"url(#{esc(cid)}-hatch)", NO_DATA_LABEL))
    step, small = 112, ' font-size="11"'
    items = [
        f'<g class="legend-item"><rect x="{i * step}" y="2" width="{step - 6}" height="14" fill="{fill}" '
        f'stroke="{AXIS}" stroke-width="0.5"/>{text(i * step, 32, label, extra=small)}</g>'
        for i, (fill, label) in enumerate(entries)
    ]
    desc = "Échelle\u00a0: " + "\u00a0; ".join(label for _, label in entries) + "."
    return svg_document(
        cid,
        (0, 0, len(entries) * step, 40),
        title,
        desc,
        f"<defs>{_hatch(cid)}</defs>{''.join(items)}",
        kind="heat-legend",
    )


def funnel_chart(
    stages: list[tuple[str, int, float | None]],
    *,
    title: str = "Entonnoir des opportunités",
    chart_id: str | None = None,
) -> Markup:
    """One horizontal bar per stage, in the order given, as long as the number of opportunities that reached
    it, with that number and the average days spent in the stage written beside it."""
    cid = chart_id or make_chart_id("funnel", title, stages)
    if not stages:
        return _empty(cid, title, "funnel")
    largest = max(count for _, count, _ in stages) or 1
    rows, row_height, bar_x, bar_max = [], 40, 180, 270
    for i, (label, count, days) in enumerate(stages):
        y = 8 + i * row_height
        width = bar_max * max(count, 0) / largest
        duration = f"{format_days(days)}\u00a0j en moyenne" if days is not None else f"durée\u00a0: {NO_DATA_LABEL}"
        rows.append(
            f'<g class="funnel-stage" data-stage="{i}"><title>{esc(label)}\u00a0: {esc(format_number(count))}\u00a0; '
            f"{esc(duration)}</title>{text(bar_x - 10, y + 17, truncate(label, 24), anchor='end')}"
            f'<rect x="{bar_x}" y="{y}" width="{num(max(width, 1.5))}" height="24" fill="{BAR_FILL}"/>'
            f'<text x="{num(bar_x + width + 8)}" y="{y + 17}"><tspan font-weight="700" class="count">'
            f'{esc(format_number(count))}</tspan><tspan fill="{AXIS}" class="duration"> · {esc(duration)}</tspan>'
            f"</text></g>"
        )
    desc = (
        "Étapes dans l'ordre\u00a0: "
        + "\u00a0; ".join(f"{label} {format_number(count)}" for label, count, _ in stages)
        + "."
    )
    return svg_document(cid, (0, 0, WIDTH, 14 + len(stages) * row_height), title, desc, "".join(rows), kind="funnel")


def _marker(shape: str, x: float, y: float) -> str:
    """Path of a series' point marker, centred on (x, y)."""
    r = 4
    corners = {
        "square": [(-r, -r), (r, -r), (r, r), (-r, r)],
        "triangle": [(0, -r - 1), (r + 1, r), (-r - 1, r)],
        "diamond": [(0, -r - 1), (r + 1, 0), (0, r + 1), (-r - 1, 0)],
    }.get(shape)
    if corners is None:  # a circle, as two arcs
        return f"M{num(x - r)},{num(y)}a{r},{r} 0 1,0 {2 * r},0a{r},{r} 0 1,0 {-2 * r},0Z"
    return "M" + "L".join(f"{num(x + dx)},{num(y + dy)}" for dx, dy in corners) + "Z"


def _point_label(value: float | None, percent: bool) -> str:
    if value is None:
        return NO_DATA_LABEL
    whole = float(round(value * 100 if percent else value, 6)).is_integer()
    return format_value(value, percent=percent, decimals=0 if whole else 1)


def trend_chart(
    months: list[str],
    series: list[tuple[str, list[float | None]]],
    *,
    percent: bool,
    title: str = "Évolution mensuelle",
    chart_id: str | None = None,
) -> Markup:
    """Lines over ``months`` (labels shown as given), up to four series told apart by colour, dash and marker.
    A None is a gap: the line stops and starts again, it is never drawn through a month without data."""
    if len(series) > MAX_SERIES:
        raise ValueError(f"trend_chart draws at most {MAX_SERIES} series, got {len(series)}")
    for name, values in series:
        if len(values) != len(months):
            raise ValueError(f"series {name!r} has {len(values)} values for {len(months)} months")
    cid = chart_id or make_chart_id("trend", title, months, series, percent)
    if not months or not series:
        return _empty(cid, title, "trend")
    left, right, plot_height = 64, 16, 220
    top = 14 + math.ceil(len(series) / 2) * 20 + 10
    plot_width = WIDTH - left - right
    known = [value for _, values in series for value in values if value is not None]
    ticks = nice_ticks(max(known) if known else None)
    decimals = tick_decimals(ticks, percent=percent)

    def x_at(i: int) -> float:
        return left + 12 + (plot_width - 24) * (i / (len(months) - 1) if len(months) > 1 else 0.5)

    def y_at(value: float) -> float:
        return top + plot_height * (1 - max(value, 0) / ticks[-1])

    parts = []
    for tick in ticks:
        y = y_at(tick)
        parts.append(
            f'<line x1="{left}" x2="{WIDTH - right}" y1="{num(y)}" y2="{num(y)}" '
            f'stroke="{AXIS if tick == 0 else GRID}" stroke-width="1"/>'
        )
        parts.append(
            text(
                left - 8,
                y + 4,
                format_value(tick, percent=percent, decimals=decimals),
                anchor="end",
                extra=f' class="tick" font-size="11" fill="{AXIS}"',
            )
        )
    every = math.ceil(len(months) / 12)
    for i, month in enumerate(months):
        if i % every:
            continue
        first, _, second = str(month).rpartition(" ")  # "janv. 2026" on two lines, so twelve months fit
        first, second = (first, second) if first else (second, "")
        x = num(x_at(i))
        parts.append(
            f'<text x="{x}" y="{top + plot_height + 16}" text-anchor="middle" font-size="11" '
            f'fill="{AXIS}" class="month"><tspan x="{x}">{esc(first)}</tspan>'
            + (f'<tspan x="{x}" dy="1.2em">{esc(second)}</tspan>' if second else "")
            + "</text>"
        )

    legend = []
    for s, (name, values) in enumerate(series):
        colour, dash, marker = SERIES_STYLES[s]
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        runs, run = [], []
        for i, value in enumerate(values + [None]):
            if value is None:
                if run:
                    runs.append(run)
                run = []
            else:
                run.append(f"{num(x_at(i))},{num(y_at(value))}")
        line = "".join("M" + "L".join(run) for run in runs if len(run) > 1)
        points = "".join(
            f'<path d="{_marker(marker, x_at(i), y_at(value))}" fill="{colour}" stroke="#ffffff" '
            f'stroke-width="1" class="point"><title>{esc(name)}, {esc(months[i])}\u00a0: '
            f"{esc(_point_label(value, percent))}</title></path>"
            for i, value in enumerate(values)
            if value is not None
        )
        path = (
            (
                f'<path d="{line}" fill="none" stroke="{colour}" stroke-width="2.5"{dash_attr} '
                f'stroke-linejoin="round" stroke-linecap="round" class="line"/>'
            )
            if line
            else ""
        )
        parts.append(f'<g class="series" data-series="{s}">{path}{points}</g>')
        lx, ly = left + (s % 2) * (plot_width / 2), 14 + (s // 2) * 20
        legend.append(
            f'<g class="legend-item"><line x1="{num(lx)}" x2="{num(lx + 30)}" y1="{ly}" y2="{ly}" '
            f'stroke="{colour}" stroke-width="2.5"{dash_attr}/>'
            f'<path d="{_marker(marker, lx + 15, ly)}" fill="{colour}"/>'
            f"{text(lx + 38, ly + 4, truncate(name, 34))}</g>"
        )
    desc = f"Courbes sur {len(months)} mois, de {months[0]} à {months[-1]}. " + " ".join(
        _series_summary(name, values, months, percent) for name, values in series
    )
    body = f'<g class="chart-legend">{"".join(legend)}</g>' + "".join(parts)
    return svg_document(cid, (0, 0, WIDTH, top + plot_height + 44), title, desc, body, kind="trend")


def _series_summary(name: str, values: list[float | None], months: list[str], percent: bool) -> str:
    known = [(month, value) for month, value in zip(months, values) if value is not None]
    if not known:
        return f"{name}\u00a0: aucune donnée."
    summary = f"{name}\u00a0: " + ", ".join(
        f"{_point_label(value, percent)} en {month}" for month, value in dict.fromkeys([known[0], known[-1]])
    )
    gaps = len(values) - len(known)
    return summary + (f", données manquantes pour {gaps} mois." if gaps else ".")


def bar_chart(
    items: list[tuple[str, float | None]], *, percent: bool, title: str = "Comparaison", chart_id: str | None = None
) -> Markup:
    """Horizontal bars in the order given (per department, per animator...), the value written after each bar;
    a None is written "pas de données", without a bar, so that it cannot be read as zero."""
    cid = chart_id or make_chart_id("bars", title, items, percent)
    if not items:
        return _empty(cid, title, "bars")
    known = [value for _, value in items if value is not None]
    largest = max([value for value in known if value > 0], default=1)
    rows, row_height, bar_x, bar_max = [], 28, 200, 330
    for i, (label, value) in enumerate(items):
        y = 6 + i * row_height
        shown = _bar_label(value, percent)
        css = "bar no-data" if value is None else "bar"
        rows.append(
            f'<g class="{css}"><title>{esc(label)}\u00a0: {esc(shown)}</title>'
            + text(bar_x - 10, y + 14, truncate(label, 26), anchor="end")
        )
        if value is None:
            rows.append(text(bar_x, y + 14, NO_DATA_LABEL, extra=f' fill="{AXIS}" font-style="italic"') + "</g>")
            continue
        width = bar_max * max(value, 0) / largest
        rows.append(
            f'<rect x="{bar_x}" y="{y}" width="{num(width)}" height="18" fill="{BAR_FILL}"/>'
            + text(bar_x + width + 6, y + 14, shown, extra=' font-weight="700"')
            + "</g>"
        )
    desc = f"{plural(len(items), 'élément')}."
    if known:
        high = max(items, key=lambda item: -math.inf if item[1] is None else item[1])
        low = min(items, key=lambda item: math.inf if item[1] is None else item[1])
        desc += (
            f" Le plus élevé\u00a0: {high[0]} ({_bar_label(high[1], percent)})\u00a0;"
            f" le plus bas\u00a0: {low[0]} ({_bar_label(low[1], percent)})."
        )
    if len(known) < len(items):
        desc += f" Pas de données pour {len(items) - len(known)}."
    return svg_document(cid, (0, 0, WIDTH, 12 + len(items) * row_height), title, desc, "".join(rows), kind="bars")


def _bar_label(value: float | None, percent: bool) -> str:
    if value is None:
        return NO_DATA_LABEL
    return format_value(value, percent=percent, decimals=0 if percent or float(value).is_integer() else 1)
