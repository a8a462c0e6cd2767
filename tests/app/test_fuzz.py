"""Schemathesis fuzzes a real uvicorn process against its own OpenAPI schema.

Every operation of ``/openapi.json`` gets seeded, derandomized examples generated from the
schema; each answer must not be a 5xx and must conform to the schema (status code
declared, content type, headers, body).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import Server


@schemathesis.serializer("text/csv")
def _csv(ctx: Any, value: Any) -> bytes:
    """CSV uploads: generated text as it stands (UTF-8)."""
    return value.encode("utf-8", "surrogatepass") if isinstance(value, str) else bytes(str(value), "utf-8")


schemathesis.serializer.alias("application/vnd.apache.parquet", "application/octet-stream")

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def fuzz_server(limited_server: Server) -> Server:
    """Not ``sample_server``: fuzzing must not disturb the counters other tests read."""
    return limited_server


@pytest.fixture(scope="module")
def fuzz_schema(fuzz_server: Server) -> Any:
    return schemathesis.openapi.from_url(f"{fuzz_server.url}/openapi.json")


FUZZ = settings(
    max_examples=20,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)


def fuzzer(strategy: Any, label: str, tally: Counter[str]) -> Any:
    """A hypothesis test sending ``strategy``'s cases and checking each answer."""

    @FUZZ
    @given(case=strategy)
    def fuzz(case: Any) -> None:
        response = case.call_and_validate(checks=CHECKS)
        tally[label] += 1
        tally[str(case.media_type)] += 1
        tally[f"{response.status_code // 100}xx"] += 1

    return fuzz


def test_no_5xx_and_every_answer_conforms(fuzz_schema: Any) -> None:
    """Each operation in turn, with schema-valid and schema-violating (negative) cases.

    One test looping over the operations: pytest 9 can't collect schemathesis' lazy
    fixture schemas, and the schema only exists once the server runs.
    """
    tally: Counter[str] = Counter()
    operations = [result.ok() for result in fuzz_schema.get_all_operations()]
    assert {"POST /v1/assign", "GET /v1/segments", "GET /healthz"} <= {op.label for op in operations}
    for operation in operations:
        for mode in GenerationMode:
            label = f"{mode.value} {operation.label}"
            try:
                fuzzer(operation.as_strategy(generation_mode=mode), label, tally)()
            except Unsatisfiable:
                tally["operations without negative cases"] += mode is GenerationMode.NEGATIVE
    examples = sum(n for label, n in tally.items() if "/" in label)
    print(f"schemathesis: {examples} examples over {len(operations)} operations: {dict(tally)}")
    assert tally["5xx"] == 0
    assert all(tally[f"positive {op.label}"] > 0 for op in operations)
    assert tally["positive POST /v1/assign"] >= 15 and tally["negative POST /v1/assign"] >= 15
    assert tally["text/csv"] > 0 and tally["application/vnd.apache.parquet"] > 0  # the upload route too
    assert tally["2xx"] > 0 and tally["4xx"] > 0
