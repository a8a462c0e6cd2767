"""The served model: loads a verified model directory, knows if it is ready, assigns."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from shopper_segments.app.answers import answer
from shopper_segments.app.assigning import Assigned, assign_request
from shopper_segments.app.errors import ModelRefused, NotReady, field_error
from shopper_segments.app.model_check import check_model
from shopper_segments.app.parsing import parse_assign
from shopper_segments.app.responses import AssignResponse
from shopper_segments.app.served import Derived, derive
from shopper_segments.core.artifact import load_verified, resolve_model_dir
from shopper_segments.core.contract import ModelMetadata
from shopper_segments.core.errors import ArtifactError, MetadataError
from shopper_segments.core.model import SegmentModel
from shopper_segments.core.signing import load_public_keys


@dataclass(frozen=True)
class LoadedModel:
    """One model version, immutable: a request holds one reference for its whole answer.

    ``metadata`` is the parsed model contract; ``derived`` holds what requests read of
    it (drift reference, segment table, model document), built when the model loaded.
    """

    version: str
    path: Path
    metadata: ModelMetadata
    model: SegmentModel
    segment_ids: list[int]
    segment_names: list[str]
    derived: Derived


class Segmenter:
    """Loads a model under ``model_root`` and assigns customers to its segments.

    With ``public_key`` (a PEM file of Ed25519 public keys, read at every load), a model
    loads only if one of the keys signed its manifest; it is checked before the metadata
    is read or anything unpickled.
    """

    def __init__(self, model_root: Path, public_key: Path | None = None) -> None:
        self.model_root = model_root.resolve()
        self.public_key = public_key
        self._current: LoadedModel | None = None
        self._lock = threading.Lock()
        # One load at a time, so a slow reload can't overwrite a newer one that finished first.
        self._load_lock = threading.Lock()
        #: Called with each model swapped in (metrics bind its label children).
        self.listeners: list[Callable[[LoadedModel], None]] = []

    @property
    def ready(self) -> bool:
        return self._current is not None

    @property
    def current_or_none(self) -> LoadedModel | None:
        return self._current

    @property
    def current(self) -> LoadedModel:
        current = self._current
        if current is None:
            raise NotReady("the model is not loaded yet")
        return current

    def load(self, model_dir: Path) -> LoadedModel:
        """Load and verify ``model_dir``, then swap it in; the old model serves on failure.

        The new model is loaded and checked beside the serving one (``check_model``), then
        replaces it in one reference assignment: a request that already read ``current``
        finishes on the old version.
        """
        with self._load_lock:
            return self._load(model_dir)

    def _load(self, model_dir: Path) -> LoadedModel:
        path = Path(model_dir)
        path = (path if path.is_absolute() else self.model_root / path).resolve()
        if not path.is_relative_to(self.model_root):
            raise ModelRefused(f"{model_dir} is outside the model root {self.model_root}")
        try:
            path = resolve_model_dir(path).resolve()
            if not path.is_relative_to(self.model_root):
                raise ArtifactError(f"{path} is outside the model root {self.model_root}")
            keys = load_public_keys(self.public_key) if self.public_key is not None else None
            meta, _pipeline, model = load_verified(path, keys)  # the whole metadata parsed as the contract
            loaded = LoadedModel(
                version=meta.version,
                path=path,
                metadata=meta,
                model=model,
                segment_ids=[s.id for s in meta.segments],  # label order (checked by the contract)
                segment_names=[s.name for s in meta.segments],
                derived=derive(path, meta, model),
            )
            check_model(path, model, loaded.segment_ids)
        except MetadataError as exc:
            raise ModelRefused(str(exc), [field_error(f, m) for f, m in exc.errors]) from exc
        except ArtifactError as exc:
            raise ModelRefused(str(exc)) from exc
        with self._lock:
            self._current = loaded
        for listener in self.listeners:
            listener(loaded)
        return loaded

    def assign(
        self, body: dict[str, Any], max_future_days: float, loaded: LoadedModel | None = None
    ) -> AssignResponse:
        """A /v1/assign body (JSON data) parsed and answered as the route does, as a response model."""
        plain = parse_assign(orjson.dumps(body))
        assigned = self.assign_arrays(plain, max_future_days, loaded, strict=plain.get("strict", False))
        return AssignResponse.model_validate(answer(assigned))

    def assign_arrays(
        self,
        request: dict[str, Any],
        max_future_days: float,
        loaded: LoadedModel | None = None,
        strict: bool = False,
    ) -> Assigned:
        """:func:`app.assigning.assign_request` with ``loaded`` (default: the current model).

        A route that does more with the answer (explanations, CSV columns) reads
        ``current`` once and passes it, so a reload mid-request can't mix two versions.
        """
        return assign_request(request, loaded or self.current, max_future_days, strict)
