"""The OpenAPI document as a tool reads it: stable operation ids, a typed /v1/model, examples
that the service accepts, and a Python client generated from it (openapi-python-client) that
talks to a real server.
"""

from __future__ import annotations

import importlib
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from shopper_segments.app.config import Settings
from shopper_segments.app.main import create_app
from shopper_segments.app.responses import (
    ASSIGN_RESPONSE_EXAMPLE,
    AssignResponse,
    ComparedAlgorithmInfo,
    ComparisonInfo,
    ModelInfo,
    ScoreInfo,
    SelectionInfo,
)
from shopper_segments.app.routes.assign import ASSIGN_BODY
from shopper_segments.app.schemas import ASSIGN_EXAMPLES, AssignRequest
from shopper_segments.core import contract_parts
from shopper_segments.core.contract import ModelMetadata
from tests.conftest import Server

#: Every documented operation's id: part of the API (generated clients name their functions so).
OPERATION_IDS = {
    ("post", "/v1/assign"): "assign",
    ("get", "/v1/segments"): "listSegments",
    ("get", "/v1/model"): "getModel",
    ("get", "/v1/drift"): "getDrift",
    ("post", "/v1/admin/reload"): "reloadModel",
    ("get", "/healthz"): "healthz",
    ("get", "/readyz"): "readyz",
    ("get", "/metrics"): "metrics",
}
CLIENT = "segments_openapi_client"


@pytest.fixture(scope="module")
def client(sample_model: tuple[Path, dict]) -> Iterator[TestClient]:
    path, _ = sample_model
    settings = Settings(model_root=path.parent.parent, model_dir=path)  # type: ignore[call-arg]
    with TestClient(create_app(settings)) as c:
        yield c


@pytest.fixture(scope="module")
def doc(client: TestClient) -> dict[str, Any]:
    answer = client.get("/openapi.json")
    assert answer.status_code == 200
    out: dict[str, Any] = answer.json()
    return out


def test_every_operation_has_its_explicit_id(doc: dict[str, Any]) -> None:
    found = {(m, p): op.get("operationId") for p, ops in doc["paths"].items() for m, op in ops.items()}
    assert found == OPERATION_IDS
    assert not [i for i in found.values() if i is None or i.endswith(("_get", "_post"))]


def test_the_model_info_is_typed_and_is_what_is_answered(client: TestClient, doc: dict[str, Any]) -> None:
    ok = doc["paths"]["/v1/model"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/ModelInfo"}
    schemas = doc["components"]["schemas"]
    props = schemas["ModelInfo"]["properties"]
    for section in ("data", "features", "selection", "parameters", "libraries", "artifacts"):
        assert props[section] == {"$ref": f"#/components/schemas/{props[section]['$ref'].split('/')[-1]}"}
        assert schemas[props[section]["$ref"].split("/")[-1]]["properties"], section
    assert props["segments"]["items"] == {"$ref": "#/components/schemas/SegmentInfo"}
    assert props["created_at"]["format"] == "date-time"
    assert "scikit-learn" in schemas["Libraries"]["properties"]
    answer = client.get("/v1/model")
    assert answer.status_code == 200
    info = ModelInfo.model_validate_json(answer.text)
    assert info.to_dict(nan="null") == answer.json()  # typed, and nothing lost or changed


def test_the_answer_models_keep_the_contracts_fields() -> None:
    """The null-tolerant score models of the answer mirror the contract's (same fields, same order)."""
    pairs = [
        (ScoreInfo, contract_parts.Score),
        (ComparedAlgorithmInfo, contract_parts.ComparedAlgorithm),
        (ComparisonInfo, contract_parts.Comparison),
        (SelectionInfo, contract_parts.Selection),
        (ModelInfo, ModelMetadata),
    ]
    for answer, contract in pairs:
        assert list(answer.model_fields) == list(contract.model_fields), answer.__name__


def test_the_examples_are_in_the_document_and_accepted(client: TestClient, doc: dict[str, Any]) -> None:
    schemas = doc["components"]["schemas"]
    assert schemas["AssignRequest"]["examples"] == ASSIGN_EXAMPLES
    assert schemas["AssignResponse"]["examples"] == [ASSIGN_RESPONSE_EXAMPLE]
    AssignResponse.model_validate(ASSIGN_RESPONSE_EXAMPLE)
    forms = [t["timestamp"] for t in ASSIGN_EXAMPLES[0]["customers"][0]["transactions"]]
    assert len(forms) >= 4 and any("T" not in f for f in forms)  # date-only among them
    for example in ASSIGN_EXAMPLES:
        AssignRequest.model_validate(example)
        answer = client.post("/v1/assign", json=example)
        assert answer.status_code == 200, answer.text
        assert [r["status"] for r in answer.json()["results"]] == ["assigned"]
    csv = ASSIGN_BODY["requestBody"]["content"]["text/csv"]["example"]
    body = doc["paths"]["/v1/assign"]["post"]["requestBody"]["content"]["text/csv"]
    assert body["example"] == csv
    answer = client.post("/v1/assign?as_of=2011-12-10", content=csv, headers={"content-type": "text/csv"})
    assert answer.status_code == 200, answer.text
    assert {r["status"] for r in answer.json()["results"]} == {"assigned"}
    # the CSV answer and the Parquet upload are documented too
    operation = doc["paths"]["/v1/assign"]["post"]
    assert "text/csv" in operation["responses"]["200"]["content"]
    as_csv = client.post(
        "/v1/assign?as_of=2011-12-10", content=csv, headers={"content-type": "text/csv", "accept": "text/csv"}
    )
    assert as_csv.status_code == 200 and as_csv.headers["content-type"].startswith("text/csv")
    parquet = operation["requestBody"]["content"]["application/vnd.apache.parquet"]["schema"]
    assert parquet["format"] == "binary" and "Parquet" in parquet["description"]


def test_a_generated_python_client_assigns_against_a_real_server(
    sample_server: Server, doc: dict[str, Any], tmp_path: Path
) -> None:
    pytest.importorskip("openapi_python_client")
    tool = Path(sys.executable).with_name("openapi-python-client")
    if not tool.exists():
        found = shutil.which("openapi-python-client")
        if found is None:
            pytest.skip("the openapi-python-client command is not installed")
        tool = Path(found)
    spec = tmp_path / "openapi.json"
    spec.write_text(json.dumps(doc), encoding="utf-8")
    config = tmp_path / "config.yaml"
    config.write_text("post_hooks: []\n", encoding="utf-8")  # no ruff run on the generated code
    out = tmp_path / CLIENT
    command = [str(tool), "generate", "--path", str(spec), "--output-path", str(out), "--meta", "none"]
    run = subprocess.run(
        [*command, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    # The one warning: the Parquet upload has no Python type (the JSON and CSV bodies do).
    assert "Unsupported content type application/vnd.apache.parquet" in run.stdout + run.stderr
    sys.path.insert(0, str(tmp_path))
    try:
        package = importlib.import_module(CLIENT)
        assign = importlib.import_module(f"{CLIENT}.api.segments.assign")
        get_model = importlib.import_module(f"{CLIENT}.api.model.get_model")
        models = importlib.import_module(f"{CLIENT}.models")
        body = models.AssignRequest.from_dict(
            {
                "as_of": "2011-12-10T00:00:00Z",
                "customers": [
                    {
                        "customer_id": "12347",
                        "transactions": [
                            {"order_id": "1", "timestamp": "2011-12-01T14:22:00Z", "amount": 25.5},
                            {"order_id": "2", "timestamp": "2011-11-20", "amount": 40.0},
                        ],
                    }
                ],
            }
        )
        with package.Client(base_url=sample_server.url, timeout=10.0) as api:
            answer = assign.sync(client=api, body=body)
            assert isinstance(answer, models.AssignResponse), answer
            (result,) = answer.results
            assert result.customer_id == "12347"
            assert result.status == "assigned"
            assert isinstance(result.segment_id, int)
            assert answer.summary.assigned == 1
            info = get_model.sync(client=api)
            assert isinstance(info, models.ModelInfo), info
            assert isinstance(info.segments[0], models.SegmentInfo)
            assert result.segment_id in {s.id for s in info.segments}
            assert info.version == answer.model_version
    finally:
        sys.path.remove(str(tmp_path))
        for name in [n for n in sys.modules if n == CLIENT or n.startswith(f"{CLIENT}.")]:
            del sys.modules[name]
