"""The demo seed gives every networks page something to show on first run (issue 14)."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import func, select

from crm.networks import services
from crm.networks.models import Grappe, ProgrammeApplication, Referent, StructureLink, grappe_members
from crm.platform.extensions import db
from crm.referential.models import Offer


def test_demo_seed_has_referents_grappes_applications_and_a_partner_network():
    from crm.seed import run_seed

    report = run_seed("demo", echo=lambda *a, **k: None)
    print("\n".join(line for line in report if "Réseaux" in line or "Terminé" in line))

    def count(model):
        return db.session.scalar(select(func.count()).select_from(model))

    assert count(Referent) > 10 and count(StructureLink) > 10 and count(ProgrammeApplication) >= 3
    grappes = list(db.session.scalars(select(Grappe)))
    assert len(grappes) == 2
    attribution = services.grappe_attribution()
    assert (attribution.total, attribution.via_rendez_vous) == (2, 1)
    spico = db.session.scalar(select(Offer.id).where(Offer.code == "SPICO_DOSSIERS"))
    assert services.mesh_targets(spico)[0]
    assert services.community_figures()
    again = run_seed("demo", echo=lambda *a, **k: None)
    assert any("déjà présents" in line for line in again) and count(Grappe) == 2


# --- region and national scales (reduced counts: the real ones take minutes) -----------------------------

RDV_DEPARTMENTS = {"11", "12", "30", "34", "46"}  # where crm/seed/events.py holds the Rendez-vous ESMS numérique
NETWORK_EVENTS = {
    "structure_link.created": ("structure_link", StructureLink, services.link_payload),
    # As named: the end of a référent who left is its own event (referent.ended).
    "referent.named": ("referent", Referent, lambda r: {**services.referent_payload(r), "ended_on": None}),
    "grappe.created": ("grappe", Grappe, services.grappe_payload),
    "application.created": ("programme_application", ProgrammeApplication, services.application_payload),
}


def _smaller(monkeypatch, scale: str, establishments: int, contact_share: float):
    from crm.seed import SCALES, daily_work

    monkeypatch.setitem(SCALES, scale, (establishments, SCALES[scale][1], contact_share))
    monkeypatch.setitem(daily_work.HISTORY, scale, (1_500, 250))


def _network_counts() -> dict[str, int]:
    from crm.platform.models import AuditEntry, OutboxEvent
    from crm.structures.models import Structure

    counts = {
        model.__name__: db.session.scalar(select(func.count()).select_from(model))
        for model in (StructureLink, Referent, Grappe, ProgrammeApplication, Structure, AuditEntry, OutboxEvent)
    }
    counts["members"] = db.session.scalar(select(func.count()).select_from(grappe_members))
    return counts


def _departments_of(column) -> set[str]:
    from crm.structures.models import Structure

    return set(
        db.session.scalars(
            select(Structure.department_code).join_from(Structure, column.table, column == Structure.id).distinct()
        )
    )


def _assert_events_and_audit_as_the_services_write_them():
    """One event and one audit entry per seeded record, with the payload the service builds from the row."""
    from crm.platform.events import _jsonable
    from crm.platform.models import AuditEntry, OutboxEvent

    for event_type, (entity_type, model, payload_of) in NETWORK_EVENTS.items():
        rows = {row.id: row for row in db.session.scalars(select(model)).unique()}
        events = list(
            db.session.scalars(select(OutboxEvent).where(OutboxEvent.type == event_type).order_by(OutboxEvent.id))
        )
        assert sorted(e.aggregate_id for e in events) == sorted(rows), event_type
        assert all(e.processed_at is not None for e in events), "the seeded history is settled, not replayed"
        for event in events[:: max(1, len(events) // 25)]:
            assert event.payload == {k: _jsonable(v) for k, v in payload_of(rows[event.aggregate_id]).items()}
        audited = db.session.scalar(
            select(func.count(func.distinct(AuditEntry.entity_id))).where(
                AuditEntry.entity_type == entity_type, AuditEntry.action == "create", AuditEntry.origin == "seed"
            )
        )
        assert audited == len(rows), entity_type
    ended = db.session.scalar(select(func.count()).select_from(Referent).where(Referent.ended_on.is_not(None)))
    ended_events = db.session.scalar(
        select(func.count()).select_from(OutboxEvent).where(OutboxEvent.type == "referent.ended")
    )
    assert ended and ended_events == ended
    for event in db.session.scalars(select(OutboxEvent).where(OutboxEvent.type == "referent.ended")):
        referent = db.session.get(Referent, event.aggregate_id)
        assert referent.started_on < referent.ended_on and event.payload == {
            k: _jsonable(v) for k, v in services.referent_payload(referent).items()
        }
    link = db.session.scalars(select(StructureLink).order_by(StructureLink.id)).first()
    entry = db.session.scalar(
        select(AuditEntry).where(AuditEntry.entity_type == "structure_link", AuditEntry.entity_id == link.id)
    )
    assert (entry.parent_type, entry.parent_id) == ("structure", link.structure_a_id)
    assert entry.changes == {
        "structure_a_id": [None, link.structure_a_id],
        "structure_b_id": [None, link.structure_b_id],
        "type_id": [None, link.type_id],
    }


def test_region_seed_scales_the_networks_over_the_regions_departments(monkeypatch):
    from crm.indicators.readmodel.check import check
    from crm.networks.models import StructureLinkType
    from crm.referential.models import Category
    from crm.referential.services import region_department_codes
    from crm.seed import run_seed
    from crm.seed.networks_scale import GRAPPE_CATEGORIES, seed_networks_at_scale
    from crm.structures.models import Structure

    _smaller(monkeypatch, "region", 900, 0.3)
    report = run_seed("region", echo=lambda *a, **k: None)
    line = next(line for line in report if line.startswith("Réseaux ("))
    print("\n" + line)
    region = set(region_department_codes())

    # Every department of the region has its partner network and référents; grappes in most of them.
    assert _departments_of(StructureLink.structure_a_id) == region
    assert len(_departments_of(Referent.structure_id)) >= len(region) - 2
    grappes = services.grappes()
    esms = dict(
        db.session.execute(
            select(Structure.department_code, func.count())
            .join(Category, Category.id == Structure.category_id)
            .where(Category.code.in_(GRAPPE_CATEGORIES), Structure.is_open.is_(True))
            .group_by(Structure.department_code)
        ).all()
    )
    per_department = Counter(g.lead.department_code for g in grappes)
    # A few per department (a department needs eight ESMS for one), dozens in the region.
    assert all(esms[d] >= 8 for d in per_department) and len(grappes) >= 20
    assert all(per_department[d] >= 2 for d, n in esms.items() if n >= 25), (esms, per_department)
    assert all(g.lead in g.members and len(g.members) >= 3 for g in grappes)
    types = dict(
        db.session.execute(
            select(StructureLinkType.code, func.count()).join(StructureLink).group_by(StructureLinkType.code)
        ).all()
    )
    assert {"partenaire_dac", "partenaire_cpts", "partenaire_crt", "membre_ght"} <= set(types)
    partner_categories = set(
        db.session.scalars(
            select(Category.code)
            .join(Structure, Structure.category_id == Category.id)
            .join(StructureLink, StructureLink.structure_a_id == Structure.id)
            .distinct()
        )
    )
    assert {"COLLECTIVITE", "REPRESENTANT_USAGERS", "EHPAD", "CH"} <= partner_categories
    offers = db.session.scalar(select(func.count(func.distinct(Referent.offer_id))))
    assert offers >= 4
    statuses = set(db.session.scalars(select(ProgrammeApplication.status).distinct()))
    programmes = set(db.session.scalars(select(ProgrammeApplication.programme).distinct()))
    assert {"brouillon", "deposee", "financee"} <= statuses and {"esms_numerique", "sun_es", "sons"} <= programmes
    assert all(
        (a.amount_granted is not None) == (a.status == "financee")
        for a in db.session.scalars(select(ProgrammeApplication))
    )
    _assert_events_and_audit_as_the_services_write_them()

    # The figures the pages show, computed on the seeded data.
    attribution = services.grappe_attribution()
    assert 0 < attribution.via_rendez_vous < attribution.total
    for department in region:
        via = services.grappe_attribution(department).via_rendez_vous
        assert (via > 0) == (department in RDV_DEPARTMENTS), department
    spico = db.session.scalar(select(Offer.id).where(Offer.code == "SPICO_DOSSIERS"))
    targets, _total = services.mesh_targets(spico, limit=None)
    assert len({t.structure.department_code for t in targets}) >= 5
    users = services.uses_offer(None, spico)
    assert all(t.structure.id not in users and t.via and all(v.id in users for v, _ in t.via) for t in targets)
    assert len(services.community_figures()) >= 4
    assert check() == []

    # Seeding again adds nothing, through the seed and through the networks step alone.
    first = _network_counts()
    again = run_seed("region", echo=lambda *a, **k: None)
    assert "Réseaux : déjà présents." in " ".join(again)
    assert seed_networks_at_scale(sorted(region)) == ["Réseaux : déjà présents."]
    assert _network_counts() == first


def test_national_seed_scales_the_networks_over_every_department_without_attribution_outside_the_region(
    monkeypatch,
):
    from sqlalchemy import delete, or_

    from crm.referential.services import all_department_codes, region_department_codes
    from crm.seed import run_seed
    from crm.seed.networks_scale import seed_networks_at_scale
    from crm.structures.models import Structure

    _smaller(monkeypatch, "national", 2500, 0.1)
    report = run_seed("national", echo=lambda *a, **k: None)
    print("\n" + next(line for line in report if line.startswith("Réseaux (")))
    region = set(region_department_codes())

    linked = _departments_of(StructureLink.structure_a_id)
    assert len(linked - region) >= 60 and linked <= set(all_department_codes())
    assert len(_departments_of(Referent.structure_id) - region) >= 20
    grappes = services.grappes()
    outside = [g for g in grappes if g.lead.department_code not in region]
    assert len({g.lead.department_code for g in outside}) >= 15, len(outside)
    # The Rendez-vous ESMS numérique are the region's: no grappe elsewhere owes them anything.
    assert services.grappes_formed_via_rendez_vous(outside) == set()
    via = services.grappes_formed_via_rendez_vous(grappes)
    assert via and {g.lead.department_code for g in grappes if g.id in via} <= RDV_DEPARTMENTS
    spico = db.session.scalar(select(Offer.id).where(Offer.code == "SPICO_DOSSIERS"))
    targets, _total = services.mesh_targets(spico, limit=None)
    assert len({t.structure.department_code for t in targets} - region) >= 20, len(targets)
    _assert_events_and_audit_as_the_services_write_them()

    # Per department: a department whose networks are gone is seeded again, the others are left as they are.
    assert seed_networks_at_scale(all_department_codes()) == ["Réseaux : déjà présents."]
    department = "33"
    in_department = select(Structure.id).where(Structure.department_code == department)

    def links_per_department():
        return Counter(
            db.session.scalars(
                select(Structure.department_code).join(StructureLink, StructureLink.structure_a_id == Structure.id)
            )
        )

    kept = {d: n for d, n in links_per_department().items() if d != department}
    db.session.execute(delete(Grappe).where(Grappe.lead_structure_id.in_(in_department)))
    db.session.execute(delete(Referent).where(Referent.structure_id.in_(in_department)))
    db.session.execute(
        delete(StructureLink).where(
            or_(StructureLink.structure_a_id.in_(in_department), StructureLink.structure_b_id.in_(in_department))
        )
    )
    db.session.commit()
    lines = seed_networks_at_scale(all_department_codes())
    assert lines[0].startswith("Réseaux (1 département)"), lines
    after = links_per_department()
    assert after[department] > 0 and {d: n for d, n in after.items() if d != department} == kept
