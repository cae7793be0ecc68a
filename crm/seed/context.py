"""What the seeded history draws from: the structures an animator follows (weighted), the animators
of each department, the offers a structure's profile makes likely, and working days with their
seasonality. Loaded once per seed, read by ``activity`` and ``pipeline``."""

from __future__ import annotations

import random
from bisect import bisect
from datetime import UTC, date, datetime, time, timedelta
from itertools import accumulate

from sqlalchemy import select

from crm.accounts.models import User, user_departments
from crm.pipeline.models import LossReason
from crm.platform.dates import local_today
from crm.platform.extensions import db
from crm.platform.formatting import PARIS
from crm.referential.models import Category, Offer, Programme, Sector
from crm.seed.payloads import OfferRef, ProgrammeRef, SectorRef, StructureRef
from crm.seed.wording import (
    CANCER_OFFERS,
    COORDINATION_OFFERS,
    GRAND_AGE,
    OFFER_SHORT,
    OTHER_OFFERS,
    PROGRAMME_TOPICS,
)
from crm.structures.models import Contact, Structure

HISTORY_DAYS = 730  # two years back from today
# How much animators deal with a category (a DAC or a CPTS far more than a pharmacy).
CATEGORY_WEIGHTS = {
    "CHU": 6,
    "CH": 5,
    "CLINIQUE": 3,
    "HAD": 4,
    "SMR": 3,
    "PSY": 2,
    "CLCC": 3,
    "EHPAD": 4,
    "RA": 1,
    "IME": 2,
    "ITEP": 2,
    "MAS": 2,
    "FAM": 2,
    "SSIAD": 2.5,
    "SAAD": 0.6,
    "SPASAD": 1.5,
    "SAMSAH": 1.5,
    "SAVS": 0.8,
    "ESAT": 0.8,
    "CAMSP": 2,
    "CMPP": 1,
    "SESSAD": 1,
    "PCPE": 1,
    "CHRS": 0.4,
    "SOCIAL_AUTRE": 0.3,
    "CPTS": 8,
    "MSP": 1.2,
    "CDS": 0.8,
    "DAC": 10,
    "CRT": 6,
    "PCO": 4,
    "LIBERAL": 0.05,
    "OFFICINE": 0.05,
    "LBM": 0.1,
    "ARS": 3,
    "CPAM": 2,
    "CD": 2,
    "MDPH": 2,
    "URPS": 2,
    "ORDRE": 0.5,
    "FEDERATION": 1.5,
    "EDITEUR": 0.5,
}
UNTOUCHED_SHARE = 0.45  # structures nobody met in two years
HUB_CATEGORIES = ("CPTS", "DAC", "CRT")  # who gathers the structures of a territory
MEMBER_SECTORS = ("sanitaire", "medico_social")
# Fewer activities in August and around Christmas; none on public holidays.
MONTH_WEIGHTS = (0.9, 1.0, 1.1, 1.0, 0.9, 1.1, 0.7, 0.25, 1.15, 1.15, 1.1, 0.75)
HOLIDAYS = {(1, 1), (5, 1), (5, 8), (7, 14), (8, 15), (11, 1), (11, 11), (12, 25)}
LOSS_REASONS = {
    "perdue": {
        "Autre solution retenue": 4,
        "Budget ou financement insuffisant": 3,
        "Pas de besoin confirmé": 2,
        "Structure pas prête (organisation, SI, éditeur)": 3,
    },
    "abandonnee": {
        "Sans réponse de la structure": 5,
        "Projet reporté à plus tard": 4,
        "Structure pas prête (organisation, SI, éditeur)": 2,
        "Doublon": 0.5,
    },
}


_MINUTES = [timedelta(minutes=m) for m in range(600)]


def pick(rng: random.Random, items):
    """``rng.choice`` for the hot loops (a third of its cost)."""
    return items[int(rng.random() * len(items))]


class Weighted:
    """A population and its cumulative weights, for fast repeated draws."""

    def __init__(self, items: list, weights: list[float]):
        pairs = [(item, w) for item, w in zip(items, weights) if w > 0]
        self.items = [item for item, _ in pairs]
        self.cum = list(accumulate(w for _, w in pairs))

    def __bool__(self) -> bool:
        return bool(self.items)

    @property
    def total(self) -> float:
        return self.cum[-1] if self.cum else 0.0

    def draw(self, rng: random.Random):
        return self.items[bisect(self.cum, rng.random() * self.cum[-1])]

    def draws(self, rng: random.Random, k: int) -> list:
        return rng.choices(self.items, cum_weights=self.cum, k=k)


class SeedContext:
    """Everything the seeded history of ``department_codes`` draws from (see the module docstring)."""

    def __init__(self, department_codes: list[str], *, seed: str, today: date | None = None):
        self.today = today or local_today()
        self.seed = seed
        self.rng = random.Random(seed)
        self._moments: dict[date, datetime] = {}
        self._load_reference()
        self._load_animators(department_codes)
        self._load_structures([code for code in department_codes if code in self.animators])
        self.days = self._working_days()

    # --- loading -----------------------------------------------------------------------------------

    def _load_reference(self) -> None:
        programmes = db.session.scalars(select(Programme).where(Programme.active.is_(True))).all()
        self.programmes = {p.code: ProgrammeRef(p.id, p.code, p.label) for p in programmes}
        code_of = {p.id: p.code for p in programmes}
        self.offers: dict[str, OfferRef] = {}
        self.programme_of_offer: dict[int, str] = {}
        for offer in db.session.scalars(select(Offer).where(Offer.active.is_(True)).order_by(Offer.id)):
            if offer.programme_id in code_of:
                short = OFFER_SHORT.get(offer.code) or offer.label.split(" – ")[0]
                self.offers[offer.code] = OfferRef(offer.id, offer.code, offer.programme_id, short)
                self.programme_of_offer[offer.id] = code_of[offer.programme_id]
        coordination = self._offer_pool(COORDINATION_OFFERS)
        if not coordination:  # coordination offers renamed by an admin: any active offer will do
            coordination = Weighted(list(self.offers.values()), [1.0] * len(self.offers))
        self.coordination_offers = coordination
        self.hospital_coordination_offers = self._offer_pool({**COORDINATION_OFFERS, **CANCER_OFFERS}) or coordination
        self.other_offers = {
            profile: self._offer_pool(weights) or coordination for profile, weights in OTHER_OFFERS.items()
        }
        self.programme_topics = Weighted(
            [self.programmes[c] for c in PROGRAMME_TOPICS if c in self.programmes],
            [w for c, w in PROGRAMME_TOPICS.items() if c in self.programmes],
        )
        reasons = {r.label: r.id for r in db.session.scalars(select(LossReason).where(LossReason.active.is_(True)))}
        self.loss_reasons = {}
        for stage, weights in LOSS_REASONS.items():
            pool = Weighted(
                [reasons[label] for label in weights if label in reasons],
                [w for label, w in weights.items() if label in reasons],
            )
            self.loss_reasons[stage] = pool or Weighted(list(reasons.values()), [1.0] * len(reasons))

    def _offer_pool(self, weights: dict[str, float]) -> Weighted:
        return Weighted(
            [self.offers[c] for c in weights if c in self.offers], [w for c, w in weights.items() if c in self.offers]
        )

    def _load_animators(self, department_codes: list[str]) -> None:
        rows = db.session.execute(
            select(user_departments.c.department_code, User.id)
            .join(User, User.id == user_departments.c.user_id)
            .where(
                User.role == "animateur",
                User.active.is_(True),
                user_departments.c.department_code.in_(department_codes),
            )
            .order_by(user_departments.c.department_code, User.id)
        ).all()
        self.animators: dict[str, list[int]] = {}
        for code, user_id in rows:
            self.animators.setdefault(code, []).append(user_id)

    def _load_structures(self, department_codes: list[str]) -> None:
        sectors = {sid: SectorRef(code) for sid, code in db.session.execute(select(Sector.id, Sector.code))}
        categories = dict(db.session.execute(select(Category.id, Category.code)).all())
        contacts: dict[int, list[int]] = {}
        for structure_id, contact_id in db.session.execute(
            select(Contact.structure_id, Contact.id)
            .join(Structure, Structure.id == Contact.structure_id)
            .where(Contact.erased_at.is_(None), Structure.department_code.in_(department_codes))
            .order_by(Contact.id)
        ):
            contacts.setdefault(structure_id, []).append(contact_id)
        rng = random.Random(f"{self.seed}-weights")
        refs, weights = [], []
        self.hubs: dict[str, list[StructureRef]] = {}
        members: dict[str, tuple[list, list]] = {}
        for sid, name, dep, sector_id, category_id, is_open in db.session.execute(
            select(
                Structure.id,
                Structure.name,
                Structure.department_code,
                Structure.sector_id,
                Structure.category_id,
                Structure.is_open,
            )
            .where(Structure.department_code.in_(department_codes))
            .order_by(Structure.id)
        ):
            category = categories.get(category_id)
            ref = StructureRef(sid, name, dep, sectors.get(sector_id), category, is_open, tuple(contacts.get(sid, ())))
            weight = 0.0 if rng.random() < UNTOUCHED_SHARE else min(rng.paretovariate(1.3), 15.0)
            weight *= CATEGORY_WEIGHTS.get(category, 0.3) * (1.0 if is_open else 0.1)
            refs.append(ref)
            weights.append(weight)
            if is_open and category in HUB_CATEGORIES:
                self.hubs.setdefault(dep, []).append(ref)
            if weight and ref.sector and ref.sector.code in MEMBER_SECTORS:
                pool = members.setdefault(dep, ([], []))
                pool[0].append(ref)
                pool[1].append(weight)
        # CPTS first: a territorial meeting is most often the CPTS's.
        for dep, hubs in self.hubs.items():
            cpts = [h for h in hubs if h.category == "CPTS"]
            self.hubs[dep] = cpts or hubs
        self.all_structures = refs
        self.structures = Weighted(refs, weights)
        self.members = {dep: Weighted(*pool) for dep, pool in members.items()}
        self.structure_count = len(refs)

    def _working_days(self) -> Weighted:
        days, weights = [], []
        for offset in range(HISTORY_DAYS, -1, -1):
            day = self.today - timedelta(days=offset)
            if day.weekday() >= 5 or (day.month, day.day) in HOLIDAYS:
                continue
            days.append(day)
            weights.append(MONTH_WEIGHTS[day.month - 1] * (0.8 if day.weekday() == 4 else 1.0))
        return Weighted(days, weights)

    # --- draws -------------------------------------------------------------------------------------

    def owner_of(self, structure: StructureRef) -> int | None:
        """The animator who follows the structure: always the same one among its department's."""
        animators = self.animators.get(structure.department_code)
        return animators[structure.id % len(animators)] if animators else None

    def profile_of(self, structure: StructureRef) -> str:
        sector = structure.sector.code if structure.sector else "medico_social"
        if sector == "medico_social":
            return "grand_age" if structure.category in GRAND_AGE else "handicap"
        return sector if sector in OTHER_OFFERS else "institutionnel"

    def offer_for(self, structure: StructureRef) -> OfferRef:
        """Coordination offers 70 % of the time, otherwise one that suits the structure's profile."""
        profile = self.profile_of(structure)
        if self.rng.random() < 0.7:
            pool = self.hospital_coordination_offers if profile == "sanitaire" else self.coordination_offers
            return pool.draw(self.rng)
        return self.other_offers[profile].draw(self.rng)

    def moment(self, day: date, rng: random.Random | None = None) -> datetime:
        """A time on ``day`` during office hours in Paris, as a UTC datetime."""
        start = self._moments.get(day)
        if start is None:
            start = datetime.combine(day, time(8, 30), PARIS).astimezone(UTC)
            self._moments[day] = start
        return start + _MINUTES[int((rng or self.rng).random() * 600)]

    def working_day_after(self, day: date, days: int) -> date:
        """``days`` calendar days later, moved off the weekend."""
        out = day + timedelta(days=days)
        if out.weekday() >= 5:
            out += timedelta(days=7 - out.weekday())
        return out
