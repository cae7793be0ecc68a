"""POST /api/v1/usage: a service pushes its figures; JSON errors; idempotent; checked against the document."""

from sqlalchemy import func, select

from crm.deployment import services
from crm.deployment.models import UsageFigure
from crm.platform.extensions import db
from crm.referential.models import Offer
from tests.api.conftest import anonymous, api_as, openapi_document  # noqa: F401  (fixtures)


def count():
    return db.session.scalar(select(func.count()).select_from(UsageFigure))


def test_a_service_pushes_its_figures_and_again_changes_nothing(api_as, make_structure):  # noqa: F811
    structure = make_structure(finess_et="310000005")
    api = api_as("admin")
    body = {
        "offer": "MSSANTE",
        "figures": [
            {"finess": "310000005", "month": "2026-10", "value": 40},
            {"finess": "310000005", "month": "2026-11", "value": 42},
            {"finess": "999999998", "month": "2026-11", "value": 1},
            {"siret": "12", "month": "2026-11", "value": 1},
            {"finess": "310000005", "month": "novembre", "value": 1},
        ],
    }
    response = api.post("/api/v1/usage", json=body)
    assert response.status_code == 200, response.get_json()
    result = response.get_json()
    assert (result["created"], result["rejected"], result["statuses"]) == (2, 3, 1)
    assert [r["line"] for r in result["rejects"]] == [3, 4, 5]
    offer = db.session.scalars(select(Offer).where(Offer.code == "MSSANTE")).one()
    assert services.get_deployment(structure.id, offer.id).status == "usage_actif"
    again = api.post("/api/v1/usage", json=body).get_json()
    assert (again["created"], again["unchanged"], again["statuses"]) == (0, 2, 0) and count() == 2


def test_errors_are_json(api_as):  # noqa: F811
    api = api_as("admin")
    unknown = api.post(
        "/api/v1/usage", json={"offer": "NOPE", "figures": [{"finess": "1", "month": "2026-01", "value": 1}]}
    )
    assert unknown.status_code == 422 and "offer" in unknown.get_json()["error"]["fields"]
    empty = api.post("/api/v1/usage", json={"offer": "MSSANTE", "figures": []})
    assert empty.status_code == 422
    wrong = api.post("/api/v1/usage", json={"offer": "MSSANTE", "figures": "x"})
    assert wrong.status_code == 422
    refused = api_as("manager").post(
        "/api/v1/usage", json={"offer": "MSSANTE", "figures": [{"finess": "1", "month": "2026-01", "value": 1}]}
    )
    assert refused.status_code == 403 and count() == 0


def test_deployment_indicators_in_the_api(api_as, make_structure):  # noqa: F811
    from tests.workflows.conftest import process

    structure = make_structure(finess_et="310000005", sector_id=_sector("sanitaire"))
    admin = api_as("admin")
    admin.post(
        "/api/v1/usage",
        json={"offer": "MSSANTE", "figures": [{"finess": "310000005", "month": "2026-11", "value": 3}]},
    )
    process()
    reader = api_as("organisateur")
    response = reader.get("/api/v1/indicators/deployment?offer=MSSANTE")
    assert response.status_code == 200, response.get_json()
    [offer] = response.get_json()["data"]
    row = next(r for r in offer["departments"] if r["department"] == "31")
    assert (row["eligible"], row["deployed"], row["deployment_rate"], row["active_rate"]) == (1, 1, 1.0, 1.0)
    assert offer["end"] == "2026-11" and offer["start"] == "2026-09" and structure.id
    assert len(reader.get("/api/v1/indicators/deployment").get_json()["data"]) > 10
    bad = reader.get("/api/v1/indicators/deployment?offer=NOPE&month=13&department=75")
    assert bad.status_code == 422 and set(bad.get_json()["error"]["fields"]) == {"offer", "month", "department"}


def _sector(code):
    from crm.referential.models import Sector

    return db.session.scalars(select(Sector.id).where(Sector.code == code)).one()
