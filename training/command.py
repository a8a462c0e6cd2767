"""The ``segments`` command: segments serve | fit | assign | report | keygen.

``serve`` starts the service (:mod:`app.serve`); the other commands are the training CLI
(:mod:`training.cli`, also ``python -m training``) with the same options and exit codes.
Help is fast: nothing here imports pandas, scikit-learn or uvicorn until a command runs.
"""

from __future__ import annotations

import argparse
import os
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from shopper_segments.training.cli import EXIT_CODES, HelpFormatter, add_commands

DISTRIBUTION = "shopper-segments"
#: What the train extra adds (pyproject.toml); the service's runtime install lacks them.
TRAIN_EXTRA = frozenset({"matplotlib", "tqdm"})
SERVE_EXIT_CODES = """exit codes:
  2    bad arguments
  3    the server could not start (e.g. the port is in use)
  130  stopped by SIGINT, 143 by SIGTERM (after the graceful shutdown: uvicorn re-raises the signal)
"""


def _version() -> str:
    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:  # a source tree that was never installed
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="segments",
        description="Shopper Segments: serve a segment model over HTTP, or train, score and report.",
        epilog=EXIT_CODES,
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_serve(sub)
    add_commands(sub)
    return parser


def _add_serve(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    env = os.environ.get
    help = "start the HTTP service on a model (what make serve and the container run)"
    serve = sub.add_parser(
        "serve", help=help, description=help, epilog=SERVE_EXIT_CODES, formatter_class=HelpFormatter
    )
    serve.add_argument(
        "--model",
        type=Path,
        help="model version directory, or a name directory with a LATEST file; sets SEGMENTS_MODEL_DIR "
        "and, unless it is set, SEGMENTS_MODEL_ROOT to the model's parent (default: SEGMENTS_MODEL_DIR)",
    )
    serve.add_argument("--host", default=env("SEGMENTS_HOST", "127.0.0.1"), help="address to listen on")
    serve.add_argument("--port", type=int, default=int(env("SEGMENTS_PORT", "8000")), help="TCP port")
    serve.add_argument(
        "--workers",
        type=int,
        default=int(env("SEGMENTS_WORKERS", "") or len(os.sched_getaffinity(0))),
        help="worker processes (SEGMENTS_WORKERS; else one per CPU this process may run on)",
    )
    serve.add_argument(
        "--timeout-keep-alive", type=int, default=75, help="seconds an idle keep-alive connection stays open"
    )


def serve(args: argparse.Namespace) -> int:
    if args.model is not None:
        model = args.model.expanduser().resolve()
        if not model.is_dir():  # the service would start without a model and never be ready
            print(f"error: --model {args.model}: no such directory", file=sys.stderr)
            return 2
        os.environ["SEGMENTS_MODEL_DIR"] = str(model)
        os.environ.setdefault("SEGMENTS_MODEL_ROOT", str(model.parent))
    from shopper_segments.app import serve as app_serve  # uvicorn, FastAPI: only now

    argv = ["--host", args.host, "--port", str(args.port), "--workers", str(args.workers)]
    argv += ["--timeout-keep-alive", str(args.timeout_keep_alive), "--loop", "asyncio"]
    try:
        app_serve.main(argv)
    except SystemExit as exc:  # a startup failure exits 3 (app.serve)
        return exc.code if isinstance(exc.code, int) else 1
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run ``segments``; returns the exit code (see ``EXIT_CODES``)."""
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        return serve(args)
    from shopper_segments.training.cli import run

    try:
        return run(args)
    except ModuleNotFoundError as exc:
        if exc.name not in TRAIN_EXTRA:
            raise
        extra = f"pip install '{DISTRIBUTION}[train]'"
        print(f"error: segments {args.command} needs the train extra ({extra}): {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
