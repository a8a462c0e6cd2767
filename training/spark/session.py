"""The SparkSession the engine runs in, and the options that choose it."""

from __future__ import annotations

import os
import sys
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

#: pyspark 4 warns (FutureWarning) that it does not yet fully support pandas 3: the engine passes
#: pandas only Arrow-converted frames of plain types, which the parity test checks.
PANDAS_WARNING = r"PySpark does not yet fully support pandas >= 3"


@dataclass(frozen=True)
class SparkOptions:
    """How the Spark engine runs (the CLI's ``--master``, ``--driver-memory`` and fit limits)."""

    master: str = "local[*]"
    driver_memory: str | None = None
    #: fit on all customers when at most this many, else on a seeded sample of them
    collect_limit: int = 2_000_000
    #: customers in the fitting sample above ``collect_limit``
    sample_size: int = 1_000_000
    #: lines per partition after the shuffle by customer (each partition is one pandas frame)
    lines_per_partition: int = 1_000_000


def filter_warnings() -> None:
    """Ignore pyspark's pandas-version warnings (only those: other warnings stay errors in tests)."""
    warnings.filterwarnings("ignore", message=PANDAS_WARNING, category=FutureWarning)


def get_session(options: SparkOptions, app_name: str = "shopper-segments") -> SparkSession:
    """The active SparkSession, or a new one on ``options.master``.

    The Python workers run this interpreter (``PYSPARK_PYTHON``), so they import the same
    ``shopper_segments``. Times are UTC and Arrow carries the batches.

    Raises
    ------
    ImportError
        Without pyspark (``pip install 'shopper-segments[spark]'``).
    """
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    filter_warnings()
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    builder = (
        SparkSession.builder.appName(app_name)
        .master(options.master)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", "100000")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.adaptive.enabled", "true")
        # the partitions by customer are sized by the engine, not merged by adaptive execution
        .config("spark.sql.adaptive.coalescePartitions.enabled", "false")
        .config("spark.executorEnv.PYSPARK_PYTHON", sys.executable)
    )
    if options.driver_memory:
        builder = builder.config("spark.driver.memory", options.driver_memory)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session
