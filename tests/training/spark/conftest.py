"""One local[2] SparkSession for the session's Spark tests (start-up costs ~10 s)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from shopper_segments.training.spark.session import SparkOptions, get_session

#: Small partitions: the test data sets are small, and several partitions exercise the shuffle.
OPTIONS = SparkOptions(master="local[2]", lines_per_partition=50_000)


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """The SparkSession (skips without pyspark or without java)."""
    pytest.importorskip("pyspark", reason="pyspark is absent: pip install 'shopper-segments[spark]'")
    if shutil.which("java") is None:
        pytest.skip("java is absent: `make java` installs Debian's openjdk-17-jre-headless")
    session = get_session(OPTIONS)
    yield session
    session.stop()
