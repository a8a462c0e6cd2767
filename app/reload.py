"""Activating a new model without a restart: the logged reload, and SIGHUP."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from pathlib import Path

from shopper_segments.app.errors import ServiceError
from shopper_segments.app.segmenter import LoadedModel, Segmenter

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
