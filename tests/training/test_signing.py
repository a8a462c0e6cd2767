"""Signed models (keygen, fit --signing-key, loads with public keys); artifact paths kept in the model dir."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest

from shopper_segments.core import artifact, signing
from shopper_segments.core.errors import ArtifactError
from shopper_segments.training.cli import main
from tests.conftest import ONLINE_RETAIL_SPEC, SAMPLE, train_sample


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    base = tmp_path_factory.mktemp("keys")
    return {name: signing.generate_keypair(base / name) for name in ("ours", "theirs")}


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory, keys: dict[str, tuple[Path, Path]]) -> Path:
    """A model trained by ``fit --signing-key`` (the CLI), as a version directory."""
    out = tmp_path_factory.mktemp("signed")
    args = ["fit", "--input", str(SAMPLE), "--dataset", str(ONLINE_RETAIL_SPEC), "--out", str(out)]
    args += ["--name", "s", "--k", "3", "--n-init", "1", "--no-report", "--signing-key", str(keys["ours"][0])]
    assert main(args) == 0
    (version,) = [p for p in (out / "s").iterdir() if p.is_dir()]
    return version


def copy(model: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(model, tmp_path / model.name))


def test_keygen_writes_a_private_key_only_its_owner_reads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["keygen", "--out", str(tmp_path / "k")]) == 0
    private, public = tmp_path / "k" / signing.PRIVATE_KEY, tmp_path / "k" / signing.PUBLIC_KEY
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert stat.S_IMODE(public.stat().st_mode) == 0o644
    assert private.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    assert "SEGMENTS_MODEL_PUBLIC_KEY" in capsys.readouterr().out
    before = private.read_bytes()
    assert main(["keygen", "--out", str(tmp_path / "k")]) == 4  # never overwritten
    assert "refusing to overwrite" in capsys.readouterr().err
    assert private.read_bytes() == before


def test_fit_signs_the_exact_manifest_bytes_and_the_key_verifies_them(
    signed: Path, keys: dict[str, tuple[Path, Path]]
) -> None:
    signature = (signed / signing.SIGNATURE).read_bytes()
    assert len(signature) == 64  # the raw Ed25519 signature
    public = signing.load_public_keys(keys["ours"][1])[0]
    public.verify(signature, (signed / artifact.MANIFEST).read_bytes())
    assert artifact.load_verified(signed, signing.load_public_keys(keys["ours"][1])).metadata.name == "s"
    assert not [p for p in signed.parent.iterdir() if p.name.startswith(".tmp-")]


def test_either_of_two_keys_in_one_file_verifies(
    signed: Path, keys: dict[str, tuple[Path, Path]], tmp_path: Path
) -> None:
    both = tmp_path / "both.pem"
    both.write_bytes(keys["theirs"][1].read_bytes() + keys["ours"][1].read_bytes())
    artifact.load_verified(signed, signing.load_public_keys(both))


def test_unsigned_and_wrongly_signed_models_are_refused(
    signed: Path, keys: dict[str, tuple[Path, Path]], tmp_path: Path
) -> None:
    ours = signing.load_public_keys(keys["ours"][1])
    unsigned = copy(signed, tmp_path / "unsigned")
    (unsigned / signing.SIGNATURE).unlink()
    artifact.load_verified(unsigned)  # without a key: as before
    with pytest.raises(ArtifactError, match="unsigned model"):
        artifact.load_verified(unsigned, ours)
    other = copy(signed, tmp_path / "other")
    signing.sign_manifest(other, signing.load_private_key(keys["theirs"][0]))
    with pytest.raises(ArtifactError, match="does not verify with the configured public key"):
        artifact.load_verified(other, ours)
    edited = copy(signed, tmp_path / "edited")
    manifest = edited / artifact.MANIFEST
    manifest.write_bytes(manifest.read_bytes().replace(b"\n", b"\r\n", 1))  # bytes changed, same listing
    with pytest.raises(ArtifactError, match="does not verify"):
        artifact.load_verified(edited, ours)
    garbage = copy(signed, tmp_path / "garbage")
    (garbage / signing.SIGNATURE).write_bytes(b"not a signature")
    with pytest.raises(ArtifactError, match="does not verify"):
        artifact.load_verified(garbage, ours)


def test_a_key_file_that_is_not_an_ed25519_public_key_is_refused(tmp_path: Path) -> None:
    (tmp_path / "none.pem").write_text("hello\n")
    with pytest.raises(ArtifactError, match="holds no PEM public key"):
        signing.load_public_keys(tmp_path / "none.pem")
    with pytest.raises(ArtifactError, match="cannot be read"):
        signing.load_public_keys(tmp_path / "absent.pem")


def test_bulk_assign_checks_the_signature_with_public_key(
    signed: Path, keys: dict[str, tuple[Path, Path]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["assign", "--model", str(signed), "--input", str(SAMPLE), "--dataset", str(ONLINE_RETAIL_SPEC)]
    args += ["--output", str(tmp_path / "out.csv"), "--no-progress", "--public-key"]
    assert main([*args, str(keys["theirs"][1])]) == 4
    assert "does not verify" in capsys.readouterr().err
    assert not (tmp_path / "out.csv").exists()
    assert main([*args, str(keys["ours"][1])]) == 0


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path, _ = train_sample(tmp_path_factory.mktemp("plain"), k=3, n_init=1)
    return path


def test_a_pipeline_symlinked_outside_the_model_dir_is_refused(plain: Path, tmp_path: Path) -> None:
    model = copy(plain, tmp_path / "models")
    outside = tmp_path / "elsewhere.joblib"
    shutil.copyfile(model / artifact.PIPELINE, outside)  # the same bytes: every checksum matches
    (model / artifact.PIPELINE).unlink()
    os.symlink(outside, model / artifact.PIPELINE)
    with pytest.raises(ArtifactError, match=r"pipeline\.joblib resolves to .*outside the model directory"):
        artifact.load_verified(model)
    (model / artifact.PIPELINE).unlink()
    os.symlink(Path("..") / model.name / "kept.joblib", model / artifact.PIPELINE)
    shutil.copyfile(outside, model / "kept.joblib")  # a symlink that stays inside is fine
    artifact.load_verified(model)


def test_a_manifest_naming_a_path_is_refused(plain: Path, tmp_path: Path) -> None:
    model = copy(plain, tmp_path / "models")
    manifest = model / artifact.MANIFEST
    manifest.write_text(manifest.read_text() + f"{'0' * 64}  ..\n", encoding="utf-8")
    with pytest.raises(ArtifactError, match=r"'\.\.' is not a plain file name"):
        artifact.load_verified(model)
