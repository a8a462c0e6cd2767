"""The parsed command line read into what each command runs, and the command run.

Imports nothing heavy at module level: the parser (:mod:`training.cli`) imports this, and
help stays fast; each command imports pandas, scikit-learn or Spark when it runs.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from shopper_segments.training.dataset import ColumnMap
from shopper_segments.training.summary import format_summary

if TYPE_CHECKING:
    import pandas as pd

    from shopper_segments.training.config import TrainConfig
    from shopper_segments.training.dataset import DatasetSpec

#: The column options (``--customer-id`` ...): the fields of a dataset's column map.
COLUMN_OPTIONS = [f for f in ColumnMap.__dataclass_fields__]


def spark_options(args: argparse.Namespace) -> Any:
    """The :class:`training.spark.session.SparkOptions` of the parsed options."""
    from shopper_segments.training.spark.session import SparkOptions

    return SparkOptions(
        master=args.master,
        driver_memory=args.driver_memory,
        collect_limit=args.fit_collect_limit,
        sample_size=args.fit_sample,
    )


def dataset_from_args(args: argparse.Namespace) -> DatasetSpec:
    """The dataset spec of ``--dataset`` with the column and parsing options applied."""
    from shopper_segments.training.dataset import DatasetSpec

    dataset = DatasetSpec.from_toml(args.dataset) if args.dataset else DatasetSpec()
    overrides: dict[str, Any] = {n: getattr(args, n) for n in COLUMN_OPTIONS if getattr(args, n)}
    for opt in ("categories_file", "categories_key", "categories_column", "timezone", "max_bad_fraction"):
        if getattr(args, opt) is not None:
            overrides[opt] = getattr(args, opt)
    return dataset.with_overrides(**overrides)


def _as_of(text: str | None, option: str = "--as-of") -> pd.Timestamp | None:
    """A time option read by the rulebook (ISO 8601 forms, naive is UTC, never epoch seconds)."""
    if not text:
        return None
    import pandas as pd

    from shopper_segments.core.errors import DataError
    from shopper_segments.core.rules import parse_timestamp

    try:
        return pd.Timestamp(parse_timestamp(text))
    except (ValueError, OverflowError) as exc:
        raise DataError(f"{option} {text!r} {exc}") from exc


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    from shopper_segments.training.config import TrainConfig

    return TrainConfig(
        input=args.input,
        dataset=dataset_from_args(args),
        table_columns=args.table_columns,
        table_id=args.table_id,
        log_columns=args.log_columns,
        k=args.k,
        k_min=args.k_min,
        k_max=args.k_max,
        currency=args.currency,
        seed=args.seed,
        top_categories=args.top_categories,
        as_of=_as_of(args.as_of),
        out=args.out,
        name=args.name,
        names_file=args.names,
        report=args.report,
        demographics=args.demographics,
        demographics_id=args.demographics_id,
        algorithm=args.algorithm,
        compare=args.compare,
        n_init=args.n_init,
        previous=args.previous,
        use_previous=args.use_previous,
        until=_as_of(args.until, "--until"),
        signing_key=args.signing_key,
    )


def run_command(args: argparse.Namespace) -> None:
    """Run the parsed command (errors are the caller's: :func:`training.exits.run_guarded`)."""
    if args.command == "fit" and args.engine == "spark":
        from shopper_segments.training.spark.fit import train as train_on_spark

        path, meta = train_on_spark(config_from_args(args), spark_options(args))
        print(format_summary(path, meta))
    elif args.command == "assign" and args.engine == "spark":
        from shopper_segments.training.bulk import format_report
        from shopper_segments.training.spark.score import score

        keys = args.public_key
        report = score(
            args.model,
            args.input,
            args.output,
            dataset_from_args(args),
            _as_of(args.as_of),
            spark_options(args),
            keys,
        )
        print(format_report(report, args.output))
    elif args.command == "fit":
        from shopper_segments.training.train import train

        path, meta = train(config_from_args(args))
        print(format_summary(path, meta))
    elif args.command == "assign":
        from shopper_segments.training.bulk import format_report, score_file

        report = score_file(
            args.model,
            args.input,
            args.output,
            dataset_from_args(args),
            as_of=_as_of(args.as_of),
            shards=args.shards,
            tmp_dir=args.tmp_dir,
            progress=args.progress,
            public_key=args.public_key,
        )
        print(format_report(report, args.output))
    elif args.command == "report":
        from shopper_segments.training.report import ReportOptions, write_report  # matplotlib: only here

        options = ReportOptions(args.demographics, args.demographics_id)
        print(f"report written to {write_report(args.model_dir, options)}")
    elif args.command == "keygen":
        from shopper_segments.core import signing

        private, public = signing.generate_keypair(args.out)
        print(f"private key {private} (mode 0600: keep it secret, pass it to fit --signing-key)")
        print(f"public key  {public} (give it to the service: SEGMENTS_MODEL_PUBLIC_KEY)")
