"""Prometheus metrics: one registry per app, served at GET /metrics.

HTTP metrics are recorded by :class:`app.logs.AccessMiddleware`; assignment metrics by
:func:`app.observe.observe`; the model info and drift gauges are refreshed at scrape
time, so a reloaded model shows up without any hook in the reload path.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, generate_latest

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
CUSTOMER_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)

#: Method label values; any other method a client sends is counted as "other".
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class Metrics:
    """The service's metrics, in their own registry (several apps can live in one process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "segments_http_requests",
            "HTTP requests by route and status",
            ["method", "route", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "segments_http_request_duration_seconds",
            "HTTP request latency by route and status",
            ["method", "route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.assignments = Counter(
            "segments_assignments",
            "Customers assigned, by segment",
            ["segment_id", "segment_name"],
            registry=r,
        )
        self.customers = Histogram(
            "segments_customers_per_request",
            "Customers per assign request",
            buckets=CUSTOMER_BUCKETS,
            registry=r,
        )
        self.out_of_range = Counter(
            "segments_inputs_out_of_range",
            "Customer feature values outside the training range [min, max]",
            ["feature", "side"],
            registry=r,
        )
        self.model = Info("segments_model", "The served model", registry=r)
        self.drift_psi = Gauge(
            "segments_drift_feature_psi", "PSI of each feature: window vs training", ["feature"], registry=r
        )
        self.drift_segment_psi = Gauge(
            "segments_drift_segment_psi", "PSI of segment shares: window vs training", registry=r
        )
        self.drift_share = Gauge(
            "segments_drift_segment_share",
            "Segment share in the window and in training",
            ["segment_id", "source"],
            registry=r,
        )
        self.drift_window = Gauge(
            "segments_drift_window_customers", "Customers in the drift window", registry=r
        )
        self.drift_alert = Gauge(
            "segments_drift_alert", "1 when a PSI crosses the threshold (with enough customers)", registry=r
        )

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        # a client chooses the method: any other word would be a new label series (unbounded)
        labels = (method if method in HTTP_METHODS else "other", route, str(status))
        self.requests.labels(*labels).inc()
        self.latency.labels(*labels).observe(seconds)

    def observe_assign(
        self,
        segment_ids: list[int],
        segment_names: list[str],
        labels: np.ndarray,
        below: np.ndarray,
        above: np.ndarray,
        feature_names: list[str],
    ) -> None:
        """Record one answered assign: segment counts, batch size, out-of-range values."""
        self.customers.observe(len(labels))
        counts = np.bincount(labels, minlength=len(segment_ids)).tolist()
        for index, count in enumerate(counts):
            if count:
                self.assignments.labels(str(segment_ids[index]), segment_names[index]).inc(count)
        if below.any():
            for name, low in zip(feature_names, below.sum(axis=0).tolist(), strict=True):
                if low:
                    self.out_of_range.labels(name, "below_min").inc(low)
        if above.any():
            for name, high in zip(feature_names, above.sum(axis=0).tolist(), strict=True):
                if high:
                    self.out_of_range.labels(name, "above_max").inc(high)

    def render(self, model: dict[str, str] | None, drift: dict[str, Any] | None) -> bytes:
        """The exposition text, with model info and drift gauges refreshed first."""
        if model is not None:
            self.model.info(model)
        if drift is not None:
            self.drift_window.set(drift["window_customers"])
            self.drift_alert.set(1 if drift["drift"] else 0)
            for f in drift["features"]:
                self.drift_psi.labels(f["feature"]).set(f["psi"])
            self.drift_segment_psi.set(drift["segments"]["psi"])
            for s in drift["segments"]["shares"]:
                self.drift_share.labels(str(s["segment_id"]), "window").set(s["window_share"])
                self.drift_share.labels(str(s["segment_id"]), "training").set(s["training_share"])
        return generate_latest(self.registry)
