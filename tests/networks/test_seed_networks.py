"""The demo seed gives every networks page something to show on first run (issue 14)."""

from __future__ import annotations

from sqlalchemy import func, select

from crm.networks import services
from crm.networks.models import Grappe, ProgrammeApplication, Referent, StructureLink
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
    assert services.mesh_targets(spico)
    assert services.community_figures()
    again = run_seed("demo", echo=lambda *a, **k: None)
    assert any("déjà présents" in line for line in again) and count(Grappe) == 2
