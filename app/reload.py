"""Activating a new model without a restart: the logged reload, SIGHUP, and the LATEST watch.

Every worker of every replica runs a :class:`LatestWatcher`: it polls the configured model
directory's ``LATEST`` every ``SEGMENTS_WATCH_INTERVAL_S`` and loads the version it names
when that changes, so flipping ``LATEST`` on a shared model root reaches all of them within
the interval plus one load. An admin reload is passed on to the other workers of the same
server through a small request file in their shared directory (:func:`announce`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import threading
import uuid
from collections.abc import Callable
from pathlib import Path

from shopper_segments.app.errors import ServiceError
from shopper_segments.app.segmenter import LoadedModel, Segmenter
from shopper_segments.core.artifact import resolve_model_dir
from shopper_segments.core.errors import ArtifactError

logger = logging.getLogger("segments")


def reload_model(segmenter: Segmenter, model_dir: Path, trigger: str) -> tuple[str | None, LoadedModel]:
    """Load ``model_dir`` beside the serving model and swap it in; log the outcome.

    Returns
    -------
    previous_version, loaded
        The version that served before (None if none did) and the new model.

    Raises
    ------
    ModelRefused
        The new model failed to load or validate; the old one keeps serving.
    """
    before = segmenter.current_or_none
    previous = before.version if before else None
    try:
        loaded = segmenter.load(model_dir)
    except ServiceError as exc:
        logger.error(
            "reload (%s) of %s refused, %s keeps serving: %s", trigger, model_dir, previous, exc.detail
        )
        raise
    logger.info(
        "reload (%s): now serving %s (was %s) from %s", trigger, loaded.version, previous, loaded.path
    )
    return previous, loaded


def install_sighup(segmenter: Segmenter, model_dir: Path) -> Callable[[], None]:
    """On SIGHUP, re-resolve ``model_dir`` (its LATEST) in a worker thread; returns the uninstaller.

    Does nothing outside the main thread (in-process test clients), where signals can't be caught.
    """
    loop = asyncio.get_running_loop()

    def reload_in_thread() -> None:
        try:
            reload_model(segmenter, model_dir, "SIGHUP")
        except ServiceError:
            pass  # logged by reload_model; the old model serves on
        except Exception:  # nothing else may escape a signal-triggered thread unseen
            logger.exception("reload (SIGHUP) of %s failed", model_dir)

    def on_sighup() -> None:
        loop.run_in_executor(None, reload_in_thread)

    try:
        loop.add_signal_handler(signal.SIGHUP, on_sighup)
    except (RuntimeError, ValueError):  # not the main thread of the main interpreter
        return lambda: None

    def uninstall() -> None:
        loop.remove_signal_handler(signal.SIGHUP)

    return uninstall


REQUEST_FILE = "reload.request"


def announce(shared_dir: Path | None, model_dir: Path) -> str | None:
    """Ask the other workers sharing ``shared_dir`` to load ``model_dir``; the request's id.

    The file is replaced atomically; each worker's watcher loads a request id it has not seen.
    """
    if shared_dir is None:
        return None
    request_id = uuid.uuid4().hex
    tmp = shared_dir / f".{REQUEST_FILE}.{os.getpid()}"
    tmp.write_text(f"{request_id}\n{model_dir}\n", encoding="utf-8")
    tmp.replace(shared_dir / REQUEST_FILE)
    return request_id


class LatestWatcher:
    """Reloads when the version ``model_dir`` resolves to changes, or another worker asks.

    Polls every ``interval_s`` seconds in a daemon thread. A version that fails to load is
    logged once (by :func:`reload_model`) and not retried until ``LATEST`` changes again.
    Any load (SIGHUP, the admin endpoint) counts as having seen what ``LATEST`` names then,
    so the watch never undoes a later explicit reload with an older ``LATEST`` change.
    """

    def __init__(
        self, segmenter: Segmenter, model_dir: Path, interval_s: float, shared_dir: Path | None = None
    ) -> None:
        self.segmenter, self.model_dir, self.interval_s = segmenter, model_dir, interval_s
        self.shared_dir = shared_dir
        self.seen_target = self.target()
        self.seen_request = self._request()[0]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="latest-watch", daemon=True)
        segmenter.listeners.append(self._loaded)

    def _loaded(self, _loaded: LoadedModel) -> None:
        self.seen_target = self.target()

    def target(self) -> Path | None:
        """The version directory ``model_dir`` names now (None while it names none)."""
        path = self.model_dir if self.model_dir.is_absolute() else self.segmenter.model_root / self.model_dir
        try:
            return resolve_model_dir(path).resolve()
        except (ArtifactError, OSError):
            return None

    def _request(self) -> tuple[str | None, str | None]:
        if self.shared_dir is None:
            return None, None
        try:
            request_id, model_dir = (
                (self.shared_dir / REQUEST_FILE).read_text(encoding="utf-8").split("\n")[:2]
            )
        except (OSError, ValueError):
            return None, None
        return request_id, model_dir

    def mark_seen(self, request_id: str | None) -> None:
        """This worker made the request ``request_id`` itself: no need to load it again."""
        if request_id is not None:
            self.seen_request = request_id

    def check(self) -> bool:
        """One poll; True if it reloaded (or tried to)."""
        request_id, requested = self._request()
        if request_id is not None and request_id != self.seen_request:
            self.seen_request = request_id
            return self._reload(Path(str(requested)), "admin reload of another worker")
        target = self.target()
        if target is None or target == self.seen_target:
            return False
        self.seen_target = target
        current = self.segmenter.current_or_none
        if current is not None and current.path == target:
            return False
        return self._reload(self.model_dir, "LATEST changed")

    def _reload(self, model_dir: Path, trigger: str) -> bool:
        with contextlib.suppress(ServiceError):  # logged by reload_model; the old model serves on
            reload_model(self.segmenter, model_dir, trigger)
        return True

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.check()
            except Exception:  # the watch must outlive any one failure
                logger.exception("LATEST watch of %s failed", self.model_dir)

    def start(self) -> None:
        if self.interval_s > 0:
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
