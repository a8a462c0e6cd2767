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
from app.schemas import AssignResponse
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


def after_assign(state: Any, segmenter: Segmenter, response: AssignResponse, explain_it: bool) -> None:
    """Record ``response`` in the metrics and drift window; add explanations if asked."""
    loaded = segmenter.current
    if loaded.version != response.model_version or not response.results:
        return  # the model was swapped mid-request: its reference no longer applies
    ref = reference_of(state, loaded)
    names = ref.names
    index = {sid: i for i, sid in enumerate(loaded.segment_ids)}
    X = np.array([[r.features[n] for n in names] for r in response.results], dtype=np.float64)
    labels = np.array([index[r.segment_id] for r in response.results], dtype=np.int64)
    metrics: Metrics = state.metrics
    metrics.observe_assign(
        ref.segment_ids, ref.segment_names, labels, np.less(X, ref.low), np.greater(X, ref.high), names
    )
    drift: DriftMonitor = state.drift
    drift.record(ref, X, labels)
    if explain_it:
        nxt = np.array(
            [
                index[r.next_segment.segment_id] if r.next_segment else index[r.segment_id]
                for r in response.results
            ]
        )
        for result, why in zip(
            response.results, explain(loaded.model, X, labels, nxt, ref.low, ref.high), strict=True
        ):
            result.explanation = why
