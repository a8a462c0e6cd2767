"""Versioned model directories: atomic save, verified load.

A model directory holds ``pipeline.joblib`` (the fitted scaler + K-means),
``assignments.parquet`` (the training customers' segments and features),
``metadata.json`` (the model contract, :class:`segments_core.contract.ModelMetadata`:
provenance, features, selection scores, segments, and the sha256 of every artifact)
and ``MANIFEST.sha256`` (the sha256 of ``metadata.json`` and of every artifact,
written last; with a signing key, ``MANIFEST.sha256.sig`` signs it, see
:mod:`segments_core.signing`). A model name directory (``models/<name>/``) holds versions and a
``LATEST`` file naming the current one.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import platform
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import joblib
import numpy as np
import pandas as pd
import sklearn
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sklearn.pipeline import Pipeline

from shopper_segments.core import contract, signing
from shopper_segments.core.contract import ModelMetadata
from shopper_segments.core.errors import ArtifactError
from shopper_segments.core.manifest import (
    MANIFEST,
    confined,
    read_manifest,
    read_verified,
    sha256_file,
    verify_file,
    verify_manifest,
    write_manifest,
)
from shopper_segments.core.model import SegmentModel

__all__ = [
    "ASSIGNMENTS",
    "LATEST",
    "MANIFEST",
    "METADATA",
    "PIPELINE",
    "SCHEMA_VERSION",
    "Verified",
    "load_model",
    "load_verified",
    "read_metadata",
    "resolve_model_dir",
    "save_model",
    "sha256_file",
    "write_manifest",
]

METADATA = "metadata.json"
PIPELINE = "pipeline.joblib"
ASSIGNMENTS = "assignments.parquet"
LATEST = "LATEST"
SCHEMA_VERSION = contract.SCHEMA_VERSION  # 3: + the RFM edges, identity evidence, currency and k-range fields


def library_versions() -> dict[str, str]:
    return {
        "python": platform.python_version(),
        "scikit-learn": sklearn.__version__,
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "joblib": joblib.__version__,
    }


def save_model(
    root: Path,
    name: str,
    version: str,
    pipeline: Pipeline,
    metadata: dict[str, Any],
    assignments: pd.DataFrame,
    extras: Callable[[Path], object] | None = None,
    signing_key: Ed25519PrivateKey | None = None,
) -> Path:
    """Write a model version atomically and point ``LATEST`` at it.

    Everything is written to a temporary directory beside the target, then renamed
    into place, so a crash never leaves a partial model directory behind.
    ``metadata`` (without ``artifacts``, which is added here) is parsed as
    :class:`~segments_core.contract.ModelMetadata` and written as the model dumps it,
    so what training writes always parses at load. ``extras``, when given, is called
    with the temporary directory once the artifacts and metadata are in it (the report
    is written this way); the files it adds are derived views, not loaded by the
    service, and are not checksummed. ``MANIFEST.sha256`` is written after the metadata
    and artifacts it covers, before ``extras``; with ``signing_key``, ``MANIFEST.sha256.sig``
    (its Ed25519 signature) right after it, before the rename.

    Raises
    ------
    MetadataError
        ``metadata`` does not follow the contract (nothing is written).
    """
    target_parent = root / name
    target_parent.mkdir(parents=True, exist_ok=True)
    final = target_parent / version
    if final.exists():
        raise ArtifactError(f"model version {final} already exists")
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{version}-", dir=target_parent))
    try:
        joblib.dump(pipeline, tmp / PIPELINE)
        assignments.to_parquet(tmp / ASSIGNMENTS, index=False)
        meta = dict(metadata)
        meta["artifacts"] = {f: sha256_file(tmp / f) for f in (PIPELINE, ASSIGNMENTS)}
        text = json.dumps(meta, default=_json_default)
        typed = contract.parse_metadata(text, f"the metadata of {version}")
        (tmp / METADATA).write_text(typed.to_json(), encoding="utf-8")
        write_manifest(tmp)  # last of what the service loads; the report below reads it verified
        if signing_key is not None:
            signing.sign_manifest(tmp, signing_key)
        if extras is not None:
            extras(tmp)
        os.chmod(tmp, 0o755)
        tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _write_atomic(target_parent / LATEST, version + "\n")
    return final


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp_name = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        os.fchmod(fd, 0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp_name, path)
    except BaseException:  # a signal or a full disk: no stray .tmp-* file beside the versions
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def resolve_model_dir(path: Path) -> Path:
    """A model version directory, following a name directory's ``LATEST``."""
    if (path / METADATA).is_file():
        return path
    latest = path / LATEST
    if latest.is_file():
        version = latest.read_text(encoding="utf-8").strip()
        if not version or "/" in version or version.startswith("."):
            raise ArtifactError(f"{latest} names an invalid version {version!r}")
        return path / version
    raise ArtifactError(f"{path} is not a model directory: no {METADATA} and no {LATEST}")


def read_metadata(model_dir: Path, manifest: bytes | None = None) -> ModelMetadata:
    """The verified, parsed metadata of a model version directory (nothing is unpickled).

    ``manifest``: the manifest's bytes when already read (and their signature checked);
    the metadata is read once, and the bytes checked against the manifest are parsed.

    Raises
    ------
    ArtifactError
        No metadata, no manifest, or a metadata file the manifest does not match.
    MetadataError
        The metadata does not follow the contract (``errors`` names the fields).
    """
    meta_path = confined(model_dir, METADATA)
    if not meta_path.is_file():
        raise ArtifactError(f"{model_dir}: missing {METADATA}; refusing to load the model")
    listed = read_manifest(model_dir, manifest)
    data = read_verified(model_dir, METADATA, listed[METADATA], MANIFEST)
    return contract.parse_metadata(data, str(meta_path))


class Verified(NamedTuple):
    """A loaded, verified model version."""

    metadata: ModelMetadata
    pipeline: Pipeline
    model: SegmentModel


def load_verified(model_dir: Path, public_keys: list[Ed25519PublicKey] | None = None) -> Verified:
    """Load and verify a model directory.

    Checks, before unpickling anything: with ``public_keys``, that one of them signed the
    manifest (before the metadata is read); that every file is a plain name inside the
    directory (symlinks resolved); the manifest matches ``metadata.json``, the
    metadata follows the contract (the feature definition is one this code knows), the
    recorded scikit-learn version equals the installed one, and every artifact's sha256
    matches the metadata and the manifest.

    Raises
    ------
    ArtifactError
        With a message naming the failed check (:class:`MetadataError` for the contract).
    """
    model_dir = resolve_model_dir(model_dir)
    manifest = None
    if public_keys is not None:
        manifest = signing.verify_manifest_signature(model_dir, public_keys)
    meta = read_metadata(model_dir, manifest)
    recorded = meta.libraries.scikit_learn
    if recorded != sklearn.__version__:
        raise ArtifactError(
            f"{model_dir}: trained with scikit-learn {recorded}, installed is "
            f"{sklearn.__version__}; retrain the model or install scikit-learn=={recorded}"
        )
    for fname, expected in meta.artifacts.by_file().items():
        verify_file(model_dir, fname, expected, "metadata")
    verify_manifest(model_dir, data=manifest)
    spec = meta.spec()
    blob = read_verified(model_dir, PIPELINE, meta.artifacts.pipeline, "metadata")  # what is unpickled
    try:
        pipeline = joblib.load(io.BytesIO(blob))
        model = SegmentModel.from_pipeline(spec, pipeline)
    except Exception as exc:  # an unpickling failure can raise nearly anything
        raise ArtifactError(f"{model_dir}: {PIPELINE} cannot be loaded: {exc}") from exc
    if model.centroids_.shape != (len(meta.segments), len(spec.names)):
        raise ArtifactError(f"{model_dir}: pipeline shape does not match the metadata")
    return Verified(meta, pipeline, model)


def load_model(
    model_dir: Path, public_keys: list[Ed25519PublicKey] | None = None
) -> tuple[dict[str, Any], Pipeline, SegmentModel]:
    """:func:`load_verified`, with the metadata as a plain JSON-ready dict (training tools)."""
    meta, pipeline, model = load_verified(model_dir, public_keys)
    return meta.to_dict(), pipeline, model
