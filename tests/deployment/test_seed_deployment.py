"""The demo seed: statuses and a year of usage for SPICO, ViaTrajectoire and MSSanté, the deployment cells
built (deployment and usage), the new pages showing data; seeding again adds nothing."""

from sqlalchemy import distinct, func, select

from crm.deployment.models import StructureDeployment, UsageFigure
from crm.indicators.readmodel.check import check
from crm.indicators.readmodel.deployment import DeploymentCell
from crm.indicators.readmodel.usage import UsageCell
from crm.platform.extensions import db
from crm.referential.models import Offer


def counts():
    return (
        db.session.scalar(select(func.count()).select_from(StructureDeployment)),
        db.session.scalar(select(func.count()).select_from(UsageFigure)),
    )


def test_demo_seed_has_statuses_and_a_year_of_usage_for_three_services(client, login_as):
    from crm.seed import run_seed

    report = run_seed("demo", echo=lambda *a, **k: None)
    offers = db.session.execute(
        select(Offer.code, func.count(distinct(UsageFigure.month)))
        .join(UsageFigure, UsageFigure.offer_id == Offer.id)
        .group_by(Offer.code)
    ).all()
    assert dict(offers) == {"SPICO_DOSSIERS": 12, "VT_SANITAIRE": 12, "MSSANTE": 12}
    assert any(line.startswith("Services : MSSanté") for line in report)
    statuses = set(db.session.scalars(select(distinct(StructureDeployment.status))))
    assert {"a_sensibiliser", "en_projet", "deploye", "usage_actif"} <= statuses
    assert db.session.scalar(select(func.sum(DeploymentCell.deployed))) > 0
    with_usage = db.session.scalars(
        select(distinct(Offer.code)).join(UsageCell, UsageCell.offer_id == Offer.id).where(UsageCell.active > 0)
    )
    assert set(with_usage) == {"SPICO_DOSSIERS", "VT_SANITAIRE", "MSSANTE"}
    assert check() == []
    first = counts()
    run_seed("demo", echo=lambda *a, **k: None)
    assert counts() == first
    login_as("manager")
    html = client.get("/tableau-de-bord/services?offre=MSSANTE").get_data(as_text=True)
    assert "Taux d'usage actif" in html and "—" not in html.split("Taux de déploiement")[1][:200]
    html = client.get("/tableau-de-bord/services/cibles?offre=SPICO_DOSSIERS").get_data(as_text=True)
    assert "structures éligibles non équipées" in html
    structure_id = db.session.scalar(
        select(StructureDeployment.structure_id).where(StructureDeployment.status == "usage_actif").limit(1)
    )
    html = client.get(f"/structures/{structure_id}").get_data(as_text=True)
    assert "Services numériques" in html and "Usage actif" in html
