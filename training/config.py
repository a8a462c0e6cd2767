"""TrainConfig, everything a training run needs, and the checks it passes before any work."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from segments_core.errors import DataError
from training.dataset import DatasetSpec


@dataclass
class TrainConfig:
    """Everything a training run needs; the CLI fills it in."""

    input: Path
    dataset: DatasetSpec = field(default_factory=DatasetSpec)
    table_columns: list[str] | None = None
    table_id: str | None = None
    log_columns: list[str] = field(default_factory=list)
    k: int | None = None
    k_min: int = 2
    k_max: int = 10
    seed: int = 42
    n_init: int = 10
    top_categories: int = 8
    as_of: pd.Timestamp | None = None
    out: Path = Path("models")
    name: str = "model"
    names_file: Path | None = None
    report: bool = True
    demographics: Path | None = None
    demographics_id: str | None = None
    algorithm: str = "kmeans"
    compare: bool = False
    #: Previous model to keep segment ids from; None: ``out/name``'s LATEST if any.
    previous: Path | None = None
    use_previous: bool = True
    #: Keep only lines before this time (a training cut-off).
    until: pd.Timestamp | None = None


def check_config(config: TrainConfig) -> None:
    """Refuse impossible segment counts before any work (``--k 0``, ``--k-min 5 --k-max 3``)."""
    if config.k is not None and config.k < 2:
        raise DataError(f"--k {config.k}: a segmentation needs at least 2 segments")
    if config.k is None and not 2 <= config.k_min <= config.k_max:
        raise DataError(f"--k-min {config.k_min} --k-max {config.k_max}: need 2 <= k-min <= k-max")
