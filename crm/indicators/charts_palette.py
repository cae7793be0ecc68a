"""Colours of the charts: the 5-class scale shared by the maps and the heatmap, series styles, readable text.

One scale for the map and the heatmap so that a colour means the same thing on both. Classes are equal
intervals between the smallest and the largest value shown: a manager compares departments, not thresholds.
"""

from __future__ import annotations

from collections.abc import Iterable

# Five steps of ColorBrewer "Blues": sequential, single hue, safe for the common colour-vision deficiencies
# and still ordered when printed in grey. The two dark steps are Blues-9's 7th and 9th rather than Blues-5's
# 4th and 5th, so that every class reaches 4.5:1 contrast with dark or white text (WCAG AA) in the heatmap.
SEQUENTIAL = ("#eff3ff", "#bdd7e7", "#6baed6", "#2171b5", "#08306b")
CLASSES = len(SEQUENTIAL)
SINGLE_VALUE_CLASS = 2  # every value equal: the middle colour, neither "low" nor "high"
NO_DATA_FILL = "#eceef1"
NO_DATA_HATCH = "#8a939e"
NO_DATA_LABEL = "pas de données"
BAR_FILL = "#1d4e89"  # the app's --blue
AXIS = "#6b7280"  # --grey-3
GRID = "#e3e6ea"  # --grey-2
DARK_TEXT = "#1f2933"  # --text
LIGHT_TEXT = "#ffffff"

# Line series: Okabe-Ito colours, each with its own dash pattern and marker, so that a series can be told
# apart without colour (greyscale print, colour blindness).
SERIES_STYLES = (
    ("#0072b2", None, "circle"),
    ("#d55e00", "7 4", "square"),
    ("#009e73", "2 3", "triangle"),
    ("#cc79a7", "9 3 2 3", "diamond"),
)


def value_range(values: Iterable[float | None]) -> tuple[float, float] | None:
    """Smallest and largest of the values that are not None; None when there is no data at all."""
    known = [value for value in values if value is not None]
    return (min(known), max(known)) if known else None


def class_ranges(vmin: float, vmax: float) -> list[tuple[int, float, float]]:
    """The classes as (class index, lower bound, upper bound), bounds included, lowest first."""
    if vmax <= vmin:
        return [(SINGLE_VALUE_CLASS, vmin, vmin)]
    step = (vmax - vmin) / CLASSES
    return [
        (index, vmin + index * step, vmax if index == CLASSES - 1 else vmin + (index + 1) * step)
        for index in range(CLASSES)
    ]


def class_index(value: float | None, vmin: float | None, vmax: float | None) -> int | None:
    """Index in SEQUENTIAL of ``value``'s class; None for no data. A bound belongs to the class above it."""
    if value is None or vmin is None or vmax is None:
        return None
    if vmax <= vmin:
        return SINGLE_VALUE_CLASS
    position = (value - vmin) / (vmax - vmin)
    return max(0, min(CLASSES - 1, int(position * CLASSES)))


def heat_colour(value: float | None, vmin: float | None, vmax: float | None) -> str:
    """Background colour of a value on the shared scale (hex, for SVG attributes and XLSX fills).

    In HTML use ``heat_class`` instead: the Content-Security-Policy (style-src 'self') blocks inline
    ``style`` attributes, so a ``style="background: ..."`` cell would render uncoloured.
    """
    index = class_index(value, vmin, vmax)
    return NO_DATA_FILL if index is None else SEQUENTIAL[index]


def heat_class(value: float | None, vmin: float | None, vmax: float | None) -> str:
    """CSS class of a heatmap cell ("heat-0".."heat-4", "heat-none"): colours and text colour in app.css."""
    index = class_index(value, vmin, vmax)
    return "heat-none" if index is None else f"heat-{index}"


def _luminance(colour: str) -> float:
    """WCAG relative luminance of "#rgb" or "#rrggbb"."""
    hex_digits = colour.strip().lstrip("#")
    if len(hex_digits) == 3:
        hex_digits = "".join(digit * 2 for digit in hex_digits)
    if len(hex_digits) != 6:
        raise ValueError(f"expected a #rrggbb colour, got {colour!r}")
    channels = [int(hex_digits[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast_ratio(first: str, second: str) -> float:
    lighter, darker = sorted((_luminance(first), _luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def text_colour_for(bg: str) -> str:
    """The text colour (dark or white) with the better contrast on background ``bg``."""
    return DARK_TEXT if contrast_ratio(bg, DARK_TEXT) >= contrast_ratio(bg, LIGHT_TEXT) else LIGHT_TEXT
