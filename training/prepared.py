"""What preparing the training data gives the later steps (its own module: no import cycle)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from shopper_segments.core import features


@dataclass
class Prepared:
    """Features of the training customers plus what preparing them dropped."""

    X: pd.DataFrame
    spec: features.FeatureSpec
    summary: dict[str, Any]
