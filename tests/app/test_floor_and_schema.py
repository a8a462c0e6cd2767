"""The assign body is documented by its pydantic schema; the answer is the response model's."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from shopper_segments.app.config import Settings
from shopper_segments.app.main import create_app
from shopper_segments.app.responses import AssignResponse
from shopper_segments.app.schemas import AssignRequest

BODY = {
    "as_of": "2011-12-10T00:00:00Z",
    "customers": [
        {"customer_id": "a", "transactions": [{"order_id": "1", "timestamp": "2011-06-01", "amount": 5}]}
    ],
}


def settings_for(sample_model: tuple[Path, dict], **kw: object) -> Settings:
    path, _ = sample_model
    return Settings(model_root=path.parent.parent, model_dir=path, **kw)  # type: ignore[arg-type]


def test_openapi_documents_the_assign_body_from_the_schema(sample_model: tuple[Path, dict]) -> None:
    with TestClient(create_app(settings_for(sample_model))) as client:
        doc = client.get("/openapi.json").json()
    body = doc["paths"]["/v1/assign"]["post"]["requestBody"]
    assert body["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/AssignRequest"}
    schemas = doc["components"]["schemas"]
    expected = AssignRequest.model_json_schema(ref_template="#/components/schemas/{model}")
    assert schemas["AssignRequest"]["properties"] == expected["properties"]
    assert schemas["Transaction"]["properties"]["order_id"]["anyOf"][0]["maxLength"] == 128
    assert not any(p.startswith("/bench") for p in doc["paths"])


def test_the_hand_serialized_answer_is_the_response_model(sample_model: tuple[Path, dict]) -> None:
    with TestClient(create_app(settings_for(sample_model))) as client:
        assert client.post("/bench/floor", json=BODY).status_code == 404  # the floors are bench/floors/
        answer = client.post("/v1/assign", json=BODY)
        assert answer.status_code == 200
        # the hand-serialized answer is exactly what the response model would give
        model = AssignResponse.model_validate(answer.json())
        assert answer.json() == model.model_dump(mode="json")
        assert answer.json()["as_of"] == "2011-12-10T00:00:00Z"


def test_query_flags_are_read_as_fastapi_reads_a_bool(sample_model: tuple[Path, dict]) -> None:
    with TestClient(create_app(settings_for(sample_model))) as client:
        doc = client.get("/openapi.json").json()
        params = {p["name"]: p for p in doc["paths"]["/v1/assign"]["post"]["parameters"]}
        assert set(params) == {"explain", "strict"}
        assert all(p["in"] == "query" and p["schema"]["type"] == "boolean" for p in params.values())
        assert "explanation" in client.post("/v1/assign?explain=yes", json=BODY).json()["results"][0]
        assert "explanation" not in client.post("/v1/assign?explain=0", json=BODY).json()["results"][0]
        bad_customer = {"customers": [{"customer_id": "b", "transactions": [{"timestamp": "never"}]}]}
        assert client.post("/v1/assign", json=bad_customer).status_code == 200  # answered in its slot
        assert client.post("/v1/assign?strict=on", json=bad_customer).status_code == 422
        bad = client.post("/v1/assign?explain=maybe&strict=nah", json=BODY)
        assert bad.status_code == 422
        assert [e["field"] for e in bad.json()["errors"]] == ["explain", "strict"]
        assert "valid boolean" in bad.json()["errors"][0]["message"]
