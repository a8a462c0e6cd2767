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
    record(state, assigned)
    return explanations(assigned) if explain_it else None


def record(state: Any, assigned: Assigned, requests: list[int] | None = None) -> None:
    """Count the assigned customers in the metrics and add them to the drift window.

    ``requests``: the assigned customers of each request, when ``assigned`` holds several.
    """
    if not assigned.rows:
        return
    X, labels = assigned.X, assigned.result.segment_index
    ref = assigned.loaded.derived.reference  # built when the model loaded
    metrics: Metrics = state.metrics
    below, above = ref.low > X, ref.high < X
    metrics.observe_assign(ref.segment_ids, ref.segment_names, labels, below, above, ref.names, requests)
    drift: DriftMonitor = state.drift
    drift.record(ref, X, labels)


def explanations(assigned: Assigned) -> list[dict[str, Any]] | None:
    """One explanation per assigned customer (JSON-ready); None when none is assigned."""
    if not assigned.rows:
        return None
    loaded, X, result = assigned.loaded, assigned.X, assigned.result
    ref = loaded.derived.reference
    whys = explain(loaded.model, X, result.segment_index, result.next_index, ref.low, ref.high)
    return [why.model_dump(mode="json") for why in whys]
