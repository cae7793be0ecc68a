"""No rate above 100 %, for every indicator, cut and ``group_by``, over random worlds.

Each seed builds a small world through the services (structures opened and closed at random dates, closed
without a date, reopened; information activities, some logged after a closure or before an opening;
opportunities at every stage; projects), lets the worker maintain the read model, changes the structures
again, and then reads every indicator over random periods and filters. A seeded generator, not Hypothesis:
a failing seed is replayed by its number. Participation is also compared with a count written here from
the records, the rule of docs/indicators.md read literally.
"""

from __future__ import annotations

import random
from datetime import date, timedelta

import pytest
from sqlalchemy import select, update

from crm.activities.models import Activity
from crm.activities.services import log_activity
from crm.indicators import dashboard, drilldown
from crm.indicators.periods import Period, month, quarter, year
from crm.indicators.queries import ES_ESMS, INDICATORS, Scope
from crm.indicators.readmodel.check import check
from crm.indicators.report import report_figures, trends
from crm.pipeline import services as pipeline
from crm.pipeline.models import LossReason
from crm.platform.dates import local_today
from crm.platform.extensions import db
from crm.platform.validation import ValidationFailed
from crm.referential.models import Offer, Programme, Sector
from crm.structures.models import Structure
from crm.structures.services import STRUCTURE_FIELDS, update_structure
from workflows.dispatch import process_pending

SEEDS = range(12)
TODAY = local_today()
SECTORS = ("sanitaire", "medico_social", "exercice_coordonne")
DEPARTMENTS = ("31", "46")
STAGES = ("identifiee", "qualifiee", "proposee", "gagnee", "perdue", "abandonnee")


def _day(rng: random.Random, back: int = 900) -> date:
    return TODAY - timedelta(days=rng.randint(0, back))


def _set_state(structure: Structure, is_open: bool, closed_on: date | None) -> None:
    data = {field: getattr(structure, field) for field in STRUCTURE_FIELDS}
    update_structure(structure, {**data, "is_open": is_open, "closed_on": closed_on})


def _random_closure(rng: random.Random, structure: Structure) -> None:
    """Open, closed on a day between its opening and today, or (rarely, by hand) closed without a date."""
    roll = rng.random()
    if roll < 0.45:
        if not structure.is_open:
            _set_state(structure, True, None)
        return
    if roll < 0.9:
        earliest = structure.opened_on or TODAY - timedelta(days=1000)
        _set_state(structure, False, earliest + timedelta(days=rng.randint(0, (TODAY - earliest).days)))
        return
    _set_state(structure, False, None)
    structure.closed_on = None  # closed at an unknown date: in no population
    db.session.commit()


def build_world(seed: int, make_user, make_structure):
    rng = random.Random(seed)
    sectors = dict(db.session.execute(select(Sector.code, Sector.id)).all())
    offers = list(db.session.scalars(select(Offer).where(Offer.active.is_(True)).order_by(Offer.id)))
    admin = make_user("admin")
    animators = {code: make_user("animateur", [code]) for code in DEPARTMENTS}
    structures = []
    for i in range(rng.randint(8, 16)):
        department = rng.choice(DEPARTMENTS)
        structure = make_structure(
            name=f"Structure {seed}-{i}",
            department_code=department,
            commune="Ville",
            sector_id=sectors[rng.choice(SECTORS)],
            is_open=rng.random() > 0.1,
        )
        if rng.random() < 0.6:
            db.session.execute(update(Structure).where(Structure.id == structure.id).values(opened_on=_day(rng, 1000)))
            db.session.commit()
            db.session.refresh(structure)
        structures.append(structure)
    for structure in structures:
        if structure.is_open:  # the undated closures made at creation stay as they are
            _random_closure(rng, structure)

    def activities(count):
        for _ in range(count):
            department = rng.choice(DEPARTMENTS)
            theirs = [s for s in structures if s.department_code == department]
            if not theirs:
                continue
            chosen = rng.sample(theirs, rng.randint(1, min(3, len(theirs))))
            author = rng.choice([admin, animators[department]])
            try:
                log_activity(
                    {
                        "kind": rng.choice(("visite", "appel", "reunion")),
                        "structure_ids": [s.id for s in chosen],
                        "is_information": rng.random() < 0.75,
                        "offer_ids": [o.id for o in rng.sample(offers, rng.randint(0, 2))],
                        "occurred_on": _day(rng, 800).isoformat(),
                    },
                    user=author,
                )
            except ValidationFailed:
                db.session.rollback()

    activities(rng.randint(10, 25))
    for _ in range(rng.randint(3, 10)):
        structure = rng.choice(structures)
        user = animators[structure.department_code]
        try:
            opportunity = pipeline.create_opportunity(
                {"structure_id": structure.id, "offer_id": rng.choice(offers).id, "title": "Besoin"}, user=user
            )
            target = rng.choice(STAGES)
            path = {
                "gagnee": ("qualifiee", "proposee", "gagnee"),
                "proposee": ("qualifiee", "proposee"),
                "qualifiee": ("qualifiee",),
                "identifiee": (),
            }.get(target, (target,))
            for stage in path:
                reason = None
                if stage in ("perdue", "abandonnee"):
                    reason = db.session.scalars(select(LossReason.id)).first()
                pipeline.change_stage(opportunity, stage, user=user, reason_id=reason)
        except ValidationFailed:
            db.session.rollback()
    for _ in range(rng.randint(2, 8)):
        structure = rng.choice(structures)
        try:
            pipeline.create_project(
                {
                    "structure_id": structure.id,
                    "offer_id": rng.choice(offers).id,
                    "title": "Accompagnement",
                    "started_on": _day(rng, 800).isoformat(),
                },
                user=animators[structure.department_code],
            )
        except ValidationFailed:
            db.session.rollback()
    process_pending()
    assert check() == [], f"seed {seed}: the worker differs from a rebuild"
    # Closures, reopenings and corrected dates after the worker counted; more activities.
    for structure in rng.sample(structures, len(structures) // 2):
        _random_closure(rng, structure)
    activities(rng.randint(3, 8))
    process_pending()
    assert check() == [], f"seed {seed}: the worker differs from a rebuild after closures and reopenings"
    return rng, admin, animators, offers


def random_scopes(rng: random.Random, admin, animators, offers, count: int):
    programmes = list(db.session.scalars(select(Programme.id)))
    for _ in range(count):
        day = _day(rng, 800)
        period = rng.choice(
            [
                year(day.year),
                quarter(day),
                month(day),
                Period("personnalise", day, min(TODAY, day + timedelta(days=rng.randint(0, 400)))),
            ]
        )
        departments = rng.choice([DEPARTMENTS, ("31",), ("46",)])
        cut = rng.choice(("none", "programme", "offer", "animator", "sector"))
        values = {
            "programme": {"programme_id": rng.choice(programmes)},
            "offer": {"offer_id": rng.choice(offers).id},
            "animator": {"animator_id": rng.choice([admin.id, *[a.id for a in animators.values()]])},
            "sector": {"sector": rng.choice(SECTORS)},
        }.get(cut, {})
        yield Scope(period, departments, **values)


def _share(figure, where: str) -> None:
    assert 0 <= figure.numerator <= figure.denominator or (figure.numerator == 0 and figure.denominator == 0), (
        f"{where}: {figure.numerator} / {figure.denominator}"
    )
    assert figure.rate is None or 0 <= figure.rate <= 1, where


def _participation_by_hand(scope: Scope) -> tuple[int, int]:
    """The participation's rule read literally, from the records (no event attended in these worlds)."""
    start, end = scope.period.start, scope.period.end
    sectors = (scope.sector,) if scope.sector else ES_ESMS
    population = set()
    for structure in db.session.scalars(select(Structure).where(Structure.department_code.in_(scope.departments))):
        if not structure.sector or structure.sector.code not in sectors:
            continue
        opened = structure.opened_on is None or structure.opened_on <= end
        not_closed_before = structure.is_open or (structure.closed_on is not None and structure.closed_on >= start)
        if opened and not_closed_before:
            population.add(structure.id)
    took_part = set()
    for activity in db.session.scalars(
        select(Activity).where(Activity.is_information.is_(True), Activity.occurred_on.between(start, end))
    ):
        took_part |= {s.id for s in activity.structures}
    return len(took_part & population), len(population)


@pytest.mark.parametrize("seed", SEEDS)
def test_no_rate_exceeds_its_denominator(seed, make_user, make_structure):
    rng, admin, animators, offers = build_world(seed, make_user, make_structure)
    for scope in random_scopes(rng, admin, animators, offers, 8):
        where = f"seed {seed}, {scope}"
        for name, (_, compute, groups) in INDICATORS.items():
            for group_by in (None, *groups):
                for figure in compute(scope, group_by):
                    _share(figure, f"{where}, {name} by {group_by}: {figure.key}")
        for headline in dashboard.headlines(scope):
            _share(headline.current, f"{where}, headline {headline.key}")
        for indicator in dashboard.MAP_INDICATORS:
            for figure in dashboard.department_figures(scope, indicator).values():
                _share(figure, f"{where}, map {indicator}")
        for figure in dashboard.engagement_heatmap(scope).cells.values():
            _share(figure, f"{where}, heatmap")
        trend = trends(scope)
        for figure in trend.participation + trend.transformation:
            if figure is not None:
                _share(figure, f"{where}, trend {figure.key}")
        report = report_figures(scope)
        for figure in (report.medico_social, report.other_offers, report.useful):
            _share(figure, f"{where}, report {figure.key}")
        if not (scope.programme_id or scope.offer_id or scope.animator_id):
            [figure] = INDICATORS["participation"][1](scope)
            assert (figure.numerator, figure.denominator) == _participation_by_hand(scope), where
            detail = drilldown.participation_detail(scope)
            assert (detail.counted_total, detail.others_total) == (
                figure.numerator,
                figure.denominator - figure.numerator,
            ), where
