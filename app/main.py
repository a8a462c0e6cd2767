"""Build the FastAPI application."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from fastapi import Depends, FastAPI

from shopper_segments.app import errors
from shopper_segments.app.access import AccessMiddleware
from shopper_segments.app.batched import Flusher, flush_values
from shopper_segments.app.config import Settings, get_settings
from shopper_segments.app.deadlines import BodyTimeoutMiddleware
from shopper_segments.app.drift import DriftMonitor
from shopper_segments.app.guards import BODY_RESPONSES, BodyLimitMiddleware
from shopper_segments.app.hotpath import SegmentsApp
from shopper_segments.app.logs import configure_logging
from shopper_segments.app.memory import limit_arenas
from shopper_segments.app.metrics import Metrics
from shopper_segments.app.microbatch import MicroBatcher
from shopper_segments.app.openapi import install_request_schemas
from shopper_segments.app.reload import LatestWatcher, install_sighup
from shopper_segments.app.routes import admin, assign, health, observability, page, segments, upload
from shopper_segments.app.security import API_KEY_RESPONSES, require_api_key
from shopper_segments.app.segmenter import Segmenter

logger = logging.getLogger("segments")
#: The cyclic collector's thresholds while serving (Python's default: 700, 10, 10).
GC_THRESHOLDS = (20_000, 20, 20)


def create_app(settings: Settings | None = None) -> FastAPI:
    """The app; the model loads in the lifespan, never at import."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.assign_limiter = anyio.CapacityLimiter(settings.assign_threads)  # needs the loop
        segmenter = Segmenter(settings.model_root, settings.model_public_key)
        segmenter.listeners.append(app.state.metrics.model_loaded)
        app.state.segmenter = segmenter
        app.state.batcher = MicroBatcher(app.state)
        try:
            loaded = segmenter.load(settings.model_dir)
            logger.info("loaded model %s from %s", loaded.version, loaded.path)
        except errors.ServiceError as exc:
            # Stay up (liveness) but not ready, so the failure is visible at /readyz.
            logger.error("model not loaded: %s", exc.detail)
        uninstall_sighup = install_sighup(segmenter, settings.model_dir)
        # Every worker follows LATEST (and the other workers' admin reloads) on its own.
        watcher = LatestWatcher(segmenter, settings.model_dir, settings.watch_interval_s, shared_dir)
        app.state.watcher = watcher
        watcher.start()
        flusher = None
        if shared_dir is not None:  # the workers' shared metrics and drift window, in batches

            def flush_shared() -> None:
                flush_values()
                app.state.drift.flush()

            flusher = Flusher(flush_shared)
            flusher.start()
        # What startup built (libraries, the model) lives as long as the process: keep it out
        # of the cyclic collector's full passes, which otherwise stall a request now and then.
        gc.freeze()
        # A request's objects (a parsed body: ~60,000 for 1,000 customers) hold no cycles, yet
        # at the default thresholds the collector walks them again and again while they live:
        # ~11% of a batch's CPU (19.3 -> 17.1 ms). Collect young objects every 20,000
        # allocations instead of 700, and the older generations 20x less often each.
        gc.set_threshold(*GC_THRESHOLDS)
        limit_arenas()  # freed request memory goes back to a few arenas, then to the system
        try:
            yield
        finally:
            uninstall_sighup()
            watcher.stop()
            if flusher is not None:
                flusher.stop()
            app.state.drift.close()
            app.state.metrics.close()

    app = SegmentsApp(
        title="Shopper Segments",
        version="0.1.0",
        description="Which shopper segment a customer belongs to, from their purchase history.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.metrics = Metrics()
    shared_dir = app.state.metrics.shared_dir  # set when the server runs several workers
    app.state.drift = DriftMonitor(
        settings.drift_window, settings.drift_threshold, settings.drift_min_customers, shared_dir
    )
    configure_logging(settings.log_level)
    # Inside the access log, so refused bodies are logged and counted too.
    app.add_middleware(BodyLimitMiddleware, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(BodyTimeoutMiddleware, body_timeout_s=settings.body_timeout_s)
    app.add_middleware(AccessMiddleware, metrics=app.state.metrics, state=app.state)
    errors.install(app)
    # Without API keys the /v1 routes are open: no guard to run (or document) per request.
    keyed = [Depends(require_api_key)] if settings.api_keys else []
    key_responses = API_KEY_RESPONSES if settings.api_keys else {}
    # First, as the busiest route; every body but CSV and Parquet (the upload route's), and
    # then JSON only: assign.require_json, awaited by the route itself (see there).
    app.include_router(assign.router, dependencies=keyed, responses={**key_responses, **BODY_RESPONSES})
    app.include_router(upload.router, dependencies=keyed, responses=key_responses)
    app.include_router(health.router)
    # /metrics stays open for scrapers; /v1/drift carries ApiKeyDep itself.
    app.include_router(observability.router)
    app.include_router(segments.router, dependencies=keyed, responses=key_responses)
    app.include_router(admin.router)
    app.include_router(page.router)
    app.mount("/static", page.static_files(), name="static")
    install_request_schemas(app)
    return app
