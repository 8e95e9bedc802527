"""``/healthz``, the OpenAPI document (units in descriptions) and problem+json for routing."""

from __future__ import annotations

from fastapi.testclient import TestClient
from service_helpers import Keys, assert_problem


def test_healthz_needs_no_key(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok" and response.json()["database"] == "ok"


def test_openapi_documents_every_schema_with_units(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    schema = client.get("/openapi.json").json()
    components = schema["components"]["schemas"]
    for name in (
        "MirdPlanInput",
        "MirdDoseInput",
        "PartitionPlanInput",
        "BsaPlanInput",
        "LsfInput",
        "DecayInput",
        "VialInput",
        "PlanResult",
        "PlanCreate",
        "PlanPublic",
        "RevisionCreate",
        "ApprovalCreate",
        "StudyPublic",
        "DoseJobCreate",
        "DoseJobPublic",
    ):
        assert name in components, name
    mird = components["MirdPlanInput"]["properties"]
    assert "(Gy)" in mird["target_dose_gy"]["description"]
    assert "(mL)" in mird["perfused_volume_ml"]["description"]
    assert "(GBq)" in components["DoseJobCreate"]["properties"]["activity_gbq"]["description"]
    body = schema["paths"]["/v1/calculations/mird"]["post"]["requestBody"]
    refs = [s["$ref"] for s in body["content"]["application/json"]["schema"]["oneOf"]]
    assert refs == ["#/components/schemas/MirdPlanInput", "#/components/schemas/MirdDoseInput"]
    security = schema["components"]["securitySchemes"]
    assert {"HTTPBearer", "APIKeyHeader"} <= set(security)


def test_unknown_route_and_method_are_problems(client: TestClient, keys: Keys) -> None:
    assert_problem(client.get("/v1/nothing", headers=keys.viewer), 404)
    assert_problem(client.delete("/v1/plans", headers=keys.viewer), 405)
