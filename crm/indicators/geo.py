"""Department outlines projected into an SVG viewBox, for the choropleth maps.

The outlines ship with the app (``data/departements-metropole-simplifie.geojson``, see its README) and are read
once per process. Overseas departments are not in the file: they are reported as missing, never an error,
so that a national figure can still be drawn for metropolitan France.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

DATA_FILE = Path(__file__).resolve().parent / "data" / "departements-metropole-simplifie.geojson"

Point = tuple[float, float]
Ring = tuple[Point, ...]
Polygon = tuple[Ring, ...]  # outer ring first, then its holes (Llívia in the Pyrénées-Orientales)


@dataclass(frozen=True)
class Outline:
    code: str
    name: str
    polygons: tuple[Polygon, ...]  # in (lon, lat)


@dataclass(frozen=True)
class Shape:
    """One department ready to draw: ``path`` and the label point are in viewBox units."""

    code: str
    name: str
    path: str
    label_x: float
    label_y: float
    box: tuple[float, float, float, float]  # x, y, width, height of its largest polygon, to size its label


class Shapes(list):
    """The shapes found, in the order asked, with what the map needs besides them.

    ``missing`` lists the codes that have no outline (overseas departments, typos), in the order asked;
    ``bounds`` is the (x0, y0, x1, y1) box the drawn shapes occupy inside the ``width`` x ``height`` viewBox.
    """

    def __init__(
        self,
        shapes: list[Shape],
        missing: list[str],
        width: float,
        height: float,
        bounds: tuple[float, float, float, float],
    ):
        super().__init__(shapes)
        self.missing = missing
        self.width = width
        self.height = height
        self.bounds = bounds


@cache
def outlines() -> dict[str, Outline]:
    """Every department of the file by code, read once per process."""
    with DATA_FILE.open(encoding="utf-8") as handle:
        collection = json.load(handle)
    result = {}
    for feature in collection["features"]:
        geometry = feature["geometry"]
        raw = [geometry["coordinates"]] if geometry["type"] == "Polygon" else geometry["coordinates"]
        polygons = tuple(
            tuple(tuple((float(lon), float(lat)) for lon, lat, *_ in ring) for ring in polygon) for polygon in raw
        )
        code = feature["properties"]["code"]
        result[code] = Outline(code=code, name=feature["properties"]["nom"], polygons=polygons)
    return result


def normalise_code(code) -> str:
    return str(code).strip().upper()


def department_shapes(codes: Iterable[str], width: float = 640, height: float = 540, margin: float = 10) -> Shapes:
    """The projected shapes of ``codes``, computed once per selection (a region's map is drawn on every
    dashboard request; projecting its outlines took most of the map's time)."""
    return _department_shapes(tuple(codes), width, height, margin)


@lru_cache(maxsize=64)
def _department_shapes(codes: tuple[str, ...], width: float, height: float, margin: float) -> Shapes:
    """Project the departments of ``codes`` and fit them, centred, in a ``width`` x ``height`` viewBox.

    Equirectangular projection x = lon * cos(lat0), y = -lat, with lat0 the middle of the selection's
    latitudes: at French latitudes this keeps shapes close to what people know, without a GIS library.
    """
    known = outlines()
    found: list[Outline] = []
    missing: list[str] = []
    seen: set[str] = set()
    for raw_code in codes:
        code = normalise_code(raw_code)
        if code in seen:
            continue
        seen.add(code)
        if code in known:
            found.append(known[code])
        else:
            missing.append(code)
    if not found:
        return Shapes([], missing, width, height, (0.0, 0.0, 0.0, 0.0))

    lats = [lat for outline in found for polygon in outline.polygons for lon, lat in polygon[0]]
    cos_lat0 = math.cos(math.radians((min(lats) + max(lats)) / 2))
    projected = [
        [tuple(tuple((lon * cos_lat0, -lat) for lon, lat in ring) for ring in polygon) for polygon in outline.polygons]
        for outline in found
    ]
    xs = [x for polygons in projected for polygon in polygons for x, _ in polygon[0]]
    ys = [y for polygons in projected for polygon in polygons for _, y in polygon[0]]
    span_x, span_y = (max(xs) - min(xs)) or 1e-9, (max(ys) - min(ys)) or 1e-9
    scale = min((width - 2 * margin) / span_x, (height - 2 * margin) / span_y)
    offset_x = (width - span_x * scale) / 2 - min(xs) * scale
    offset_y = (height - span_y * scale) / 2 - min(ys) * scale

    def fit(ring) -> Ring:
        return tuple((round(x * scale + offset_x, 1), round(y * scale + offset_y, 1)) for x, y in ring)

    shapes = []
    for outline, polygons in zip(found, projected):
        fitted = [tuple(fit(ring) for ring in polygon) for polygon in polygons]
        largest = max(fitted, key=lambda polygon: abs(_area(polygon[0])))
        label_x, label_y = _label_point(largest)
        px, py = [x for x, _ in largest[0]], [y for _, y in largest[0]]
        shapes.append(
            Shape(
                code=outline.code,
                name=outline.name,
                path=_path(fitted),
                label_x=round(label_x, 1),
                label_y=round(label_y, 1),
                box=(min(px), min(py), round(max(px) - min(px), 1), round(max(py) - min(py), 1)),
            )
        )
    bounds = (
        round(min(xs) * scale + offset_x, 1),
        round(min(ys) * scale + offset_y, 1),
        round(max(xs) * scale + offset_x, 1),
        round(max(ys) * scale + offset_y, 1),
    )
    return Shapes(shapes, missing, width, height, bounds)


def _number(value: float) -> str:
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _path(polygons: list[Polygon]) -> str:
    """SVG path data; holes are separate subpaths, drawn as holes with fill-rule="evenodd"."""
    parts = []
    for polygon in polygons:
        for ring in polygon:
            points = [point for i, point in enumerate(ring) if i == 0 or point != ring[i - 1]]
            if len(points) > 1 and points[0] == points[-1]:
                points.pop()
            if len(points) < 3:  # a ring smaller than a tenth of a unit: invisible at this scale
                continue
            parts.append("M" + "L".join(f"{_number(x)},{_number(y)}" for x, y in points) + "Z")
    return "".join(parts)


def _area(ring: Ring) -> float:
    return sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(ring, ring[1:] + ring[:1])) / 2


def _inside(point: Point, polygon: Polygon) -> bool:
    """Even-odd rule over the outer ring and its holes."""
    x, y = point
    inside = False
    for ring in polygon:
        for (x0, y0), (x1, y1) in zip(ring, ring[1:] + ring[:1]):
            if (y0 > y) != (y1 > y) and x < x0 + (y - y0) * (x1 - x0) / (y1 - y0):
                inside = not inside
    return inside


def _label_point(polygon: Polygon) -> Point:
    """The centroid of the outer ring, or, when that falls outside (a crescent-shaped department, a hole),
    the middle of the widest stretch of the polygon on the centroid's horizontal line."""
    ring = polygon[0]
    area = _area(ring)
    if abs(area) < 1e-9:
        return sum(x for x, _ in ring) / len(ring), sum(y for _, y in ring) / len(ring)
    pairs = list(zip(ring, ring[1:] + ring[:1]))
    cx = sum((x0 + x1) * (x0 * y1 - x1 * y0) for (x0, y0), (x1, y1) in pairs) / (6 * area)
    cy = sum((y0 + y1) * (x0 * y1 - x1 * y0) for (x0, y0), (x1, y1) in pairs) / (6 * area)
    if _inside((cx, cy), polygon):
        return cx, cy
    crossings = sorted(
        x0 + (cy - y0) * (x1 - x0) / (y1 - y0)
        for part in polygon
        for (x0, y0), (x1, y1) in zip(part, part[1:] + part[:1])
        if (y0 > cy) != (y1 > cy)
    )
    stretches = list(zip(crossings[::2], crossings[1::2]))
    if not stretches:
        return cx, cy
    start, end = max(stretches, key=lambda stretch: stretch[1] - stretch[0])
    return (start + end) / 2, cy
