"""Command line: train, score, report and sign models (python -m training, or segments).

Help is fast: the parser needs no pandas or scikit-learn, the commands import them when they run.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from shopper_segments.training.dataset import DEFAULT_TOP_CATEGORIES
from shopper_segments.training.dispatch import COLUMN_OPTIONS, run_command
from shopper_segments.training.exits import EXIT_CODES, run_guarded

#: training.algorithms.ALGORITHMS, spelled out: the parser needs no scikit-learn (a test keeps them equal).
ALGORITHM_CHOICES = ("kmeans", "gmm", "ward", "rfm")


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Descriptions and epilogs as written, and every option's default in its help.

    Not for an option without a default (None: its help says what happens) nor for an on/off flag.
    """

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or isinstance(action.default, bool) or action.nargs == 0:
            return action.help
        return super()._get_help_string(action)


def build_parser(prog: str = "python -m training") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Shopper Segments training: " + __doc__.splitlines()[0].removeprefix("Command line: "),
        epilog=EXIT_CODES,
        formatter_class=HelpFormatter,
    )
    add_commands(parser.add_subparsers(dest="command", required=True, metavar="COMMAND"))
    return parser


def add_commands(sub: Any) -> None:
    """fit, report, assign and keygen, as subcommands of ``sub`` (an argparse subparsers action)."""

    def add(name: str, help: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = sub.add_parser(
            name, help=help, description=help, epilog=EXIT_CODES, formatter_class=HelpFormatter
        )
        return parser

    fit = add("fit", "train a segment model from transactions or a customer table")
    _add_input_options(fit)
    fit.add_argument("--table-columns", nargs="+", help="train a customer table on these numeric columns")
    fit.add_argument("--table-id", help="customer id column of the table")
    fit.add_argument("--log-columns", nargs="*", default=[], help="table columns to log-transform")
    fit.add_argument("--k", type=int, help="number of segments (default: chosen automatically)")
    fit.add_argument(
        "--k-min", type=int, default=4, help="smallest k chosen (2 ks below are also scored, named if better)"
    )
    fit.add_argument(
        "--k-max", type=int, default=8, help="largest k chosen (2 ks above are also scored, named if better)"
    )
    fit.add_argument(
        "--currency", type=str.upper, help="ISO 4217 code of the money columns (e.g. GBP): labels the report"
    )
    fit.add_argument(
        "--seed", type=int, default=42, help="random seed (the same seed and data give the same model)"
    )
    fit.add_argument(
        "--top-categories",
        type=int,
        help="product categories kept as features, the rest pooled as other "
        f"(default: the dataset spec's [categories] top, else {DEFAULT_TOP_CATEGORIES})",
    )
    fit.add_argument("--as-of", help="reference time (ISO 8601); default midnight after the last line")
    fit.add_argument("--out", type=Path, default=Path("models"), help="model root directory")
    fit.add_argument("--name", default="model", help="model name (a directory under --out)")
    fit.add_argument("--names", type=Path, help="JSON object of segment id -> name overrides")
    fit.add_argument("--no-report", dest="report", action="store_false", help="skip report.html")
    fit.add_argument("--signing-key", type=Path, help="Ed25519 private key (PEM) that signs the model")
    _demographics_options(fit)
    report = add("report", "(re)write report.html and figures/ of a model directory")
    report.add_argument("model_dir", type=Path, help="model version directory (or name directory: LATEST)")
    _demographics_options(report)
    fit.add_argument(
        "--algorithm",
        choices=ALGORITHM_CHOICES,
        default="kmeans",
        help="clustering algorithm, or rfm: the named RFM grid (no k, no --compare)",
    )
    fit.add_argument(
        "--compare", action="store_true", help="also fit the other algorithms and record their scores"
    )
    fit.add_argument("--n-init", type=int, default=10, help="K-means initialisations")
    fit.add_argument(
        "--previous",
        type=Path,
        help="model (version or name directory) whose segment ids to keep; default: --out/--name's LATEST",
    )
    fit.add_argument(
        "--no-previous", dest="use_previous", action="store_false", help="do not match a previous model"
    )
    fit.add_argument("--until", help="train only on lines before this time (ISO 8601, exclusive)")
    bulk = add("assign", "score every customer of a transaction file (streaming)")
    bulk.add_argument("--model", required=True, type=Path, help="model version or name directory")
    _add_input_options(bulk)
    bulk.add_argument("--output", required=True, type=Path, help="output .csv or .parquet")
    bulk.add_argument("--as-of", help="reference time (ISO 8601); default the model's training as_of")
    bulk.add_argument("--shards", type=int, help="number of shard files (default: from the input size)")
    bulk.add_argument("--tmp-dir", type=Path, help="where shard files go (default: the system temp)")
    bulk.add_argument("--progress", action=argparse.BooleanOptionalAction, help="progress bars")
    bulk.add_argument("--public-key", type=Path, help="load the model only if this key (PEM) signed it")
    keygen = add("keygen", "write an Ed25519 key pair for signing models")
    keygen.add_argument("--out", required=True, type=Path, help="directory for the two key files")


def _demographics_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--demographics", type=Path, help="customer attribute table profiled per segment (not clustered)"
    )
    parser.add_argument("--demographics-id", help="customer id column of the --demographics table")


def _add_input_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--input",
        required=True,
        type=Path,
        help="CSV, .csv.gz or Parquet file, or a directory or glob of them",
    )
    parser.add_argument("--dataset", type=Path, help="TOML dataset spec (column mapping, categories)")
    for name in COLUMN_OPTIONS:
        parser.add_argument(f"--{name.replace('_', '-')}-col", dest=name, help=f"column holding {name}")
    parser.add_argument("--categories-file", help="table mapping product_id to a category")
    parser.add_argument("--categories-key", help="key column of the categories file (default product_id)")
    parser.add_argument("--categories-column", help="category column of the categories file")
    parser.add_argument("--timezone", help="timezone of naive timestamps (default UTC)")
    parser.add_argument("--max-bad-fraction", type=float, help="fail above this share of bad rows")
    _engine_options(parser)


def _engine_options(parser: argparse.ArgumentParser) -> None:
    """--engine and the Spark engine's options (training/spark, docs/spark.md)."""
    parser.add_argument(
        "--engine", choices=("local", "spark"), default="local", help="run in this process, or on Spark"
    )
    parser.add_argument("--master", default="local[*]", help="Spark master URL (spark://host:7077, local[2])")
    parser.add_argument("--driver-memory", help="Spark driver memory (e.g. 4g; default Spark's)")
    parser.add_argument(
        "--fit-collect-limit",
        type=int,
        default=2_000_000,
        help="spark fit: fit on all customers up to this many, else on a sample",
    )
    parser.add_argument(
        "--fit-sample", type=int, default=1_000_000, help="spark fit: customers in the seeded fitting sample"
    )


def main(argv: list[str] | None = None) -> int:
    """Run a command; returns the exit code (see ``EXIT_CODES``)."""
    return run(build_parser().parse_args(argv))


def run(args: argparse.Namespace) -> int:
    """Run parsed arguments (of :func:`build_parser` or the ``segments`` command); the exit code."""
    return run_guarded(lambda: run_command(args))
