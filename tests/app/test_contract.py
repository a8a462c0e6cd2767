"""The model contract at reload: each field of metadata.json removed, or given a value of the
wrong type, is refused (409 naming the field) and the serving model answers on, unchanged."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from shopper_segments.app.config import Settings
from shopper_segments.app.main import create_app
from shopper_segments.core.artifact import write_manifest
from tests.conftest import train_sample
from tests.contract_fields import FieldCase, declared, replaced, walk, without

KEY = "admin-key-for-contract-tests"
AUTH = {"Authorization": f"Bearer {KEY}"}
#: Every field the contract declares, as a pattern (``segments[].share``, ``feature_bins.*.edges``).
PATTERNS = sorted(declared())


@dataclass(frozen=True)
class Contract:
    """``root/shop/<serving>`` serves; variants are copies of ``source`` (identity, comparison recorded)."""

    root: Path
    serving: str
    source: Path
    document: dict[str, Any]

    def case(self, pattern: str) -> FieldCase:
        cases = {c.pattern: c for c in walk(self.document)}
        assert pattern in cases, f"the source metadata has no value at {pattern}: the walk cannot test it"
        return cases[pattern]

    def variant(self, name: str, document: dict[str, Any]) -> str:
        """A copy of the source with ``document`` as its metadata, the manifest re-signed."""
        path = self.root / "variants" / name
        shutil.copytree(self.source, path)
        (path / "metadata.json").write_text(json.dumps(document, indent=2))
        write_manifest(path)  # signed: only the contract can refuse it
        return path.relative_to(self.root).as_posix()


@pytest.fixture(scope="session")
def contract(tmp_path_factory: pytest.TempPathFactory) -> Contract:
    root = tmp_path_factory.mktemp("contract")
    first, _ = train_sample(root, name="shop", seed=1, k=3, n_init=2)
    second, _ = train_sample(root, name="shop", seed=2, k=3, n_init=2, compare=True)  # matched to first
    document = json.loads((second / "metadata.json").read_text())
    assert document["identity"] is not None and document["selection"]["comparison"] is not None
    if not document["identity"]["vanished"]:  # so that the walk reaches a vanished segment's fields
        document["identity"]["vanished"] = [{"id": 99, "name": "Gone segment"}]
    source = root / "source"
    shutil.copytree(second, source)
    (source / "metadata.json").write_text(json.dumps(document, indent=2))
    write_manifest(source)
    return Contract(root, first.name, source, document)


@pytest.fixture(scope="module")
def client(contract: Contract) -> Iterator[TestClient]:
    settings = Settings(
        model_root=contract.root, model_dir=contract.root / "shop" / contract.serving, admin_key=KEY
    )
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def reload(client: TestClient, model_dir: str) -> Any:
    return client.post("/v1/admin/reload", json={"model_dir": model_dir}, headers=AUTH)


def assert_refused_naming(response: Any, field: str) -> None:
    assert response.status_code == 409, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["title"] == "Model refused"
    assert field in body["detail"], body["detail"]
    assert field in [e["field"] for e in body.get("errors", [])], body


def assert_serving(client: TestClient, contract: Contract) -> None:
    """The old model answers every route that reads its metadata."""
    names = contract.document["features"]["names"]
    ranges = contract.document["feature_ranges"]
    features = {n: ranges[n]["median"] for n in names}
    answer = client.post("/v1/assign", json={"customers": [{"customer_id": "c", "features": features}]})
    assert answer.status_code == 200, answer.text
    assert answer.json()["model_version"] == contract.serving
    for route in ("/v1/segments", "/v1/drift", "/metrics", "/v1/model"):
        got = client.get(route)
        assert got.status_code == 200, (route, got.text)
    assert client.get("/v1/model").json()["version"] == contract.serving
    assert contract.serving in client.get("/metrics").text


def test_every_declared_field_is_reached_by_the_walk(contract: Contract) -> None:
    """The parametrized refusals below cover every field: none is left out for lack of a value."""
    assert {c.pattern for c in walk(contract.document)} == set(PATTERNS)
    assert len(PATTERNS) > 100


@pytest.mark.parametrize("pattern", PATTERNS)
def test_a_removed_field_is_refused_and_the_old_model_serves_on(
    pattern: str, client: TestClient, contract: Contract
) -> None:
    case = contract.case(pattern)
    model_dir = contract.variant(f"without-{pattern}", without(contract.document, case.keys))
    response = reload(client, model_dir)
    assert_refused_naming(response, case.path)
    assert f"{case.path}: Field required" in response.json()["detail"]
    assert_serving(client, contract)


@pytest.mark.parametrize("pattern", PATTERNS)
def test_a_field_of_the_wrong_type_is_refused_and_the_old_model_serves_on(
    pattern: str, client: TestClient, contract: Contract
) -> None:
    case = contract.case(pattern)
    model_dir = contract.variant(
        f"mistyped-{pattern}", replaced(contract.document, case.keys, case.wrong_value())
    )
    assert_refused_naming(reload(client, model_dir), case.path)
    assert_serving(client, contract)


def test_the_untouched_source_loads(client: TestClient, contract: Contract) -> None:
    """The control: the variants differ from a model that reloads only by their one change."""
    response = reload(client, contract.variant("untouched", contract.document))
    assert response.status_code == 200, response.text
    back = reload(client, f"shop/{contract.serving}")
    assert back.status_code == 200, back.text
    assert_serving(client, contract)


def test_a_segment_without_its_share_names_it(client: TestClient, contract: Contract) -> None:
    response = reload(
        client, contract.variant("no-share-2", without(contract.document, ("segments", 2, "share")))
    )
    assert_refused_naming(response, "segments[2].share")
    assert "segments[2].share: Field required" in response.json()["detail"]
    assert_serving(client, contract)


@pytest.mark.parametrize(
    ("keys", "value", "message"),
    [
        (
            ("feature_bins", "frequency", "edges"),
            ["1", "2"],
            "feature_bins.frequency.edges[0]: Input should be",
        ),
        (("feature_bins", "frequency", "proportions"), [1.0], "proportions for"),
        (("segments", 0, "share"), 1.5, "segments[0].share: Input should be less than or equal to 1"),
        (("segments", 1, "label"), 0, "segments: labels [0, 0, 2]"),
        (("schema_version",), 2, "schema version 2 is not 3"),
        (("segments", 0, "median", "frequency"), None, "what requests read cannot be built"),
    ],
    ids=["bins-as-strings", "bins-inconsistent", "share-above-1", "labels", "schema-1", "derived-fails"],
)
def test_values_that_parse_as_json_but_break_the_model_are_refused(
    keys: tuple[str | int, ...], value: Any, message: str, client: TestClient, contract: Contract
) -> None:
    name = "-".join(map(str, keys)) + "-" + json.dumps(value)
    response = reload(client, contract.variant(name, replaced(contract.document, keys, value)))
    assert response.status_code == 409, response.text
    assert message in response.json()["detail"], response.json()["detail"]
    assert_serving(client, contract)
