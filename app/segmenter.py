"""The served model: loads a verified model directory, knows if it is ready, assigns."""

from __future__ import annotations

import datetime as dt
import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from app.errors import InvalidInput, ModelRefused, NotReady, field_error
from app.histories import EPOCH, as_utc, history_lines, to_ns
from app.model_check import check_model
from app.responses import AssignResponse
from app.schemas import AssignRequest
from segments_core.artifact import load_model, resolve_model_dir
from segments_core.errors import ArtifactError
from segments_core.features import feature_matrix
from segments_core.model import Assignment, SegmentModel


@dataclass(frozen=True)
class LoadedModel:
    """One model version, immutable: a request holds one reference for its whole answer."""

    version: str
    path: Path
    metadata: dict[str, Any]
    model: SegmentModel
    segment_ids: list[int]
    segment_names: list[str]


@dataclass(frozen=True)
class Assigned:
    """One request's customers placed by one model version, as arrays.

    The answer, the metrics, the drift window and the explanations all read this, so
    nothing is rebuilt from the response.
    """

    loaded: LoadedModel
    as_of: dt.datetime
    customer_ids: list[str]
    X: np.ndarray  # features in original units, spec order
    result: Assignment


class Segmenter:
    """Loads a model under ``model_root`` and assigns customers to its segments."""

    def __init__(self, model_root: Path) -> None:
        self.model_root = model_root.resolve()
        self._current: LoadedModel | None = None
        self._lock = threading.Lock()
        # One load at a time, so a slow reload can't overwrite a newer one that finished first.
        self._load_lock = threading.Lock()

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
            meta, _pipeline, model = load_model(path)
            order = sorted(meta["segments"], key=lambda s: s["label"])
            loaded = LoadedModel(
                version=meta["version"],
                path=path,
                metadata=meta,
                model=model,
                segment_ids=[int(s["id"]) for s in order],
                segment_names=[s["name"] for s in order],
            )
            check_model(path, model, loaded.segment_ids)
        except ArtifactError as exc:
            raise ModelRefused(str(exc)) from exc
        with self._lock:
            self._current = loaded
        return loaded

    def assign(
        self, request: AssignRequest, max_future_days: float, loaded: LoadedModel | None = None
    ) -> AssignResponse:
        """:meth:`assign_arrays` of a validated ``request``, answered as a response model."""
        return AssignResponse.model_validate(
            answer(self.assign_arrays(request.model_dump(), max_future_days, loaded))
        )

    def assign_arrays(
        self, request: dict[str, Any], max_future_days: float, loaded: LoadedModel | None = None
    ) -> Assigned:
        """Features plus nearest segment for every customer of a request given as plain data.

        Parameters
        ----------
        request : dict
            An :class:`AssignRequest` as plain data (as :func:`app.parsing.parse_assign` returns it).
        max_future_days : float
            Tolerance for timestamps past now (clock skew).
        loaded : LoadedModel, optional
            The model version to answer with (default: the current one); a route that does
            more with the answer (explanations, CSV columns) reads ``current`` once and
            passes it, so a reload mid-request can't mix two versions in one answer.

        Raises
        ------
        InvalidInput
            Every rule the customers break, each at its field.
        """
        loaded = loaded or self.current
        spec = loaded.model.spec
        customers = request["customers"]
        now = dt.datetime.now(dt.UTC)
        as_of = as_utc(request["as_of"]) if request.get("as_of") else now
        latest = now + dt.timedelta(days=max_future_days)
        if not EPOCH <= as_of <= latest:
            problem = "is in the future" if as_of > latest else "is before 1970-01-01"
            raise InvalidInput(f"as_of: {problem}", [field_error("as_of", problem)])
        ids = [c["customer_id"] for c in customers]
        errors = _duplicates(ids) if len(set(ids)) < len(ids) else []
        histories = [(i, c) for i, c in enumerate(customers) if c.get("transactions") is not None]
        if histories and spec.is_table:
            errors.append(
                field_error(
                    f"customers[{histories[0][0]}].transactions",
                    "this model is trained on a customer table: send features",
                )
            )
        X = None
        if histories and not spec.is_table:
            lines, line_errors = history_lines(histories, spec, as_of, latest)
            errors += line_errors
            if not line_errors:
                H, _ = feature_matrix(lines, spec, to_ns(as_of))
                if len(histories) == len(customers):
                    X = H
                else:
                    X = np.empty((len(customers), len(spec.names)), dtype=np.float64)
                    X[[i for i, _ in histories]] = H
                if not np.isfinite(H).all():  # one test first; the rows only then
                    errors += _overflowed(histories, H, spec.names)
        if len(histories) < len(customers):
            if X is None:
                X = np.empty((len(customers), len(spec.names)), dtype=np.float64)
            for i, cust in enumerate(customers):
                if cust.get("features") is not None:
                    vector = _feature_vector(cust["features"], spec.names, i, errors)
                    if vector is not None:
                        X[i] = vector
        if errors or X is None:
            raise InvalidInput("; ".join(f"{e['field']}: {e['message']}" for e in errors[:3]), errors)
        result = loaded.model.assign(X)
        # distances are at most ~1.3e154 (their squares are finite), so the sum is finite iff each is
        if not math.isfinite(result.distance.sum() + result.next_distance.sum()):
            far = ~(np.isfinite(result.distance) & np.isfinite(result.next_distance))
            message = "gives features too large to place: the distance overflows a float"
            errors = [
                field_error(f"customers[{r}].{_input_of(customers[r])}", message)
                for r in np.flatnonzero(far).tolist()
            ]
            if errors:
                raise InvalidInput(f"features too large: {message}", errors)
        return Assigned(loaded, as_of, ids, X, result)


def answer(assigned: Assigned, explanations: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The response to ``assigned`` as plain data in the shape of :class:`AssignResponse`."""
    loaded, result = assigned.loaded, assigned.result
    names = loaded.model.spec.names
    best_all, next_all = result.segment_index.tolist(), result.next_index.tolist()
    dist_all, next_dist_all = result.distance.tolist(), result.next_distance.tolist()
    ids, seg_names = loaded.segment_ids, loaded.segment_names
    proba = None if result.probabilities is None else result.probabilities.tolist()
    results = []
    for r, (cid, row) in enumerate(zip(assigned.customer_ids, assigned.X.tolist(), strict=True)):
        best, nxt = best_all[r], next_all[r]
        item = {
            "customer_id": cid,
            "segment_id": ids[best],
            "segment_name": seg_names[best],
            "distance": dist_all[r],
            "next_segment": None
            if best == nxt
            else {"segment_id": ids[nxt], "segment_name": seg_names[nxt], "distance": next_dist_all[r]},
            "features": dict(zip(names, row, strict=True)),
        }
        if proba is not None:
            item["probabilities"] = [
                {"segment_id": i, "segment_name": n, "probability": p}
                for i, n, p in zip(ids, seg_names, proba[r], strict=True)
            ]
        if explanations is not None:
            item["explanation"] = explanations[r]
        results.append(item)
    return {"model_version": loaded.version, "as_of": assigned.as_of, "results": results}


def _duplicates(ids: list[str]) -> list[dict[str, str]]:
    errors: list[dict[str, str]] = []
    seen: dict[str, int] = {}
    for i, cid in enumerate(ids):
        if cid in seen:
            errors.append(field_error(f"customers[{i}].customer_id", f"duplicates customers[{seen[cid]}]"))
        seen.setdefault(cid, i)
    return errors


def _input_of(customer: dict[str, Any]) -> str:
    return "transactions" if customer.get("transactions") is not None else "features"


def _overflowed(
    histories: list[tuple[int, dict[str, Any]]], H: np.ndarray, names: list[str]
) -> list[dict[str, str]]:
    """Customers whose history gives a non-finite feature (sums beyond a float's range)."""
    errors = []
    for r in np.flatnonzero(~np.isfinite(H).all(axis=1)).tolist():
        bad = ", ".join(n for n, v in zip(names, H[r].tolist(), strict=True) if not np.isfinite(v))
        field = f"customers[{histories[r][0]}].transactions"
        errors.append(field_error(field, f"gives {bad} beyond a float's range"))
    return errors


def _feature_vector(
    values: dict[str, float], names: list[str], i: int, errors: list[dict[str, str]]
) -> np.ndarray | None:
    where = f"customers[{i}].features"
    unknown = sorted(set(values) - set(names))
    missing = [n for n in names if n not in values]
    for n in unknown:
        errors.append(field_error(f"{where}.{n}", f"is not a feature of this model ({', '.join(names)})"))
    for n in missing:
        errors.append(field_error(f"{where}.{n}", "is missing"))
    bad = [n for n in names if n in values and not np.isfinite(values[n])]
    for n in bad:
        errors.append(field_error(f"{where}.{n}", "must be a finite number"))
    if unknown or missing or bad:
        return None
    return np.array([values[n] for n in names], dtype=np.float64)
