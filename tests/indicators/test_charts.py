"""Server-side SVG charts: well-formed XML, accessible, escaped, French numbers, honest about missing data."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from markupsafe import Markup

from crm.indicators import geo
from crm.indicators.charts import (
    bar_chart,
    choropleth_map,
    funnel_chart,
    heat_class,
    heat_colour,
    heat_legend,
    text_colour_for,
    trend_chart,
)
from crm.indicators.charts_palette import SEQUENTIAL, contrast_ratio
from crm.platform.formatting import format_number, format_percent

SVG = "{http://www.w3.org/2000/svg}"
OCCITANIE = ["09", "11", "12", "30", "31", "32", "34", "46", "48", "65", "66", "81", "82"]
HOSTILE = '<script>alert("x")</script> & Cie'
NBSP, NNBSP = "\u00a0", "\u202f"
MONTHS = ["janv. 2026", "févr. 2026", "mars 2026", "avr. 2026", "mai 2026", "juin 2026"]


def parse(svg) -> ET.Element:
    """Every chart must be well-formed XML and a complete, accessible <svg>."""
    assert isinstance(svg, Markup)
    root = ET.fromstring(str(svg))
    assert root.tag == SVG + "svg"
    assert root.get("role") in ("img", "group")
    assert root.get("viewBox") and root.get("width") is None and root.get("height") is None
    title, desc = root.find(SVG + "title"), root.find(SVG + "desc")
    assert title is not None and title.text and desc is not None and desc.text
    assert root.get("aria-labelledby") == title.get("id")
    assert root.get("aria-describedby") == desc.get("id")
    assert not re.search(r"\sstyle=", str(svg))  # the Content-Security-Policy would drop it
    return root


def all_text(element: ET.Element) -> str:
    return "".join(element.itertext())


def occitanie_values():
    values = {code: 0.05 * i for i, code in enumerate(OCCITANIE)}
    values["31"] = 0.37
    values["48"] = None
    return values


def occitanie_map(**kwargs):
    options = {"codes": OCCITANIE, "title": "Taux de transformation", "value_label": format_percent}
    options.update(kwargs)
    return choropleth_map(occitanie_values(), **options)


def areas(root):
    return {
        path.get("data-code"): path for path in root.iter(SVG + "path") if "dept" in (path.get("class") or "").split()
    }


# --- geo -------------------------------------------------------------------------------------------------------


def rings_of(path_d: str) -> list[list[tuple[float, float]]]:
    return [
        [tuple(map(float, point.split(","))) for point in ring.split("L")] for ring in re.findall(r"M([^MZ]+)Z", path_d)
    ]


def inside(x, y, rings) -> bool:
    result = False
    for ring in rings:
        for (x0, y0), (x1, y1) in zip(ring, ring[1:] + ring[:1]):
            if (y0 > y) != (y1 > y) and x < x0 + (y - y0) * (x1 - x0) / (y1 - y0):
                result = not result
    return result


def test_occitanie_departments_all_get_a_path_inside_the_view_box():
    shapes = geo.department_shapes(OCCITANIE, width=600, height=500)
    assert [shape.code for shape in shapes] == OCCITANIE and shapes.missing == []
    assert {shape.code: shape.name for shape in shapes}["31"] == "Haute-Garonne"
    for shape in shapes:
        assert shape.path.startswith("M") and shape.path.endswith("Z")
        numbers = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", shape.path)]
        assert all(re.fullmatch(r"-?\d+(\.\d)?", n) for n in re.findall(r"-?[\d.]+", shape.path))
        assert min(numbers) >= 0 and max(numbers[0::2]) <= 600 and max(numbers[1::2]) <= 500
    x0, y0, x1, y1 = shapes.bounds
    assert x0 >= 0 and y0 >= 0 and x1 <= 600 and y1 <= 500
    assert math.isclose(x1 - x0, 600 - 20, abs_tol=0.2) or math.isclose(y1 - y0, 500 - 20, abs_tol=0.2)


def test_label_points_fall_inside_their_department():
    for shape in geo.department_shapes(geo.outlines()):
        assert inside(shape.label_x, shape.label_y, rings_of(shape.path)), shape.code


def test_holes_and_exclaves_are_kept():
    shapes = {shape.code: shape for shape in geo.department_shapes(["65", "66"])}
    assert shapes["66"].path.count("M") == 2  # Llívia, a Spanish town inside the Pyrénées-Orientales
    assert shapes["65"].path.count("M") == 3  # the Hautes-Pyrénées' two exclaves


def test_projection_keeps_france_proportions():
    x0, y0, x1, y1 = geo.department_shapes(geo.outlines()).bounds
    # Plain lon/lat would make France 1.5 times wider than tall; corrected, it is about as wide as tall.
    assert 0.9 < (x1 - x0) / (y1 - y0) < 1.15


def test_unknown_and_overseas_codes_are_skipped_and_reported():
    shapes = geo.department_shapes(["971", "31", "99", "31", "2a", "976"])
    assert [shape.code for shape in shapes] == ["31", "2A"]
    assert shapes.missing == ["971", "99", "976"]
    empty = geo.department_shapes(["974"])
    assert list(empty) == [] and empty.missing == ["974"]


def test_outlines_are_read_once():
    assert geo.outlines() is geo.outlines()
    assert len(geo.outlines()) == 96


# --- choropleth map -----------------------------------------------------------------------------------------


def test_map_draws_every_occitanie_department_with_code_value_and_tooltip():
    root = parse(occitanie_map())
    shapes = areas(root)
    assert sorted(shapes) == sorted(OCCITANIE)
    assert shapes["31"].find(SVG + "title").text == f"Haute-Garonne{NBSP}: 37{NBSP}%"
    labels = {
        label.get("data-code"): [t.text for t in label.iter(SVG + "tspan")]
        for label in root.iter(SVG + "text")
        if label.get("class") == "map-label"
    }
    assert labels["31"] == ["31", f"37{NBSP}%"]
    assert labels["11"] == ["11", f"5{NBSP}%"]
    assert labels["48"] == ["48", "—"]
    assert "Valeurs de 0" in root.find(SVG + "desc").text


def test_missing_value_is_drawn_as_no_data_not_as_the_lowest_class():
    svg = occitanie_map()
    root = parse(svg)
    lozere = areas(root)["48"]
    assert "no-data" in lozere.get("class")
    hatch_id = re.fullmatch(r"url\(#(.+)\)", lozere.get("fill")).group(1)
    assert root.find(f".//{SVG}pattern[@id='{hatch_id}']") is not None
    assert lozere.find(SVG + "title").text == f"Lozère{NBSP}: pas de données"
    ariege = areas(root)["09"]  # value 0: real data, lowest class, not "no data"
    assert ariege.get("fill") == SEQUENTIAL[0] and "no-data" not in ariege.get("class")
    legend = [all_text(item) for item in root.iter(SVG + "g") if item.get("class") == "legend-item"]
    assert legend[-1] == "pas de données"
    assert "Pas de données pour 1 département." in root.find(SVG + "desc").text


def test_legend_classes_cover_every_value():
    values = occitanie_values()
    root = parse(occitanie_map())
    legend = {item.get("data-class"): item for item in root.iter(SVG + "g") if item.get("class") == "legend-item"}
    assert set(legend) == {"0", "1", "2", "3", "4", "none"}
    for code, path in areas(root).items():
        if values[code] is None:
            continue
        index = re.search(r"cls-(\d)", path.get("class")).group(1)
        item = legend[index]
        assert float(item.get("data-min")) <= values[code] <= float(item.get("data-max")), code
        assert path.get("fill") == item.find(SVG + "rect").get("fill")
    known = [v for v in values.values() if v is not None]
    assert float(legend["0"].get("data-min")) == min(known) and float(legend["4"].get("data-max")) == max(known)
    assert all_text(legend["0"]) == f"0{NBSP}% – 12{NBSP}%"


def test_map_with_a_single_value_or_no_data_at_all():
    root = parse(choropleth_map({"31": 0.2, "32": 0.2}, codes=["31", "32"], title="t", value_label=format_percent))
    legend = [item for item in root.iter(SVG + "g") if item.get("class") == "legend-item"]
    assert [all_text(item) for item in legend] == [f"20{NBSP}%", "pas de données"]
    root = parse(choropleth_map({}, codes=OCCITANIE, title="t", value_label=format_percent))
    assert all("no-data" in path.get("class") for path in areas(root).values())


def test_links_only_where_link_for_gives_one_and_escaped():
    def link_for(code):
        return None if code == "09" else f"/indicateurs?departement={code}&periode=2026"

    svg = occitanie_map(link_for=link_for, selected="31")
    assert "departement=31&amp;periode=2026" in str(svg)
    root = parse(svg)
    assert root.get("role") == "group"  # links inside role="img" would be hidden from screen readers
    links = {a.find(SVG + "path").get("data-code"): a for a in root.iter(SVG + "a")}
    assert sorted(links) == sorted(set(OCCITANIE) - {"09"})
    assert links["31"].get("href") == "/indicateurs?departement=31&periode=2026"
    assert links["31"].find(SVG + "title").text == f"Haute-Garonne{NBSP}: 37{NBSP}%"
    assert links["31"].get("aria-current") == "true" and links["32"].get("aria-current") is None
    selected = [p for p in root.iter(SVG + "path") if p.get("class") == "dept-selected"]
    assert len(selected) == 1 and selected[0].get("d") == links["31"].find(SVG + "path").get("d")
    assert float(selected[0].get("stroke-width")) > 1
    assert parse(occitanie_map()).get("role") == "img"


def test_map_skips_unknown_codes_and_says_so():
    root = parse(
        choropleth_map({"971": 0.5, "31": 0.1}, codes=["31", "971", "zz"], title="t", value_label=format_percent)
    )
    assert list(areas(root)) == ["31"]
    assert "971, ZZ" in root.find(SVG + "desc").text
    note = [t for t in root.iter(SVG + "text") if t.get("class") == "map-missing"]
    assert note and "971, ZZ" in note[0].text
    empty = parse(choropleth_map({"971": 0.5}, codes=["971"], title="t", value_label=format_percent))
    assert "Aucun département" in all_text(empty)


def test_hostile_text_is_escaped_everywhere():
    def hostile_label(value):
        return HOSTILE

    charts = [
        choropleth_map(
            {"31": 0.1},
            codes=["31"],
            title=HOSTILE,
            value_label=hostile_label,
            link_for=lambda code: f'/x?a="{code}"&b=<1>',
        ),
        funnel_chart([(HOSTILE, 3, 1.0)], title=HOSTILE),
        trend_chart(MONTHS[:2], [(HOSTILE, [0.1, 0.2])], percent=True, title=HOSTILE),
        trend_chart([HOSTILE], [("a", [1])], percent=False),
        bar_chart([(HOSTILE, 1.0)], percent=False, title=HOSTILE),
        heat_legend(0, 1, value_label=hostile_label, title=HOSTILE),
    ]
    for svg in charts:
        assert "<script>" not in str(svg)
        root = parse(svg)
        assert HOSTILE in "".join(all_text(element) for element in root.iter())
    link = parse(charts[0]).find(f".//{SVG}a")
    assert link.get("href") == '/x?a="31"&b=<1>'


def test_chart_ids_are_stable_and_distinct():
    assert str(occitanie_map()) == str(occitanie_map())
    first, second = parse(occitanie_map()), parse(occitanie_map(title="Autre"))
    assert first.get("id") != second.get("id")
    assert parse(occitanie_map(chart_id="carte-taux")).get("id") == "carte-taux"


# --- heatmap helpers ----------------------------------------------------------------------------------------


def test_heat_colours_follow_the_map_scale_and_stay_readable():
    assert heat_colour(0, 0, 1) == SEQUENTIAL[0] and heat_colour(1, 0, 1) == SEQUENTIAL[-1]
    assert heat_colour(0.5, 0, 1) == SEQUENTIAL[2]
    assert heat_colour(None, 0, 1) not in SEQUENTIAL
    assert heat_class(None, 0, 1) == "heat-none" and heat_class(0.99, 0, 1) == "heat-4"
    assert heat_class(5, 5, 5) == "heat-2"  # all values equal: the middle class
    for colour in SEQUENTIAL + (heat_colour(None, 0, 1),):
        assert contrast_ratio(colour, text_colour_for(colour)) >= 4.5, colour
    assert text_colour_for("#fff") == "#1f2933" and text_colour_for("#000000") == "#ffffff"
    with pytest.raises(ValueError):
        text_colour_for("blue")


def test_heatmap_css_matches_the_palette():
    css = (Path(__file__).resolve().parents[2] / "static" / "css" / "app.css").read_text(encoding="utf-8")
    for index, colour in enumerate(SEQUENTIAL):
        rule = re.search(rf"\.heat-{index} {{ background: (#\w+); color: (#\w+); }}", css)
        assert rule and rule.groups() == (colour, text_colour_for(colour)), index


def test_heat_legend_lists_classes_and_no_data():
    root = parse(heat_legend(0.1, 0.6, value_label=format_percent))
    labels = [all_text(item) for item in root.iter(SVG + "g") if item.get("class") == "legend-item"]
    assert labels == [
        f"10{NBSP}% – 20{NBSP}%",
        f"20{NBSP}% – 30{NBSP}%",
        f"30{NBSP}% – 40{NBSP}%",
        f"40{NBSP}% – 50{NBSP}%",
        f"50{NBSP}% – 60{NBSP}%",
        "pas de données",
    ]
    assert [
        all_text(i)
        for i in parse(heat_legend(None, None, value_label=format_percent)).iter(SVG + "g")
        if i.get("class") == "legend-item"
    ] == ["pas de données"]


# --- funnel, trend, bars ------------------------------------------------------------------------------------


def test_funnel_keeps_order_and_writes_counts_and_days():
    stages = [("Identifiée", 1200, 12.4), ("Qualifiée", 600, 4.5), ("Proposée", 300, None), ("Gagnée", 0, 2)]
    root = parse(funnel_chart(stages))
    rows = [g for g in root.iter(SVG + "g") if g.get("class") == "funnel-stage"]
    texts = [[t.text for t in row.iter(SVG + "text")] for row in rows]
    assert [t[0] for t in texts] == ["Identifiée", "Qualifiée", "Proposée", "Gagnée"]
    tops = [float(row.find(SVG + "rect").get("y")) for row in rows]
    assert tops == sorted(tops)
    widths = [float(row.find(SVG + "rect").get("width")) for row in rows]
    assert widths[1] == pytest.approx(widths[0] / 2, abs=0.1) and widths[2] == pytest.approx(widths[0] / 4, abs=0.1)
    assert widths[3] > 0  # a hairline: the stage exists even when nobody reached it
    counts = [row.find(f".//{SVG}tspan[@class='count']").text for row in rows]
    durations = [row.find(f".//{SVG}tspan[@class='duration']").text for row in rows]
    assert counts == [f"1{NNBSP}200", "600", "300", "0"]
    assert durations[0] == f" · 12{NBSP}j en moyenne" and durations[1] == f" · 4,5{NBSP}j en moyenne"
    assert "pas de données" in durations[2] and durations[3] == f" · 2{NBSP}j en moyenne"


def series_paths(root):
    return [g for g in root.iter(SVG + "g") if g.get("class") == "series"]


def test_trend_chart_breaks_the_line_where_data_is_missing():
    values = [0.1, 0.2, None, 0.3, 0.35, None]
    root = parse(trend_chart(MONTHS, [("Taux", values), ("Isolé", [None, 0.4, None, None, None, None])], percent=True))
    taux, isolated = series_paths(root)
    line = taux.find(f"{SVG}path[@class='line']").get("d")
    assert line.count("M") == 2 and line.count("L") == 2  # two runs of two points, nothing across the gap
    assert len(taux.findall(f"{SVG}path[@class='point']")) == 4
    assert isolated.find(f"{SVG}path[@class='line']") is None  # one point: a marker, no line
    assert [p.find(SVG + "title").text for p in isolated.findall(f"{SVG}path[@class='point']")] == [
        f"Isolé, févr. 2026{NBSP}: 40{NBSP}%"
    ]
    desc = root.find(SVG + "desc").text
    assert f"Taux{NBSP}: 10{NBSP}% en janv. 2026, 35{NBSP}% en mai 2026, données manquantes pour 2 mois." in desc
    assert f"Isolé{NBSP}: 40{NBSP}% en févr. 2026, données manquantes pour 5 mois." in desc


def test_trend_chart_axis_labels_and_series_styles():
    series = [(f"Série {i}", [i * 10.0 + m for m in range(6)]) for i in range(4)]
    root = parse(trend_chart(MONTHS, series, percent=False))
    ticks = [t.text for t in root.iter(SVG + "text") if t.get("class") == "tick"]
    assert 4 <= len(ticks) <= 5 and ticks[0] == "0"
    assert all(re.fullmatch(r"[\d\u202f]+(,\d+)?", tick) for tick in ticks)
    months = [all_text(t) for t in root.iter(SVG + "text") if t.get("class") == "month"]
    assert months == [m.replace(" ", "") for m in MONTHS]  # two lines each: "janv." above "2026"
    lines = [g.find(f"{SVG}path[@class='line']") for g in series_paths(root)]
    assert len({line.get("stroke") for line in lines}) == 4
    assert len({line.get("stroke-dasharray") for line in lines}) == 4
    percent_ticks = [
        t.text
        for t in parse(trend_chart(MONTHS[:2], [("a", [0.12, 0.37])], percent=True)).iter(SVG + "text")
        if t.get("class") == "tick"
    ]
    assert percent_ticks == [f"0{NBSP}%", f"10{NBSP}%", f"20{NBSP}%", f"30{NBSP}%", f"40{NBSP}%"]


def test_trend_chart_rejects_what_it_cannot_draw_honestly():
    with pytest.raises(ValueError):
        trend_chart(MONTHS, [(str(i), [1] * 6) for i in range(5)], percent=False)
    with pytest.raises(ValueError):
        trend_chart(MONTHS, [("court", [1, 2])], percent=False)
    assert "Aucune donnée" in all_text(parse(trend_chart([], [], percent=True)))
    parse(trend_chart(MONTHS, [("vide", [None] * 6)], percent=True))


def test_bar_chart_french_numbers_and_no_data():
    root = parse(bar_chart([("Haute-Garonne", 1234.0), ("Lozère", None), ("Gers", 12.5)], percent=False))
    bars = [g for g in root.iter(SVG + "g") if "bar" in g.get("class").split()]
    assert [b.find(SVG + "text").text for b in bars] == ["Haute-Garonne", "Lozère", "Gers"]
    assert [t.text for t in bars[0].iter(SVG + "text")][1] == f"1{NNBSP}234"
    assert [t.text for t in bars[2].iter(SVG + "text")][1] == "12,5"
    assert "no-data" in bars[1].get("class") and bars[1].find(SVG + "rect") is None
    assert [t.text for t in bars[1].iter(SVG + "text")][1] == "pas de données"
    assert float(bars[0].find(SVG + "rect").get("width")) > float(bars[2].find(SVG + "rect").get("width"))
    root = parse(bar_chart([("Marie-Christine de La Tour d'Auvergne-Lauraguais", 0.375)], percent=True))
    texts = [t.text for t in root.iter(SVG + "text")]
    assert texts[1] == f"38{NBSP}%" and texts[0].endswith("…")
    assert root.find(f".//{SVG}g/{SVG}title").text.startswith("Marie-Christine de La Tour d'Auvergne-Lauraguais")
    assert format_number(1234) == f"1{NNBSP}234"  # the formatting the charts rely on


# --- the figure macro ---------------------------------------------------------------------------------------


def test_figure_macro_renders_svg_and_an_accessible_table(app):
    template = app.jinja_env.from_string(
        '{% from "_macros/charts.html" import figure %}{{ figure(svg, caption, headers, rows, "carte") }}'
    )
    svg = occitanie_map()
    html = template.render(
        svg=svg,
        caption="Taux par département & période",
        headers=["Département", "Taux"],
        rows=[["Haute-Garonne", format_percent(0.37)], [Markup('<a href="/d/32">Gers</a>'), "—"], [HOSTILE, "1"]],
    )
    assert "<script>" not in html
    root = ET.fromstring(html)
    assert root.tag == "figure" and root.get("id") == "carte" and "chart" in root.get("class")
    assert root.find(f".//{SVG}svg") is not None
    assert root.find("figcaption").text == "Taux par département & période"
    assert root.find(".//details/summary").text == "Voir les données (tableau)"
    table = root.find(".//details//table")
    assert table.find("caption").text == "Taux par département & période"
    assert [(th.get("scope"), th.text) for th in table.findall("thead/tr/th")] == [
        ("col", "Département"),
        ("col", "Taux"),
    ]
    rows = table.findall("tbody/tr")
    assert [(row[0].tag, row[0].get("scope")) for row in rows] == [("th", "row")] * 3
    assert rows[0][1].text == f"37{NBSP}%"
    assert rows[1][0].find("a").get("href") == "/d/32"
    assert rows[2][0].text == HOSTILE


def test_figure_macro_with_no_rows(app):
    template = app.jinja_env.from_string(
        '{% from "_macros/charts.html" import figure %}{{ figure(svg, "Vide", ["Mois", "Nombre"], [], "vide") }}'
    )
    root = ET.fromstring(template.render(svg=bar_chart([], percent=False)))
    cell = root.find(".//tbody/tr/td")
    assert cell.get("colspan") == "2" and cell.text == "Aucune donnée."
