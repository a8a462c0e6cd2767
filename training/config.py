"""TrainConfig, everything a training run needs, and the checks it passes before any work."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from shopper_segments.core.errors import DataError, OutputError, TrainingError
from shopper_segments.training.dataset import DEFAULT_TOP_CATEGORIES, DatasetSpec


@dataclass
class TrainConfig:
    """Everything a training run needs; the CLI fills it in."""

    input: Path
    dataset: DatasetSpec = field(default_factory=DatasetSpec)
    table_columns: list[str] | None = None
    table_id: str | None = None
    log_columns: list[str] = field(default_factory=list)
    k: int | None = None
    k_min: int = 4
    k_max: int = 8
    seed: int = 42
    n_init: int = 10
    #: None: the dataset spec's ``[categories] top``, else the default (``categories_kept``).
    top_categories: int | None = None
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
    #: ISO 4217 code of the money columns (labels and descriptions); None: unnamed.
    currency: str | None = None
    #: Ed25519 private key (PEM) that signs the model's manifest; None: unsigned.
    signing_key: Path | None = None

    @property
    def categories_kept(self) -> int:
        """How many product categories become features: ``top_categories``, else the dataset
        spec's ``[categories] top``, else ``DEFAULT_TOP_CATEGORIES``."""
        if self.top_categories is not None:
            return self.top_categories
        return self.dataset.top_categories or DEFAULT_TOP_CATEGORIES


#: An ISO 4217 currency code (GBP, USD, EUR).
CURRENCY = re.compile(r"[A-Z]{3}")
#: A model name: one path component of letters, digits, ``-``, ``_`` and ``.``.
NAME = re.compile(r"[A-Za-z0-9_.-]+")


def check_config(config: TrainConfig) -> None:
    """Refuse impossible segment counts before any work (``--k 0``, ``--k-min 5 --k-max 3``)."""
    if config.k is not None and config.k < 2:
        raise DataError(f"--k {config.k}: a segmentation needs at least 2 segments")
    if config.k is None and not 2 <= config.k_min <= config.k_max:
        raise DataError(f"--k-min {config.k_min} --k-max {config.k_max}: need 2 <= k-min <= k-max")
    if config.currency is not None and not CURRENCY.fullmatch(config.currency):
        raise DataError(f"--currency {config.currency!r}: expected a 3-letter ISO 4217 code such as GBP")
    check_name(config.name)
    check_writable(config.out)


def check_name(name: str) -> None:
    """Refuse a model name that is not one plain path component (``../x``, ``a/b``, ``.hidden``)."""
    if not NAME.fullmatch(name) or name.startswith("."):
        raise TrainingError(
            f"--name {name!r}: a model name is letters, digits, '-', '_' and '.', "
            "not starting with '.' (one directory under --out)"
        )


def check_writable(out: Path) -> None:
    """Refuse an ``--out`` that can't take a model, before any work (nothing is created here)."""
    existing = out
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise OutputError(f"--out {out}: {existing} is not a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise OutputError(f"--out {out}: {existing} is not writable")
