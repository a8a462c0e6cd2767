"""Versioned model directories: atomic save, verified load.

A model directory holds ``pipeline.joblib`` (the fitted scaler + K-means),
``assignments.parquet`` (the training customers' segments and features) and
``metadata.json`` (provenance, features, selection scores, segments, and the sha256
of every artifact). A model name directory (``models/<name>/``) holds versions and a
``LATEST`` file naming the current one.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import sklearn
from sklearn.pipeline import Pipeline

from segments_core.errors import ArtifactError
from segments_core.features import FeatureSpec
from segments_core.model import SegmentModel

METADATA = "metadata.json"
PIPELINE = "pipeline.joblib"
ASSIGNMENTS = "assignments.parquet"
LATEST = "LATEST"
SCHEMA_VERSION = 1


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


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
    ``extras``, when given, is called with the temporary directory once the
    artifacts and metadata are in it (the report is written this way); the files it
    adds are derived views, not loaded by the service, and are not checksummed.
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
        (tmp / METADATA).write_text(
            json.dumps(meta, indent=2, default=_json_default) + "\n", encoding="utf-8"
        )
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


def read_metadata(model_dir: Path) -> dict[str, Any]:
    meta_path = model_dir / METADATA
    if not meta_path.is_file():
        raise ArtifactError(f"{model_dir}: missing {METADATA}; refusing to load the model")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"{meta_path}: not valid JSON ({exc})") from exc
    if not isinstance(meta, dict) or meta.get("schema_version") != SCHEMA_VERSION:
        raise ArtifactError(f"{meta_path}: unknown metadata schema version")
    return meta


def load_model(model_dir: Path) -> tuple[dict[str, Any], Pipeline, SegmentModel]:
    """Load and verify a model directory.

    Checks, before unpickling anything: the metadata exists, every artifact's sha256
    matches it, the recorded scikit-learn version equals the installed one, and the
    feature definition is one this code knows.

    Raises
    ------
    ArtifactError
        With a message naming the failed check.
    """
    model_dir = resolve_model_dir(model_dir)
    meta = read_metadata(model_dir)
    recorded = meta.get("libraries", {}).get("scikit-learn")
    if recorded != sklearn.__version__:
        raise ArtifactError(
            f"{model_dir}: trained with scikit-learn {recorded}, installed is "
            f"{sklearn.__version__}; retrain the model or install scikit-learn=={recorded}"
        )
    try:
        spec = FeatureSpec.from_dict(meta["features"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ArtifactError(f"{model_dir}: feature definition refused: {exc}") from exc
    for fname, expected in meta.get("artifacts", {}).items():
        path = model_dir / fname
        if not path.is_file():
            raise ArtifactError(f"{model_dir}: artifact {fname} is missing")
        actual = sha256_file(path)
        if actual != expected:
            raise ArtifactError(
                f"{model_dir}: {fname} sha256 {actual[:12]}... does not match the metadata "
                f"({str(expected)[:12]}...); the file was altered or truncated"
            )
    if PIPELINE not in meta.get("artifacts", {}):
        raise ArtifactError(f"{model_dir}: metadata records no {PIPELINE} checksum")
    try:
        pipeline = joblib.load(model_dir / PIPELINE)
        model = SegmentModel.from_pipeline(spec, pipeline)
    except Exception as exc:  # an unpickling failure can raise nearly anything
        raise ArtifactError(f"{model_dir}: {PIPELINE} cannot be loaded: {exc}") from exc
    if model.centroids_.shape != (len(meta["segments"]), len(spec.names)):
        raise ArtifactError(f"{model_dir}: pipeline shape does not match the metadata")
    return meta, pipeline, model
