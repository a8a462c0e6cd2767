"""Access control: API keys on /v1, the admin key on admin endpoints, health open."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from shopper_segments.app.config import Settings
from shopper_segments.app.main import create_app
from shopper_segments.app.security import matches
from tests.conftest import ADMIN_KEY, API_KEY, OTHER_API_KEY, Server

ADMIN = "/v1/admin/reload"  # without a body it reloads the configured model (the same one)


def build(sample_model: tuple[Path, dict], **keys: object) -> TestClient:
    path, _ = sample_model
    return TestClient(create_app(Settings(model_root=path.parent.parent, model_dir=path.parent, **keys)))


@pytest.fixture(scope="module")
def client(sample_model: tuple[Path, dict]) -> Iterator[TestClient]:
    with build(sample_model, api_keys=[API_KEY, OTHER_API_KEY], admin_key=ADMIN_KEY) as c:
        yield c


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def assert_problem(r: httpx.Response, status: int) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["status"] == status


def test_health_and_metrics_endpoints_are_open(client: TestClient) -> None:
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200
    assert client.get("/metrics").status_code == 200


@pytest.mark.parametrize("path", ["/v1/segments", "/v1/model", "/v1/drift"])
def test_v1_without_a_key_is_401_with_a_challenge(client: TestClient, path: str) -> None:
    r = client.get(path)
    assert_problem(r, 401)
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert "API key is required" in r.json()["detail"]


def test_assign_without_a_key_is_401_before_the_body_is_validated(client: TestClient) -> None:
    assert_problem(client.post("/v1/assign", json={"customers": []}), 401)
    csv = b"customer_id,timestamp,amount\na,2011-01-01T00:00:00,1.0\n"
    assert_problem(client.post("/v1/assign", content=csv, headers={"Content-Type": "text/csv"}), 401)


@pytest.mark.parametrize(
    "headers",
    [bearer("wrong"), {"X-API-Key": "wrong"}, bearer(API_KEY + "x"), bearer(API_KEY[:-1]), {"X-API-Key": ""}],
)
def test_unknown_key_is_401(client: TestClient, headers: dict[str, str]) -> None:
    r = client.get("/v1/segments", headers=headers)
    assert_problem(r, 401)
    assert r.headers["www-authenticate"] == 'Bearer realm="segments"'


def test_basic_auth_scheme_is_not_a_key(client: TestClient) -> None:
    assert_problem(client.get("/v1/segments", headers={"Authorization": f"Basic {API_KEY}"}), 401)


@pytest.mark.parametrize(
    "headers", [bearer(API_KEY), bearer(OTHER_API_KEY), {"X-API-Key": API_KEY}, bearer(ADMIN_KEY)]
)
def test_valid_keys_and_the_admin_key_open_v1(client: TestClient, headers: dict[str, str]) -> None:
    r = client.get("/v1/segments", headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["segments"]


def test_admin_endpoint_without_a_key_is_401(client: TestClient) -> None:
    r = client.post(ADMIN)
    assert_problem(r, 401)
    assert "WWW-Authenticate" in r.headers


def test_admin_endpoint_with_an_unknown_key_is_401(client: TestClient) -> None:
    assert_problem(client.post(ADMIN, headers=bearer("nope")), 401)


def test_admin_endpoint_with_an_api_key_is_403(client: TestClient) -> None:
    r = client.post(ADMIN, headers=bearer(API_KEY))
    assert_problem(r, 403)
    assert "www-authenticate" not in r.headers
    assert "admin key is required" in r.json()["detail"]


@pytest.mark.parametrize("headers", [bearer(ADMIN_KEY), {"X-API-Key": ADMIN_KEY}])
def test_admin_endpoint_with_the_admin_key_passes(client: TestClient, headers: dict[str, str]) -> None:
    r = client.post(ADMIN, headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["model_version"] == r.json()["previous_version"]


def test_without_configured_keys_v1_is_open_and_admin_disabled(sample_model: tuple[Path, dict]) -> None:
    with build(sample_model) as c:
        assert c.get("/v1/segments").status_code == 200
        r = c.post(ADMIN, headers=bearer(ADMIN_KEY))
        assert_problem(r, 403)
        assert "disabled" in r.json()["detail"]


def test_admin_key_alone_leaves_v1_open(sample_model: tuple[Path, dict]) -> None:
    with build(sample_model, admin_key=ADMIN_KEY) as c:
        assert c.get("/v1/segments").status_code == 200
        assert c.post(ADMIN, headers=bearer(ADMIN_KEY)).status_code == 200
        assert_problem(c.post(ADMIN, headers=bearer("x")), 401)


def test_keys_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEGMENTS_API_KEYS", f" {API_KEY} , {OTHER_API_KEY},")
    monkeypatch.setenv("SEGMENTS_ADMIN_KEY", ADMIN_KEY)
    settings = Settings()
    assert [k.get_secret_value() for k in settings.api_keys] == [API_KEY, OTHER_API_KEY]
    assert API_KEY not in repr(settings) and ADMIN_KEY not in repr(settings)
    monkeypatch.setenv("SEGMENTS_API_KEYS", f'["{API_KEY}"]')
    monkeypatch.setenv("SEGMENTS_ADMIN_KEY", " ")
    settings = Settings()
    assert [k.get_secret_value() for k in settings.api_keys] == [API_KEY]
    assert settings.admin_key is None


def test_matches_checks_every_key() -> None:
    from pydantic import SecretStr

    keys = [SecretStr("a"), None, SecretStr("ключ")]
    assert matches("ключ", keys)
    assert matches("a", keys)
    assert not matches("b", keys)
    assert not matches("", keys)


def test_keys_are_never_logged_by_the_real_server(keyed_server: Server) -> None:
    with httpx.Client(base_url=keyed_server.url, timeout=10) as http:
        assert http.get("/healthz").status_code == 200
        assert http.get("/v1/segments").status_code == 401
        assert http.get("/v1/segments", headers=bearer(API_KEY)).status_code == 200
        bad = http.get("/v1/segments", headers=bearer(ADMIN_KEY + "-typo"))
        assert bad.status_code == 401
        assert ADMIN_KEY not in bad.text
    text = keyed_server.log.read_text(encoding="utf-8", errors="replace")
    assert "/v1/segments" in text
    for secret in (API_KEY, OTHER_API_KEY, ADMIN_KEY):
        assert secret not in text
