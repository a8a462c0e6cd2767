"""Two small, different seeded models side by side under one model root, for reload tests."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shopper_segments.app.segmenter import Segmenter
from tests.app.payloads import customers, read_online_retail
from tests.conftest import SAMPLE, train_sample

AS_OF = "2011-12-10T00:00:00Z"
NAME = "shop"


@dataclass(frozen=True)
class TwoModels:
    """``root/shop/{a,b}`` with ``root/shop/LATEST`` naming ``a`` at first."""

    root: Path
    a: str
    b: str

    @property
    def name_dir(self) -> Path:
        return self.root / NAME

    def rel(self, version: str) -> str:
        """The version directory relative to the model root, as the reload endpoint takes it."""
        return f"{NAME}/{version}"

    def point_latest(self, version: str) -> None:
        tmp = self.name_dir / ".LATEST.tmp"
        tmp.write_text(version + "\n")
        tmp.replace(self.name_dir / "LATEST")


def train_two(workdir: Path) -> TwoModels:
    """Train k=3 (seed 1) and k=5 (seed 2) on the bundled sample, then file both under one name."""
    built = workdir / "built"
    a, _ = train_sample(built, name="a", seed=1, k=3, n_init=2)
    b, _ = train_sample(built, name="b", seed=2, k=5, n_init=2)
    root = workdir / "models"
    (root / NAME).mkdir(parents=True)
    for path in (a, b):
        shutil.copytree(path, root / NAME / path.name)
    models = TwoModels(root=root, a=a.name, b=b.name)
    models.point_latest(models.a)
    return models


def request_body(n: int = 12) -> dict[str, Any]:
    """A batch of ``n`` real sample customers' histories at a fixed as_of."""
    payloads = customers(read_online_retail(SAMPLE))
    return {"as_of": AS_OF, "customers": [payloads[c] for c in sorted(payloads)[:n]]}


def expected_results(models: TwoModels, body: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Each model's own answer to ``body``, computed in-process, keyed by model version."""
    out = {}
    for version in (models.a, models.b):
        segmenter = Segmenter(models.root)
        loaded = segmenter.load(models.name_dir / version)
        answer = segmenter.assign(body, max_future_days=1.0)
        out[loaded.version] = answer.model_dump(mode="json")["results"]
    return out
