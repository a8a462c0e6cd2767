"""Model directories: atomic writes and refusals on load."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

from segments_core import artifact
from segments_core.errors import ArtifactError


def copy_model(sample_model: tuple[Path, dict], tmp_path: Path) -> Path:
    src, _ = sample_model
    dst = tmp_path / src.name
    shutil.copytree(src, dst)
    return dst


def test_unknown_feature_definition_is_refused(sample_model: tuple[Path, dict], tmp_path: Path) -> None:
    path = copy_model(sample_model, tmp_path)
    meta = json.loads((path / "metadata.json").read_text())
    meta["features"]["definition"] = "rfm-v99"
    (path / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(ArtifactError, match="unknown feature definition 'rfm-v99'"):
        artifact.load_model(path)


def test_latest_is_followed_and_checked(sample_model: tuple[Path, dict], tmp_path: Path) -> None:
    path = copy_model(sample_model, tmp_path)
    (tmp_path / "LATEST").write_text(path.name + "\n")
    assert artifact.resolve_model_dir(tmp_path) == path
    (tmp_path / "LATEST").write_text("../elsewhere\n")
    with pytest.raises(ArtifactError, match="invalid version"):
        artifact.resolve_model_dir(tmp_path)


def test_failed_save_leaves_no_directory(tmp_path: Path) -> None:
    class Unpicklable(Pipeline):
        def __reduce__(self) -> tuple:
            raise RuntimeError("cannot pickle")

    with pytest.raises(RuntimeError, match="cannot pickle"):
        artifact.save_model(tmp_path, "m", "v1", Unpicklable([("x", "passthrough")]), {}, pd.DataFrame())
    assert list((tmp_path / "m").iterdir()) == []


def test_existing_version_is_never_overwritten(sample_model: tuple[Path, dict]) -> None:
    path, meta = sample_model
    with pytest.raises(ArtifactError, match="already exists"):
        artifact.save_model(
            path.parent.parent, path.parent.name, meta["version"], Pipeline([]), {}, pd.DataFrame()
        )
