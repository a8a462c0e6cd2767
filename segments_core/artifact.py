"""Versioned model directories: atomic save, verified load.

A model directory holds ``pipeline.joblib`` (the fitted scaler + K-means),
``assignments.parquet`` (the training customers' segments and features),
``metadata.json`` (the model contract, :class:`segments_core.contract.ModelMetadata`:
provenance, features, selection scores, segments, and the sha256 of every artifact)
and ``MANIFEST.sha256`` (the sha256 of ``metadata.json`` and of every artifact,
written last). A model name directory (``models/<name>/``) holds versions and a
``LATEST`` file naming the current one.
"""

from __future__ import annotations

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
from sklearn.pipeline import Pipeline

from segments_core import contract
from segments_core.contract import ModelMetadata
from segments_core.errors import ArtifactError
from segments_core.manifest import MANIFEST, sha256_file, verify_file, verify_manifest, write_manifest
from segments_core.model import SegmentModel

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
SCHEMA_VERSION = contract.SCHEMA_VERSION  # 2: the typed contract and the manifest


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
    and artifacts it covers, before ``extras``.

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
    os.fchmod(fd, 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp_name, path)


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


def read_metadata(model_dir: Path) -> ModelMetadata:
    """The verified, parsed metadata of a model version directory (nothing is unpickled).

    Raises
    ------
    ArtifactError
        No metadata, no manifest, or a metadata file the manifest does not match.
    MetadataError
        The metadata does not follow the contract (``errors`` names the fields).
    """
    meta_path = model_dir / METADATA
    if not meta_path.is_file():
        raise ArtifactError(f"{model_dir}: missing {METADATA}; refusing to load the model")
    verify_manifest(model_dir, (METADATA,))
    return contract.parse_metadata(meta_path.read_bytes(), str(meta_path))


class Verified(NamedTuple):
    """A loaded, verified model version."""

    metadata: ModelMetadata
    pipeline: Pipeline
    model: SegmentModel


def load_verified(model_dir: Path) -> Verified:
    """Load and verify a model directory.

    Checks, before unpickling anything: the manifest matches ``metadata.json``, the
    metadata follows the contract (the feature definition is one this code knows), the
    recorded scikit-learn version equals the installed one, and every artifact's sha256
    matches the metadata and the manifest.

    Raises
    ------
    ArtifactError
        With a message naming the failed check (:class:`MetadataError` for the contract).
    """
    model_dir = resolve_model_dir(model_dir)
    meta = read_metadata(model_dir)
    recorded = meta.libraries.scikit_learn
    if recorded != sklearn.__version__:
        raise ArtifactError(
            f"{model_dir}: trained with scikit-learn {recorded}, installed is "
            f"{sklearn.__version__}; retrain the model or install scikit-learn=={recorded}"
        )
    for fname, expected in meta.artifacts.by_file().items():
        verify_file(model_dir, fname, expected, "metadata")
    verify_manifest(model_dir)
    spec = meta.spec()
    try:
        pipeline = joblib.load(model_dir / PIPELINE)
        model = SegmentModel.from_pipeline(spec, pipeline)
    except Exception as exc:  # an unpickling failure can raise nearly anything
        raise ArtifactError(f"{model_dir}: {PIPELINE} cannot be loaded: {exc}") from exc
    if model.centroids_.shape != (len(meta.segments), len(spec.names)):
        raise ArtifactError(f"{model_dir}: pipeline shape does not match the metadata")
    return Verified(meta, pipeline, model)


def load_model(model_dir: Path) -> tuple[dict[str, Any], Pipeline, SegmentModel]:
    """:func:`load_verified`, with the metadata as a plain JSON-ready dict (training tools)."""
    meta, pipeline, model = load_verified(model_dir)
    return meta.to_dict(), pipeline, model
