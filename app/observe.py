"""After an assign: metrics, the drift window and (when asked) explanations.

Works on the arrays of an assignment (:class:`app.segmenter.Assigned`), the same for
JSON and upload requests.
"""

from __future__ import annotations

from typing import Any

from shopper_segments.app.drift import DriftMonitor
from shopper_segments.app.explain import explain
from shopper_segments.app.metrics import Metrics
from shopper_segments.app.segmenter import Assigned


def observe(state: Any, assigned: Assigned, explain_it: bool) -> list[dict[str, Any]] | None:
    """Record ``assigned`` in the metrics and drift window; its explanations if asked.

    Returns
    -------
    list of dict or None
        One explanation per customer (JSON-ready), when ``explain_it``.
    """
    if not assigned.rows:
        return None
    loaded, X = assigned.loaded, assigned.X
    labels, nxt = assigned.result.segment_index, assigned.result.next_index
    ref = loaded.derived.reference  # built when the model loaded
    metrics: Metrics = state.metrics
    metrics.observe_assign(ref.segment_ids, ref.segment_names, labels, ref.low > X, ref.high < X, ref.names)
    drift: DriftMonitor = state.drift
    drift.record(ref, X, labels)
    if not explain_it:
        return None
    return [why.model_dump(mode="json") for why in explain(loaded.model, X, labels, nxt, ref.low, ref.high)]
