"""SEGMENTS_MODEL_PUBLIC_KEY: only signed models load; refusals come before anything is unpickled."""

from __future__ import annotations

import json
import os
import pickle
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from shopper_segments.app.config import Settings
from shopper_segments.app.main import create_app
from shopper_segments.core import signing
from shopper_segments.core.artifact import MANIFEST, PIPELINE, sha256_file, write_manifest
from tests.app.two_models import TwoModels, request_body, train_two

KEY = "admin-key-for-tests"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    base = tmp_path_factory.mktemp("keys")
    return {name: signing.generate_keypair(base / name) for name in ("ours", "theirs")}


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory, keys: dict[str, tuple[Path, Path]]) -> TwoModels:
    """Models a and b, both signed with our key (as ``fit --signing-key`` signs)."""
    models = train_two(tmp_path_factory.mktemp("signed"))
    ours = signing.load_private_key(keys["ours"][0])
    for version in (models.a, models.b):
        signing.sign_manifest(models.name_dir / version, ours)
    return models


def settings(models: TwoModels, public_key: Path, model_dir: Path | None = None) -> Settings:
    return Settings(
        model_root=models.root,
        model_dir=model_dir or models.name_dir,
        admin_key=KEY,
        model_public_key=public_key,
    )


@pytest.fixture
def client(models: TwoModels, keys: dict[str, tuple[Path, Path]]) -> Iterator[TestClient]:
    models.point_latest(models.a)
    with TestClient(create_app(settings(models, keys["ours"][1]))) as test_client:
        assert test_client.get("/readyz").json()["model_version"] == models.a
        yield test_client


def reload(client: TestClient, models: TwoModels, path: Path) -> Any:
    body = {"model_dir": path.relative_to(models.root).as_posix()}
    return client.post("/v1/admin/reload", json=body, headers=AUTH)


def assert_serving(client: TestClient, version: str) -> None:
    answer = client.post("/v1/assign", json=request_body(3))
    assert answer.status_code == 200, answer.text
    assert answer.json()["model_version"] == version


def variant(models: TwoModels, name: str) -> Path:
    """A copy of the signed model b under the model root, to damage."""
    path = models.root / "variants" / name
    shutil.rmtree(path, ignore_errors=True)
    shutil.copytree(models.name_dir / models.b, path)
    return path


def evil_pickle(path: Path, marker: Path) -> None:
    """Replace the pipeline by a pickle that creates ``marker`` when loaded; fix every checksum."""

    class Evil:
        def __reduce__(self) -> tuple[Any, ...]:
            return (os.mkdir, (str(marker),))

    (path / PIPELINE).write_bytes(pickle.dumps(Evil()))
    meta = json.loads((path / "metadata.json").read_text())
    meta["artifacts"][PIPELINE] = sha256_file(path / PIPELINE)
    (path / "metadata.json").write_text(json.dumps(meta))
    write_manifest(path)  # the signature, made over the old manifest, no longer matches


def unsigned(models: TwoModels, keys: dict, marker: Path) -> Path:
    path = variant(models, "unsigned")
    (path / signing.SIGNATURE).unlink()
    return path


def other_key(models: TwoModels, keys: dict, marker: Path) -> Path:
    path = variant(models, "other-key")
    signing.sign_manifest(path, signing.load_private_key(keys["theirs"][0]))
    return path


def manifest_edited(models: TwoModels, keys: dict, marker: Path) -> Path:
    path = variant(models, "manifest-edited")
    manifest = path / MANIFEST
    manifest.write_bytes(manifest.read_bytes() + b"\n")
    return path


def evil_pickle_resigned_checksums(models: TwoModels, keys: dict, marker: Path) -> Path:
    path = variant(models, "evil-pickle")
    evil_pickle(path, marker)
    return path


def evil_pickle_unsigned(models: TwoModels, keys: dict, marker: Path) -> Path:
    path = variant(models, "evil-pickle-unsigned")
    evil_pickle(path, marker)
    (path / signing.SIGNATURE).unlink()
    return path


def evil_pickle_signed_by_another_key(models: TwoModels, keys: dict, marker: Path) -> Path:
    path = variant(models, "evil-pickle-their-key")
    evil_pickle(path, marker)
    signing.sign_manifest(path, signing.load_private_key(keys["theirs"][0]))
    return path


NOT_VERIFIED = "MANIFEST.sha256.sig does not verify with the configured public key"
REFUSALS = {
    "unsigned": (unsigned, "unsigned model"),
    "other-key": (other_key, NOT_VERIFIED),
    "manifest-edited": (manifest_edited, NOT_VERIFIED),
    "evil-pickle": (evil_pickle_resigned_checksums, NOT_VERIFIED),
    "evil-pickle-unsigned": (evil_pickle_unsigned, "unsigned model"),
    "evil-pickle-their-key": (evil_pickle_signed_by_another_key, NOT_VERIFIED),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_a_model_our_key_did_not_sign_is_refused_before_unpickling(
    case: str,
    client: TestClient,
    models: TwoModels,
    keys: dict[str, tuple[Path, Path]],
    tmp_path: Path,
) -> None:
    make, reason = REFUSALS[case]
    marker = tmp_path / "pickle-ran"
    path = make(models, keys, marker)
    r = reload(client, models, path)
    assert r.status_code == 409, r.text
    assert r.json()["title"] == "Model refused"
    assert reason in r.json()["detail"], r.json()["detail"]
    assert not marker.exists(), "the refused pickle was loaded"
    assert_serving(client, models.a)


def test_the_evil_pickle_loads_without_a_key(models: TwoModels, tmp_path: Path) -> None:
    """The control: without SEGMENTS_MODEL_PUBLIC_KEY the forged checksums pass and the pickle runs."""
    marker = tmp_path / "pickle-ran"
    path = variant(models, "evil-control")
    evil_pickle(path, marker)
    app = create_app(Settings(model_root=models.root, model_dir=models.name_dir, admin_key=KEY))
    with TestClient(app) as client:
        assert reload(client, models, path).status_code == 409  # not a pipeline, after it ran
    assert marker.is_dir()


def test_a_signed_model_reloads(client: TestClient, models: TwoModels) -> None:
    r = reload(client, models, models.name_dir / models.b)
    assert r.status_code == 200, r.text
    assert_serving(client, models.b)


def test_a_pipeline_symlinked_outside_is_refused(client: TestClient, models: TwoModels) -> None:
    path = variant(models, "symlinked")
    outside = models.root.parent / "outside.joblib"
    shutil.move(path / PIPELINE, outside)  # the same bytes: checksums and signature all match
    os.symlink(outside, path / PIPELINE)
    r = reload(client, models, path)
    assert r.status_code == 409, r.text
    assert "outside the model directory" in r.json()["detail"]
    assert_serving(client, models.a)


def test_an_unsigned_model_at_startup_leaves_the_service_not_ready(
    models: TwoModels, keys: dict[str, tuple[Path, Path]], tmp_path: Path
) -> None:
    path = unsigned(models, keys, tmp_path / "unused")
    with TestClient(create_app(settings(models, keys["ours"][1], path))) as client:
        r = client.get("/readyz")
        assert r.status_code == 503, r.text
        assert client.post("/v1/assign", json=request_body(1)).status_code == 503
