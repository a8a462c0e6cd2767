"""After an assign: metrics, the drift window and (when asked) explanations.

Works on the answer (``AssignResponse``) only, so it is the same for JSON and upload
requests whatever path computed the answer.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from app.drift import DriftMonitor, Reference
from app.explain import explain
from app.metrics import Metrics
from app.schemas import AssignResponse, Explanation
from app.segmenter import LoadedModel, Segmenter

_lock = threading.Lock()


def reference_of(state: Any, loaded: LoadedModel) -> Reference:
    """The training reference of ``loaded``, built once per model version."""
    ref: Reference | None = getattr(state, "drift_reference", None)
    if ref is None or ref.version != loaded.version:
        with _lock:
            ref = getattr(state, "drift_reference", None)
            if ref is None or ref.version != loaded.version:
                ref = Reference.of(loaded)
                state.drift_reference = ref
    return ref


def after_assign(
    state: Any,
    segmenter: Segmenter,
    response: AssignResponse,
    explain_it: bool,
    loaded: LoadedModel | None = None,
) -> None:
    """Record ``response`` in the metrics and drift window; add explanations if asked.

    ``loaded``: the model that computed ``response`` (default: the current one).
    """
    loaded = loaded or segmenter.current
    if loaded.version != response.model_version or not response.results:
        return  # the model was swapped mid-request: its reference no longer applies
    ref = reference_of(state, loaded)
    index = {sid: i for i, sid in enumerate(loaded.segment_ids)}
    X = np.array([[r.features[n] for n in ref.names] for r in response.results], dtype=np.float64)
    labels = np.array([index[r.segment_id] for r in response.results], dtype=np.int64)
    nxt = np.array(
        [
            index[r.next_segment.segment_id] if r.next_segment else index[r.segment_id]
            for r in response.results
        ]
    )
    whys = _observe(state, loaded, ref, X, labels, nxt, explain_it)
    for result, why in zip(response.results, whys or [], strict=False):
        result.explanation = why


def after_assign_plain(
    state: Any,
    segmenter: Segmenter,
    answer: dict[str, Any],
    explain_it: bool,
    loaded: LoadedModel | None = None,
) -> None:
    """:func:`after_assign` on the plain answer of :meth:`Segmenter.assign_plain`."""
    loaded = loaded or segmenter.current
    results = answer["results"]
    if loaded.version != answer["model_version"] or not results:
        return
    ref = reference_of(state, loaded)
    index = {sid: i for i, sid in enumerate(loaded.segment_ids)}
    X = np.array([[r["features"][n] for n in ref.names] for r in results], dtype=np.float64)
    labels = np.array([index[r["segment_id"]] for r in results], dtype=np.int64)
    nxt = np.array(
        [
            index[r["next_segment"]["segment_id"]] if r["next_segment"] else index[r["segment_id"]]
            for r in results
        ]
    )
    whys = _observe(state, loaded, ref, X, labels, nxt, explain_it)
    for result, why in zip(results, whys or [], strict=False):
        result["explanation"] = why.model_dump(mode="json")


def _observe(
    state: Any,
    loaded: LoadedModel,
    ref: Reference,
    X: np.ndarray,
    labels: np.ndarray,
    nxt: np.ndarray,
    explain_it: bool,
) -> list[Explanation] | None:
    metrics: Metrics = state.metrics
    metrics.observe_assign(
        ref.segment_ids, ref.segment_names, labels, np.less(X, ref.low), np.greater(X, ref.high), ref.names
    )
    drift: DriftMonitor = state.drift
    drift.record(ref, X, labels)
    return explain(loaded.model, X, labels, nxt, ref.low, ref.high) if explain_it else None
