"""Prometheus metrics: one registry per app, served at GET /metrics.

HTTP metrics are recorded by :class:`app.access.AccessMiddleware`; assignment metrics by
:func:`app.observe.observe`. The model info and drift gauges are built at scrape time from
the serving model and the drift window, so a reloaded model shows up without a hook.

With several workers (``python -m shopper_segments.app.serve --workers N``) the server sets
``PROMETHEUS_MULTIPROC_DIR`` before the workers start: counters and histograms then live in
per-process files there and every scrape, whichever worker answers it, sums them
(:class:`prometheus_client.multiprocess.MultiProcessCollector`); the values are written in
batches (:mod:`app.batched`). The drift window is shared by the workers too
(:mod:`app.drift`), so the scrape-time gauges agree across workers.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, values
from prometheus_client.metrics_core import GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from shopper_segments.app.batched import BufferedValue, close_files, flush_values

if TYPE_CHECKING:
    from shopper_segments.app.segmenter import LoadedModel

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
CUSTOMER_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

#: Method label values; any other method a client sends is counted as "other".
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def multiprocess_dir() -> Path | None:
    """The directory the workers of this server share, or None in a single process."""
    value = os.environ.get(MULTIPROC_ENV)
    return Path(value) if value and Path(value).is_dir() else None


class _Bound:
    """Label children of one model's segments and features, created once per model load."""

    def __init__(self, metrics: Metrics, ids: list[int], names: list[str], features: list[str]) -> None:
        self.ids = ids  # identity is the cache key: a loaded model keeps this list for its lifetime
        self.segments = [metrics.assignments.labels(str(i), n) for i, n in zip(ids, names, strict=True)]
        self.below = [metrics.out_of_range.labels(f, "below_min") for f in features]
        self.above = [metrics.out_of_range.labels(f, "above_max") for f in features]


class Metrics:
    """The service's metrics, in their own registry (several apps can live in one process)."""

    def __init__(self) -> None:
        self.shared_dir = multiprocess_dir()
        if self.shared_dir is not None:  # every value of this worker written in batches (app.batched)
            values.ValueClass = BufferedValue
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
        # Per worker (a pid label with several workers): which version each one serves, so a
        # rollout can be watched converging. 1 for the serving version, 0 for earlier ones.
        self.worker_model = Gauge(
            "segments_worker_model_loaded",
            "1 for the model version this worker serves",
            ["version"],
            registry=r,
            multiprocess_mode="liveall",
        )
        self._served: str | None = None
        self._http: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._bound: _Bound | None = None
        if self.shared_dir is None:
            self._exposed = r
        else:
            self._exposed = CollectorRegistry()
            MultiProcessCollector(self._exposed, str(self.shared_dir))

    def model_loaded(self, loaded: LoadedModel) -> None:
        """A model was swapped in: bind its label children and mark the version this worker serves."""
        ref = loaded.derived.reference
        self._bound = _Bound(self, ref.segment_ids, ref.segment_names, ref.names)
        if self._served is not None and self._served != loaded.version:
            self.worker_model.labels(self._served).set(0)
            self.worker_model.remove(self._served)  # single process: the series goes
        self.worker_model.labels(loaded.version).set(1)
        self._served = loaded.version

    def close(self) -> None:
        """This worker is stopping: its per-worker gauges leave the shared directory."""
        if self.shared_dir is not None:
            close_files()  # written first: the other workers' scrapes keep counting them
            mark_process_dead(os.getpid(), str(self.shared_dir))

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        children = self._http.get((method, route, status))
        if children is None:
            # a client chooses the method: any other word would be a new label series (unbounded)
            labels = (method if method in HTTP_METHODS else "other", route, str(status))
            children = (self.requests.labels(*labels), self.latency.labels(*labels))
            if method in HTTP_METHODS:  # the cache stays as bounded as the label values
                self._http[(method, route, status)] = children
        children[0].inc()
        children[1].observe(seconds)

    def observe_assign(
        self,
        segment_ids: list[int],
        segment_names: list[str],
        labels: np.ndarray,
        below: np.ndarray,
        above: np.ndarray,
        feature_names: list[str],
        requests: list[int] | None = None,
    ) -> None:
        """Record answered assigns: segment counts, customers per request, out-of-range values.

        ``requests``: the assigned customers of each request when ``labels`` holds several
        requests' (assigned together); by default ``labels`` is one request's.
        """
        bound = self._bound
        if bound is None or bound.ids is not segment_ids:  # a model loaded without model_loaded
            bound = self._bound = _Bound(self, segment_ids, segment_names, feature_names)
        for size in [len(labels)] if requests is None else requests:
            self.customers.observe(size)
        counts = np.bincount(labels, minlength=len(segment_ids)).tolist()
        for index, count in enumerate(counts):
            if count:
                bound.segments[index].inc(count)
        if below.any():
            for child, low in zip(bound.below, below.sum(axis=0).tolist(), strict=True):
                if low:
                    child.inc(low)
        if above.any():
            for child, high in zip(bound.above, above.sum(axis=0).tolist(), strict=True):
                if high:
                    child.inc(high)

    def render(self, model: dict[str, str] | None, drift: dict[str, Any] | None) -> bytes:
        """The exposition text: the recorded metrics, then model info and drift as of now."""
        if self.shared_dir is not None:
            flush_values()  # this worker's own counts are current; the others' within FLUSH_S
        return generate_latest(self._exposed) + generate_latest(_Snapshot(model, drift))


class _Snapshot:
    """Model info and drift gauges of one scrape (a collector; nothing kept between scrapes)."""

    def __init__(self, model: dict[str, str] | None, drift: dict[str, Any] | None) -> None:
        self.model, self.drift = model, drift

    def collect(self) -> Iterator[Metric]:
        if self.model is not None:
            yield InfoMetricFamily("segments_model", "The served model", value=self.model)
        drift = self.drift
        if drift is None:
            return
        psi = GaugeMetricFamily(
            "segments_drift_feature_psi", "PSI of each feature: window vs training", labels=["feature"]
        )
        for f in drift["features"]:
            psi.add_metric([f["feature"]], f["psi"])
        share = GaugeMetricFamily(
            "segments_drift_segment_share",
            "Segment share in the window and in training",
            labels=["segment_id", "source"],
        )
        for s in drift["segments"]["shares"]:
            share.add_metric([str(s["segment_id"]), "window"], s["window_share"])
            share.add_metric([str(s["segment_id"]), "training"], s["training_share"])
        yield psi
        yield GaugeMetricFamily(
            "segments_drift_segment_psi",
            "PSI of segment shares: window vs training",
            value=drift["segments"]["psi"],
        )
        yield share
        yield GaugeMetricFamily(
            "segments_drift_window_customers",
            "Customers in the drift window",
            value=drift["window_customers"],
        )
        yield GaugeMetricFamily(
            "segments_drift_alert",
            "1 when a PSI crosses the threshold (with enough customers)",
            value=1 if drift["drift"] else 0,
        )
