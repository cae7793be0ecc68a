"""What the dashboards show, assembled from the indicator queries (the pages only lay it out)."""

from __future__ import annotations

from dataclasses import dataclass

from crm.indicators.definitions import LABELS, formula
from crm.indicators.queries import (
    Figure,
    Labels,
    Scope,
    engagement,
    engagement_programmes,
    information_participation,
    transformation_rate,
)
from crm.referential.services import region_department_codes

MAP_INDICATORS = LABELS  # participation, transformation, engagement: the tiles' and the map's order


@dataclass(frozen=True)
class Headline:
    key: str
    label: str
    definition: str
    current: Figure
    previous: Figure


def _sum(figures: list[Figure], key, label: str) -> Figure:
    return Figure(key, label, sum(f.numerator for f in figures), sum(f.denominator for f in figures))


def headline_figures(scope: Scope) -> dict[str, Figure]:
    """The three headline figures of a scope (engagement summed over the programmes in scope)."""
    return {
        "participation": information_participation(scope)[0],
        "transformation": transformation_rate(scope)[0],
        "engagement": _sum(engagement(scope), ("engagement",), LABELS["engagement"]),
    }


def headlines(scope: Scope) -> list[Headline]:
    current, previous = headline_figures(scope), headline_figures(scope.with_period(scope.period.previous()))
    # The tiles' "?" link to docs/indicators.md; the formula is its short form.
    return [
        Headline(key, MAP_INDICATORS[key], formula(key, scope), current[key], previous[key]) for key in MAP_INDICATORS
    ]


def department_figures(scope: Scope, indicator: str) -> dict[str, Figure]:
    """The indicator for every department of the region (the map and its table), whatever the department
    filter says: the map compares departments."""
    regional = scope.with_departments(tuple(region_department_codes()))
    labels = Labels()
    if indicator == "participation":
        figures = {f.key[0]: f for f in information_participation(regional, "department")}
    elif indicator == "transformation":
        figures = {f.key[0]: f for f in transformation_rate(regional, "department")}
    else:
        by_department: dict[str, list[Figure]] = {}
        for f in engagement(regional, "department"):
            by_department.setdefault(f.key[1], []).append(f)
        figures = {code: _sum(rows, (code,), labels.of("department", code)) for code, rows in by_department.items()}
    return {
        code: figures.get(code) or Figure((code,), labels.of("department", code), 0, 0) for code in regional.departments
    }


@dataclass(frozen=True)
class Heatmap:
    programmes: list[tuple[int, str]]
    departments: list[tuple[str, str]]
    cells: dict[tuple[int, str], Figure]
    totals: dict[int, Figure]  # per programme, over the departments shown
    low: float | None
    high: float | None


def engagement_heatmap(scope: Scope) -> Heatmap:
    """Programme x department engagement (the departments in scope; all of the region if one is not chosen)."""
    departments = scope.departments
    labels = Labels()
    rows = engagement(scope.with_departments(departments), "department")
    cells = {(f.key[0], f.key[1]): f for f in rows}
    programmes = [(p.id, p.label) for p in engagement_programmes(scope)]
    totals = {pid: _sum([f for (p, _), f in cells.items() if p == pid], (pid,), label) for pid, label in programmes}
    rates = [f.rate for f in cells.values() if f.rate is not None]
    return Heatmap(
        programmes=programmes,
        departments=[(code, labels.of("department", code)) for code in departments],
        cells=cells,
        totals=totals,
        low=min(rates) if rates else None,
        high=max(rates) if rates else None,
    )
