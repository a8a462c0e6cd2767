"""The CLI's exit codes, and SIGTERM and SIGINT during a run (temporary files are removed).

``save_model`` removes its ``.tmp-*`` directory on any exception (``except BaseException``)
and bulk scoring's shard directory is a ``TemporaryDirectory``; both need the signal to
arrive as an exception in the main thread. SIGINT already does (``KeyboardInterrupt``);
:func:`stop_on_signals` makes SIGTERM raise :class:`Terminated` too, and ignores a second
signal while that cleanup runs.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

from shopper_segments.core.errors import ArtifactError, OutputError, TrainingError

#: Exit codes of an interrupted run: 128 + the signal number, as shells report it.
EXIT_SIGINT = 128 + signal.SIGINT
EXIT_SIGTERM = 128 + signal.SIGTERM

EXIT_CODES = """exit codes:
  0    done
  1    unexpected failure (a bug, or the system, e.g. a full disk): a traceback
  2    bad arguments or unusable input data: one 'error: ...' line
  3    the output can't be written (--out not a writable directory, permission denied)
  4    a model or key refused: missing, altered, unsigned or wrongly signed, incompatible
  130  interrupted (SIGINT), 143 terminated (SIGTERM); temporary files are removed
"""


class Terminated(BaseException):
    """SIGTERM arrived (a BaseException, like KeyboardInterrupt: ``except Exception`` lets it by)."""


def _raise(signum: int, _frame: FrameType | None) -> None:
    for sig in (signal.SIGINT, signal.SIGTERM):  # a second signal must not cut the cleanup short
        signal.signal(sig, signal.SIG_IGN)
    if signum == signal.SIGTERM:
        raise Terminated()
    raise KeyboardInterrupt()


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Terminated` and SIGINT ``KeyboardInterrupt``.

    The previous handlers are restored on exit. Outside the main thread (where signals
    can't be handled) the block runs unchanged.
    """
    try:
        previous = {sig: signal.signal(sig, _raise) for sig in (signal.SIGINT, signal.SIGTERM)}
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_guarded(command: Callable[[], None]) -> int:
    """Run ``command`` under :func:`stop_on_signals`; its exit code (:data:`EXIT_CODES`).

    Errors meant for the user print one ``error: ...`` line on stderr; anything else
    propagates (a traceback, exit 1).
    """
    try:
        with stop_on_signals():
            command()
    except KeyboardInterrupt:
        return _interrupted("interrupted (SIGINT); temporary files removed", EXIT_SIGINT)
    except Terminated:
        return _interrupted("terminated (SIGTERM); temporary files removed", EXIT_SIGTERM)
    except ArtifactError as exc:
        return _fail(str(exc), 4)
    except (OutputError, PermissionError) as exc:
        return _fail(str(exc), 3)
    except TrainingError as exc:
        return _fail(str(exc), 2)
    return 0


def _interrupted(message: str, code: int) -> int:
    """The one line of a run stopped by a signal, and no finalizer tracebacks after it.

    The signal may land inside a constructor (pyarrow's ``ParquetWriter`` while a table is
    saved, say): the half-built object's finalizer then fails at exit on a file the cleanup
    already closed, and Python would print "Exception ignored in ..." with a traceback after
    the line. Those are the interruption's consequences, not errors of their own.
    """
    sys.unraisablehook = _after_interruption
    return _fail(message, code)


def _after_interruption(unraisable: object) -> None:
    return None


def _fail(message: str, code: int) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code
