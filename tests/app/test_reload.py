"""POST /v1/admin/reload in-process: swaps, refusals with the old model serving on, path rules."""

from __future__ import annotations

import json
import os
import pickle
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from shopper_segments.app import microbatch
from shopper_segments.app.config import Settings
from shopper_segments.app.main import create_app
from shopper_segments.core.artifact import sha256_file, write_manifest
from tests.app.two_models import TwoModels, expected_results, request_body, train_two

KEY = "admin-key-for-tests"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> TwoModels:
    return train_two(tmp_path_factory.mktemp("reload"))


@pytest.fixture(scope="module")
def expected(models: TwoModels) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    body = request_body(6)
    return body, expected_results(models, body)


@pytest.fixture
def client(models: TwoModels) -> Iterator[TestClient]:
    """A fresh app serving model ``a`` (LATEST reset), admin key configured."""
    models.point_latest(models.a)
    # No LATEST watch thread: these tests flip LATEST and reload by hand (the watch has its own tests).
    settings = Settings(model_root=models.root, model_dir=models.name_dir, admin_key=KEY, watch_interval_s=0)
    with TestClient(create_app(settings)) as test_client:
        assert test_client.get("/readyz").json()["model_version"] == models.a
        yield test_client


def reload(client: TestClient, model_dir: str | None = None) -> Any:
    return client.post(
        "/v1/admin/reload", json={} if model_dir is None else {"model_dir": model_dir}, headers=AUTH
    )


def assert_serving(client: TestClient, version: str, expected: tuple[dict[str, Any], dict]) -> None:
    """The named version serves /v1/model and answers /v1/assign exactly as it should."""
    body, results = expected
    assert client.get("/v1/model").json()["version"] == version
    answer = client.post("/v1/assign", json=body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["model_version"] == version
    assert answer.json()["results"] == results[version]


def test_the_two_models_answer_differently(expected: tuple[dict[str, Any], dict]) -> None:
    """Otherwise a swap could not be seen in the answers."""
    _, results = expected
    a, b = results.values()
    assert [(r["segment_id"], r["segment_name"]) for r in a] != [
        (r["segment_id"], r["segment_name"]) for r in b
    ]


def test_reload_swaps_both_ways_and_re_resolves_latest(
    client: TestClient, models: TwoModels, expected: tuple[dict[str, Any], dict]
) -> None:
    r = reload(client, models.rel(models.b))
    assert r.status_code == 200, r.text
    assert r.json() == {
        "model_version": models.b,
        "previous_version": models.a,
        "model_dir": models.rel(models.b),
    }
    assert_serving(client, models.b, expected)
    r = reload(client)  # no model_dir: the configured dir's LATEST, still a
    assert r.json()["model_version"] == models.a
    assert_serving(client, models.a, expected)
    models.point_latest(models.b)
    r = client.post("/v1/admin/reload", headers=AUTH)  # no body at all
    assert r.status_code == 200, r.text
    assert (r.json()["previous_version"], r.json()["model_version"]) == (models.a, models.b)
    assert_serving(client, models.b, expected)


def evil_pickle(marker: Path) -> bytes:
    """A pickle that creates ``marker`` when loaded: the proof that loading it would run code."""

    class Evil:
        def __reduce__(self) -> tuple[Any, ...]:
            return (os.mkdir, (str(marker),))

    return pickle.dumps(Evil())


def variant(models: TwoModels, name: str) -> Path:
    """A copy of model b under the model root, to damage."""
    path = models.root / "variants" / name
    shutil.copytree(models.name_dir / models.b, path)
    return path


def edit_metadata(path: Path, section: str, field: str, value: Any) -> None:
    """Change one metadata value and re-sign the manifest (as a careful forger would)."""
    meta = json.loads((path / "metadata.json").read_text())
    meta[section][field] = value
    (path / "metadata.json").write_text(json.dumps(meta, indent=2))
    write_manifest(path)


def unsigned_metadata_edit(models: TwoModels, marker: Path) -> Path:
    """A one-byte change to metadata.json, the manifest left as it was."""
    path = variant(models, "unsigned-metadata-edit")
    text = (path / "metadata.json").read_text()
    (path / "metadata.json").write_text(text.replace('"name": "', '"name": "X', 1))
    return path


def tampered(models: TwoModels, marker: Path) -> Path:
    path = variant(models, "tampered")
    (path / "pipeline.joblib").write_bytes(evil_pickle(marker))
    return path


def truncated(models: TwoModels, marker: Path) -> Path:
    path = variant(models, "truncated")
    data = (path / "pipeline.joblib").read_bytes()
    (path / "pipeline.joblib").write_bytes(data[: len(data) // 2])
    return path


def no_metadata(models: TwoModels, marker: Path) -> Path:
    path = variant(models, "no-metadata")
    (path / "metadata.json").unlink()
    return path


def version_mismatch(models: TwoModels, marker: Path) -> Path:
    path = variant(models, "version-mismatch")
    edit_metadata(path, "libraries", "scikit-learn", "0.0.1")  # and nothing else
    return path


def version_mismatch_evil(models: TwoModels, marker: Path) -> Path:
    """Checksum fixed up for an evil pickle: only the version check stands before unpickling."""
    path = variant(models, "version-mismatch-evil")
    (path / "pipeline.joblib").write_bytes(evil_pickle(marker))
    edit_metadata(path, "artifacts", "pipeline.joblib", sha256_file(path / "pipeline.joblib"))
    edit_metadata(path, "libraries", "scikit-learn", "0.0.1")
    return path


REFUSALS = {
    "tampered": (tampered, "pipeline.joblib sha256 .* does not match the metadata"),
    "truncated": (truncated, "pipeline.joblib sha256 .* the file was altered or truncated"),
    "no-metadata": (no_metadata, "no metadata.json"),
    "version-mismatch": (version_mismatch, "trained with scikit-learn 0.0.1, installed is 1\\."),
    "version-mismatch-evil": (version_mismatch_evil, "trained with scikit-learn 0.0.1"),
    "unsigned-metadata-edit": (unsigned_metadata_edit, "metadata.json sha256 .* does not match the MANIFEST"),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_a_damaged_model_is_refused_and_the_old_one_serves_on(
    case: str,
    client: TestClient,
    models: TwoModels,
    expected: tuple[dict[str, Any], dict],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    make, reason = REFUSALS[case]
    marker = tmp_path / "pickle-ran"
    path = make(models, marker)
    r = reload(client, path.relative_to(models.root).as_posix())
    assert r.status_code == 409, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["title"] == "Model refused"
    assert re.search(reason, r.json()["detail"]), r.json()["detail"]
    assert not marker.exists(), "the refused pickle was loaded"
    assert any("refused" in m and models.a in m for m in caplog.messages), caplog.messages
    assert_serving(client, models.a, expected)
    shutil.rmtree(path)


def test_the_evil_pickle_would_run_code(tmp_path: Path) -> None:
    """The control for the refusals above: loading that pickle does create the marker."""
    marker = tmp_path / "pickle-ran"
    pickle.loads(evil_pickle(marker))
    assert marker.is_dir()


def test_a_model_not_reproducing_its_training_assignments_is_refused(
    client: TestClient, models: TwoModels, expected: tuple[dict[str, Any], dict]
) -> None:
    path = variant(models, "relabelled")
    recorded = pd.read_parquet(path / "assignments.parquet")
    recorded["segment_id"] = (recorded["segment_id"] + 1) % recorded["segment_id"].nunique()
    recorded.to_parquet(path / "assignments.parquet", index=False)
    edit_metadata(path, "artifacts", "assignments.parquet", sha256_file(path / "assignments.parquet"))
    r = reload(client, path.relative_to(models.root).as_posix())
    assert r.status_code == 409, r.text
    assert "training customers to another segment than recorded" in r.json()["detail"]
    assert_serving(client, models.a, expected)
    shutil.rmtree(path)


@pytest.mark.parametrize(
    ("model_dir", "message"),
    [
        ("/etc", "not an absolute path"),
        ("../outside", "must not contain '..'"),
        ("shop/../../outside", "must not contain '..'"),
        ("shop/\x00", "NUL"),
        ("", "at least 1 character"),
    ],
)
def test_paths_leaving_the_model_root_are_refused(
    client: TestClient, models: TwoModels, model_dir: str, message: str
) -> None:
    r = reload(client, model_dir)
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == "model_dir"
    assert message in r.json()["errors"][0]["message"]
    assert client.get("/v1/model").json()["version"] == models.a


def test_a_symlink_out_of_the_root_and_a_missing_dir_are_refused(
    client: TestClient, models: TwoModels, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    shutil.copytree(models.name_dir / models.b, outside)
    (models.root / "link").symlink_to(outside)
    try:
        r = reload(client, "link")
        assert r.status_code == 409
        assert "outside the model root" in r.json()["detail"]
    finally:
        (models.root / "link").unlink()
    r = reload(client, "no-such-model")
    assert r.status_code == 409
    assert "is not a model directory" in r.json()["detail"]
    assert client.get("/v1/model").json()["version"] == models.a


def test_reload_needs_the_admin_key(client: TestClient, models: TwoModels) -> None:
    body = {"model_dir": models.rel(models.b)}
    missing = client.post("/v1/admin/reload", json=body)
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"].startswith("Bearer")
    wrong = client.post("/v1/admin/reload", json=body, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401  # not a valid key at all (403 is for a valid API key)
    assert client.get("/v1/model").json()["version"] == models.a


def test_reload_is_disabled_without_an_admin_key(models: TwoModels) -> None:
    settings = Settings(model_root=models.root, model_dir=models.name_dir)
    with TestClient(create_app(settings)) as c:
        r = c.post("/v1/admin/reload", json={"model_dir": models.rel(models.b)}, headers=AUTH)
        assert r.status_code == 403
        assert "no admin key is configured" in r.json()["detail"]
        assert c.get("/v1/model").json()["version"] == models.a


@pytest.mark.parametrize("upload", [False, True], ids=["json", "csv-upload"])
def test_a_swap_mid_request_leaves_the_answer_wholly_to_the_first_version(
    upload: bool,
    client: TestClient,
    models: TwoModels,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Swap right after the segments are computed: explanations (and CSV columns) stay the first model's."""
    segmenter = client.app.state.segmenter  # type: ignore[attr-defined]
    # what each route calls to assign: the upload route the segmenter, JSON bodies the batcher
    owner, name = (segmenter, "assign_arrays") if upload else (microbatch, "assign_customers")
    original = getattr(owner, name)

    def assign_then_swap(*args: Any, **kwargs: Any) -> Any:
        answer = original(*args, **kwargs)
        segmenter.load(models.name_dir / models.b)
        return answer

    monkeypatch.setattr(owner, name, assign_then_swap)
    body = request_body(3)
    if upload:
        lines = [{"customer_id": c["customer_id"], **t} for c in body["customers"] for t in c["transactions"]]
        csv = pd.DataFrame(lines).to_csv(index=False)
        r = client.post(
            "/v1/assign",
            params={"explain": "true", "as_of": body["as_of"]},
            content=csv,
            headers={"content-type": "text/csv"},
        )
        assert r.status_code == 200, r.text
        answer = r.json()
    else:
        r = client.post("/v1/assign", params={"explain": "true"}, json=body)
        assert r.status_code == 200, r.text
        answer = r.json()
    assert answer["model_version"] == models.a
    assert client.get("/v1/model").json()["version"] == models.b  # the swap did happen
    logged = [
        r for r in caplog.records if r.name == "segments.access" and getattr(r, "path", "") == "/v1/assign"
    ]
    assert getattr(logged[-1], "model_version", None) == models.a  # the access log names it too
    for result in answer["results"]:
        why = result.get("explanation")
        assert why is not None, "the explanation was dropped"
        assert why["squared_distance"] == pytest.approx(result["distance"] ** 2)


def test_a_service_that_started_without_a_model_becomes_ready_by_reload(models: TwoModels) -> None:
    settings = Settings(model_root=models.root, model_dir=models.root / "missing", admin_key=KEY)
    with TestClient(create_app(settings)) as c:
        assert c.get("/readyz").status_code == 503
        r = reload(c, models.rel(models.b))
        assert r.status_code == 200, r.text
        assert r.json()["previous_version"] is None
        assert c.get("/readyz").json() == {"status": "ready", "model_version": models.b}


def test_the_latest_watch_follows_latest_and_tries_a_broken_version_once(
    client: TestClient,
    models: TwoModels,
    expected: tuple[dict[str, Any], dict],
    caplog: pytest.LogCaptureFixture,
) -> None:
    watcher = client.app.state.watcher  # type: ignore[attr-defined]
    assert watcher.check() is False  # LATEST still names the serving version
    models.point_latest(models.b)
    assert watcher.check() is True
    assert_serving(client, models.b, expected)
    assert "reload (LATEST changed): now serving" in caplog.text
    broken = models.name_dir / "broken"
    shutil.copytree(models.name_dir / models.a, broken)
    (broken / "pipeline.joblib").write_bytes(b"not a pickle")
    try:
        models.point_latest("broken")
        assert watcher.check() is True
        assert watcher.check() is False  # refused once, logged once, not retried every poll
        assert caplog.text.count("reload (LATEST changed) of") == 1
        assert_serving(client, models.b, expected)
        models.point_latest(models.a)
        assert watcher.check() is True
        assert_serving(client, models.a, expected)
    finally:
        shutil.rmtree(broken)


def test_an_admin_reload_is_passed_on_to_the_workers_sharing_a_directory(
    models: TwoModels, expected: tuple[dict[str, Any], dict], tmp_path: Path
) -> None:
    """Two workers in one process: the admin reload of one is loaded by the other's watch."""
    models.point_latest(models.a)
    settings = Settings(model_root=models.root, model_dir=models.name_dir, admin_key=KEY, watch_interval_s=0)
    with TestClient(create_app(settings)) as first, TestClient(create_app(settings)) as second:
        for c in (first, second):  # what app.serve sets up for several workers
            c.app.state.metrics.shared_dir = tmp_path  # type: ignore[attr-defined]
            c.app.state.watcher.shared_dir = tmp_path  # type: ignore[attr-defined]
        r = reload(first, models.rel(models.b))
        assert r.status_code == 200, r.text
        assert first.app.state.watcher.check() is False  # type: ignore[attr-defined]  # its own request
        assert second.app.state.watcher.check() is True  # type: ignore[attr-defined]
        assert second.app.state.watcher.check() is False  # type: ignore[attr-defined]  # once
        for c in (first, second):
            assert_serving(c, models.b, expected)
        models.point_latest(models.a)  # LATEST unchanged since start (a): the watch sees no change
        assert second.app.state.watcher.check() is False  # type: ignore[attr-defined]


def test_the_watch_does_not_undo_a_later_explicit_reload(
    client: TestClient, models: TwoModels, expected: tuple[dict[str, Any], dict]
) -> None:
    """LATEST flipped, then (before the next poll) an operator reloads a given version: it stays."""
    watcher = client.app.state.watcher  # type: ignore[attr-defined]
    models.point_latest(models.b)
    assert reload(client, models.rel(models.a)).status_code == 200
    assert watcher.check() is False
    assert_serving(client, models.a, expected)
    models.point_latest(models.a)
    assert watcher.check() is False  # LATEST names what serves already
    models.point_latest(models.b)  # a flip after the reload is followed
    assert watcher.check() is True
    assert_serving(client, models.b, expected)
