"""The rulebook gives one answer on every path: bulk scoring, the JSON route, the CSV upload.

Generated histories (hypothesis, derandomized: the same examples every run) hold every
accepted timestamp form, lines without an order id, zero quantities and prices, returns,
exact duplicates and customers without a purchase. One model, trained once on the bundled
sample, scores them through :func:`training.bulk.score_file`, POST /v1/assign as JSON and
as a CSV upload; every path must give each customer the same status, segment, features
and drop counts, which must also be the ones an independent reading of the rules gives.
"""

from __future__ import annotations

import csv
import io
import json
import math
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from shopper_segments.app.config import Settings
from shopper_segments.app.main import create_app
from shopper_segments.core.results import parse_dropped
from shopper_segments.training.bulk import score_file
from shopper_segments.training.cli import main as cli_main
from shopper_segments.training.dataset import ColumnMap, DatasetSpec
from shopper_segments.training.frames import clean
from shopper_segments.training.loading import load_transactions
from tests.conftest import ROOT

AS_OF = "2011-12-10T00:00:00Z"
AS_OF_TS = pd.Timestamp(AS_OF)
START = pd.Timestamp("2010-12-01T00:00:00Z")
SPAN_SECONDS = int((AS_OF_TS - START).total_seconds())
COLUMNS = ["customer_id", "order_id", "timestamp", "quantity", "unit_price", "product_id"]
DATASET = DatasetSpec(
    columns=ColumnMap(
        customer_id="customer_id",
        order_id="order_id",
        timestamp="timestamp",
        quantity="quantity",
        unit_price="unit_price",
        product_id="product_id",
    )
)
REL = 1e-9
PROPERTIES = settings(
    derandomize=True,
    database=None,
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

# --- the model and the three paths ------------------------------------------------------


@pytest.fixture(scope="module")
def model_dir(sample_model: tuple[Path, dict]) -> Path:
    """The session's seeded model on the bundled sample (quantity x unit_price money), read only."""
    return sample_model[0]


@pytest.fixture(scope="module")
def client(model_dir: Path) -> Iterator[TestClient]:
    settings_ = Settings(model_root=model_dir.parent.parent, model_dir=model_dir.parent)
    with TestClient(create_app(settings_)) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def feature_names(model_dir: Path) -> list[str]:
    return list(json.loads((model_dir / "metadata.json").read_text())["features"]["names"])


History = list[tuple[str, list[dict[str, Any]]]]
Answer = dict[str, tuple[str, int | None, dict[str, float] | None, dict[str, int]]]


def json_answer(results: list[dict[str, Any]]) -> Answer:
    """customer id -> (status, segment id, features, lines dropped) of a JSON answer."""
    out: Answer = {}
    for r in results:
        assert r["customer_id"] not in out, r
        drops = {k: v for k, v in r["lines_dropped"].items() if v}
        out[r["customer_id"]] = (r["status"], r["segment_id"], r["features"], drops)
    return out


def bulk_answer(path: Path | io.StringIO, names: list[str]) -> Answer:
    """The same of a bulk output file (or a CSV answer: the same columns)."""
    frame = pd.read_csv(path, dtype={"customer_id": str, "lines_dropped": str, "errors": str})
    out: Answer = {}
    for row in frame.to_dict("records"):
        assigned = row["status"] == "assigned"
        seg = None if pd.isna(row["segment_id"]) else int(row["segment_id"])
        feats = {n: float(row[n]) for n in names} if assigned else None
        out[row["customer_id"]] = (row["status"], seg, feats, parse_dropped(row["lines_dropped"]))
    return out


def assert_same(expected: Answer, got: Answer, what: str) -> None:
    assert sorted(got) == sorted(expected), what
    for cid, (status, seg, feats, drops) in expected.items():
        g_status, g_seg, g_feats, g_drops = got[cid]
        where = f"{what}: customer {cid!r}"
        assert (g_status, g_seg, g_drops) == (status, seg, drops), where
        assert (g_feats is None) == (feats is None), where
        if feats is not None and g_feats is not None:
            assert sorted(g_feats) == sorted(feats), where
            for name, value in feats.items():
                assert math.isclose(g_feats[name], value, rel_tol=REL, abs_tol=1e-12), (where, name)


# --- generated histories --------------------------------------------------------------

#: form -> the precision it writes ("us": whole microseconds, "min": whole minutes, "day": dates)
FORMS = {
    "ext_z": "us",
    "ext_lower_z_comma": "us",
    "ext_offset": "us",
    "ext_minus_offset": "us",
    "ext_hours_offset_minutes": "min",
    "naive_space": "us",
    "basic_z": "us",
    "basic_offset": "us",
    "basic_hours_offset": "us",
    "date_ext": "day",
    "date_basic": "day",
}
#: the same instant AS_OF in several forms (the JSON body and the ?as_of= query)
AS_OF_FORMS = [AS_OF, "20111210T000000Z", "2011-12-10", "20111210", "2011-12-10T01:00:00+01:00"]


def floor(t: pd.Timestamp, form: str) -> pd.Timestamp:
    return {"us": t, "min": t.floor("min"), "day": t.normalize()}[FORMS[form]]


def render(t: pd.Timestamp, form: str) -> str:
    """``t`` (UTC, whole microseconds) written in one accepted form."""
    assert floor(t, form) == t, (t, form)
    frac = f".{t.microsecond:06d}" if t.microsecond else ""
    plus1, minus530 = t + pd.Timedelta(hours=1), t - pd.Timedelta(hours=5, minutes=30)
    return {
        "ext_z": f"{t:%Y-%m-%dT%H:%M:%S}{frac}Z",
        "ext_lower_z_comma": f"{t:%Y-%m-%dT%H:%M:%S}{frac.replace('.', ',')}z",
        "ext_offset": f"{plus1:%Y-%m-%dT%H:%M:%S}{frac}+01:00",
        "ext_minus_offset": f"{minus530:%Y-%m-%dT%H:%M:%S}{frac}-05:30",
        "ext_hours_offset_minutes": f"{plus1:%Y-%m-%dT%H:%M}+01",
        "naive_space": f"{t:%Y-%m-%d %H:%M:%S}{frac}",
        "basic_z": f"{t:%Y%m%dT%H%M%S}{frac}Z",
        "basic_offset": f"{plus1:%Y%m%dT%H%M%S}{frac}+0100",
        "basic_hours_offset": f"{plus1:%Y%m%dT%H%M%S}{frac}+01",
        "date_ext": f"{t:%Y-%m-%d}",
        "date_basic": f"{t:%Y%m%d}",
    }[form]


@st.composite
def instants(draw: st.DrawFn) -> tuple[pd.Timestamp, str]:
    """A time at or before AS_OF (whole seconds or microseconds) and its text in one form."""
    form = draw(st.sampled_from(sorted(FORMS)))
    seconds = draw(st.integers(0, SPAN_SECONDS))
    micros = 0 if seconds == SPAN_SECONDS else draw(st.one_of(st.just(0), st.integers(1, 999_999)))
    t = floor(START + pd.Timedelta(seconds=seconds, microseconds=micros), form)
    return t, render(t, form)


QUANTITIES = st.sampled_from([-3, -1, 0, 1, 1, 2, 3, 6, 12, 24])
PRICES = st.one_of(
    st.sampled_from([0.0, 0.29, 0.85, 1.25, 2.1, 4.95]), st.integers(1, 5000).map(lambda c: c / 100)
)
ORDERS = st.one_of(st.none(), st.sampled_from(["536365", "536366", "C536379", "536370.0", "581587"]))
PRODUCTS = st.sampled_from(["85123A", "71053", "84406B", "22752.0"])
#: distinct after normalization (rule id_text), some written as floats or with spaces
CUSTOMER_IDS = ["17850.0", "12346", " 13047 ", "c-a", "客户", "14688", "15100.0", "z9"]
KINDS = ("mixed", "mixed", "mixed", "zero_price_only", "returns_only", "zero_quantity_only")


@st.composite
def lines_of(draw: st.DrawFn, kind: str) -> list[dict[str, Any]]:
    n = draw(st.integers(1, 8))
    out = []
    for _ in range(n):
        t, text = draw(instants())
        q, u = draw(QUANTITIES), draw(PRICES)
        if kind == "zero_price_only":
            u = 0.0
        elif kind == "returns_only":
            q, u = -abs(q) or -1, u or 1.0
        elif kind == "zero_quantity_only":
            q = 0
        line = {"order_id": draw(ORDERS), "t": t, "timestamp": text, "quantity": q, "unit_price": u}
        out.append({**line, "product_id": draw(PRODUCTS)})
    for _ in range(draw(st.integers(0, 3))):  # the same line again, or nearly
        copy = dict(draw(st.sampled_from(out)))
        how = draw(st.sampled_from(["copy", "restated", "requantified", "rescaled"]))
        if how == "restated":  # the same instant written in another form: a duplicate
            forms = [f for f in sorted(FORMS) if floor(copy["t"], f) == copy["t"]]
            copy["timestamp"] = render(copy["t"], draw(st.sampled_from(forms)))
        elif how == "requantified":  # another amount (or -0.0 for 0.0: the same amount)
            copy["quantity"] = -copy["quantity"] if copy["unit_price"] == 0 else copy["quantity"] + 1
        elif how == "rescaled":  # 2q x u/2: the same amount, unless rounding says otherwise
            copy["quantity"], copy["unit_price"] = copy["quantity"] * 2, copy["unit_price"] / 2
        out.insert(draw(st.integers(0, len(out))), copy)
    return out


@st.composite
def histories(draw: st.DrawFn) -> tuple[str, History]:
    """AS_OF in one form, and several customers (raw ids as written) with their lines in order.

    Mostly one customer buys something for sure (else bulk scoring refuses the file).
    """
    ids = draw(st.lists(st.sampled_from(CUSTOMER_IDS), min_size=2, max_size=6, unique=True))
    history = [(cid, draw(lines_of(draw(st.sampled_from(KINDS))))) for cid in ids]
    if draw(st.integers(0, 4)):
        t, text = draw(instants())
        buy = {"order_id": draw(ORDERS), "t": t, "timestamp": text, "quantity": 2, "unit_price": 1.25}
        history[0][1].append({**buy, "product_id": "buy"})
    for cid, lines in history:  # in files, a numeric id may be written differently per line
        if normal_id(cid).isdigit():
            for x in lines:
                x["written_id"] = draw(st.sampled_from([cid, normal_id(cid), f"{normal_id(cid)}.0 "]))
    return draw(st.sampled_from(AS_OF_FORMS)), history


def normal_id(raw: str) -> str:
    text = raw.strip()
    return text[:-2] if text.endswith(".0") and text[:-2].isdigit() else text


def expected_outcomes(
    history: History,
) -> dict[str, tuple[str, dict[str, int]]]:
    """The rules read by hand: per customer its status and lines dropped (in rule order)."""
    out = {}
    for raw, lines in history:
        seen: set[tuple[Any, ...]] = set()
        drops: dict[str, int] = {}
        purchase = False
        for x in lines:
            amount = x["quantity"] * x["unit_price"]
            order = None if x["order_id"] is None else normal_id(x["order_id"])
            key = (order, x["t"], amount, normal_id(x["product_id"]))
            code = (
                "duplicate_lines"
                if key in seen
                else "zero_quantity"
                if x["quantity"] == 0
                else "zero_price"
                if x["unit_price"] == 0
                else None
            )
            seen.add(key)
            if code:
                drops[code] = drops.get(code, 0) + 1
            purchase |= code is None and amount > 0
        out[normal_id(raw)] = ("assigned" if purchase else "no_purchases", drops)
    return out


def write_csv(history: History, path: Path) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for cid, lines in history:
            for x in lines:
                writer.writerow(
                    [
                        x.get("written_id", cid),
                        x["order_id"] or "",
                        x["timestamp"],
                        x["quantity"],
                        repr(x["unit_price"]),
                        x["product_id"],
                    ]
                )


def json_request(history: History, as_of: str = AS_OF) -> dict[str, Any]:
    customers = []
    for cid, lines in history:
        txs = []
        for x in lines:
            tx = {k: x[k] for k in ("timestamp", "quantity", "unit_price", "product_id")}
            if x["order_id"] is not None:
                tx["order_id"] = x["order_id"]
            txs.append(tx)
        customers.append({"customer_id": cid, "transactions": txs})
    return {"as_of": as_of, "customers": customers}


def post_json(client: TestClient, body: dict[str, Any]) -> dict[str, Any]:
    r = client.post("/v1/assign", json=body)
    assert r.status_code == 200, r.text[:1000]
    return dict(r.json())


def post_csv(client: TestClient, path: Path, as_of: str, accept: str = "application/json") -> Any:
    headers = {"content-type": "text/csv", "accept": accept}
    r = client.post("/v1/assign", params={"as_of": as_of}, content=path.read_bytes(), headers=headers)
    assert r.status_code == 200, r.text[:1000]
    return r.json() if accept == "application/json" else io.StringIO(r.text)


def total(drops: list[dict[str, int]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for d in drops:
        for k, v in d.items():
            out[k] = out.get(k, 0) + v
    return {k: v for k, v in out.items() if v}


# --- the property -----------------------------------------------------------------------


@PROPERTIES
@given(example=histories())
def test_every_path_applies_the_same_rulebook(
    example: tuple[str, History],
    model_dir: Path,
    client: TestClient,
    feature_names: list[str],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    as_of, history = example
    work = tmp_path_factory.mktemp("example")
    src = work / "lines.csv"
    write_csv(history, src)

    as_json = post_json(client, json_request(history, as_of))
    uploaded = post_csv(client, src, as_of)
    assert as_json["as_of"] == uploaded["as_of"] == AS_OF

    # the rules read by hand: statuses and drop counts
    expected = expected_outcomes(history)
    got = {cid: (status, drops) for cid, (status, _seg, _f, drops) in json_answer(as_json["results"]).items()}
    assert got == expected

    assert_same(json_answer(as_json["results"]), json_answer(uploaded["results"]), "csv upload vs json")
    assert as_json["summary"] == uploaded["summary"]
    statuses = [s for s, *_ in expected.values()]
    for status, drops in expected.values():  # what the examples cover: --hypothesis-show-statistics
        event(f"status {status}")
        for code in drops:
            event(f"dropped {code}")
    for status in ("assigned", "no_purchases"):
        assert as_json["summary"][status] == statuses.count(status), status
    assert as_json["summary"]["invalid"] == 0
    summary = {k: v for k, v in as_json["summary"]["lines_dropped"].items() if v}

    # bulk scoring lists every customer, also when nobody in the file bought anything
    score_file(model_dir, src, work / "bulk.csv", DATASET, as_of=AS_OF_TS, shards=2, progress=False)
    bulk = bulk_answer(work / "bulk.csv", feature_names)
    assert_same(bulk, json_answer(as_json["results"]), "bulk vs json")
    as_csv = bulk_answer(post_csv(client, src, as_of, accept="text/csv"), feature_names)
    assert_same(bulk, as_csv, "bulk vs csv upload answered as csv")
    assert summary == total([d for *_, d in bulk.values()])

    # training's own cleaning of the file drops what the service counts
    lines, report = load_transactions(src, DATASET)
    assert report.bad_rows == {}
    cleaned = clean(lines)
    assert {k: v for k, v in cleaned.dropped.items() if v} == summary


# --- the command line, once -------------------------------------------------------------


def fixed(order: str | None, stamp: str, quantity: int, price: float) -> dict[str, Any]:
    return {
        "order_id": order,
        "timestamp": stamp,
        "quantity": quantity,
        "unit_price": price,
        "product_id": "85123A",
    }


FIXED: History = [
    (
        "17850.0",
        [
            fixed("536365", "2011-06-01T08:26:00Z", 6, 2.55),
            fixed("536365", "20110601T082600Z", 6, 2.55),  # the same line: a duplicate
            fixed(None, "2011-07-01T09:00:00.250000+01:00", 2, 0.0),
            fixed(None, "2011-08-02 10:11:12.123456", 3, 1.25),
            fixed("C536379", "20110903T120000+0100", -1, 1.25),
            fixed("536400", "2011-10-01", 0, 4.95),
            fixed("536401", "20111209", 12, 0.85),
        ],
    ),
    ("12346", [fixed("541431", "20110118", 5, 0.0)]),
    (" 13047 ", [fixed("C541433", "2011-01-18T10:17:00Z", -5, 1.04)]),
    ("z9", [fixed(None, AS_OF, 1, 3.0)]),
]


def test_cli_assign_gives_the_service_answers(
    model_dir: Path, client: TestClient, feature_names: list[str], tmp_path: Path
) -> None:
    src, out = tmp_path / "lines.csv", tmp_path / "out.csv"
    write_csv(FIXED, src)
    flags = [f"--{c.replace('_', '-')}-col={c}" for c in COLUMNS]
    run = subprocess.run(
        [
            *(sys.executable, "-m", "training", "assign", "--model", str(model_dir), "--input", str(src)),
            *("--output", str(out), "--as-of", AS_OF, "--no-progress", *flags),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    cli = bulk_answer(out, feature_names)
    as_json = json_answer(post_json(client, json_request(FIXED))["results"])
    assert_same(cli, as_json, "cli vs json")
    assert {cid: a[0] for cid, a in cli.items()} == {
        "17850": "assigned",
        "12346": "no_purchases",
        "13047": "no_purchases",
        "z9": "assigned",
    }
    assert cli["17850"][3] == {"duplicate_lines": 1, "zero_price": 1, "zero_quantity": 1}
    assert cli["12346"][3] == {"zero_price": 1}


# --- basic-form dates and numbers that are no timestamp -----------------------------------


def one_line(stamp: str, cid: str = "c1") -> dict[str, Any]:
    tx = {"order_id": "o1", "timestamp": stamp, "quantity": 2, "unit_price": 1.5, "product_id": "p"}
    return {"customer_id": cid, "transactions": [tx]}


def test_basic_date_is_read_as_that_day(client: TestClient) -> None:
    basic = post_json(client, {"as_of": AS_OF, "customers": [one_line("20110601")]})["results"][0]
    assert basic["status"] == "assigned", basic
    days = (AS_OF_TS - pd.Timestamp("2011-06-01T00:00:00Z")) / pd.Timedelta(days=1)
    assert days == 192
    assert basic["features"]["recency_days"] == pytest.approx(days, rel=REL)
    assert basic["features"]["tenure_days"] == pytest.approx(days, rel=REL)
    extended = post_json(client, {"as_of": AS_OF, "customers": [one_line("2011-06-01T00:00:00Z")]})
    assert extended["results"][0] == basic


def test_epoch_seconds_are_no_timestamp(client: TestClient) -> None:
    body = {"as_of": AS_OF, "customers": [one_line("1323475200"), one_line("2011-06-01", "c2")]}
    answer = post_json(client, body)
    bad, good = answer["results"]
    assert bad["status"] == "invalid" and bad["segment_id"] is None, bad
    assert [e["field"] for e in bad["errors"]] == ["customers[0].transactions[0].timestamp"], bad
    assert "epoch" in bad["errors"][0]["message"]
    assert good["status"] == "assigned"
    assert answer["summary"]["invalid"] == 1 and answer["summary"]["assigned"] == 1

    strict = client.post("/v1/assign?strict=true", json=body)
    assert strict.status_code == 422, strict.text
    fields = [e["field"] for e in strict.json()["errors"]]
    assert "customers[0].transactions[0].timestamp" in fields, strict.json()


def test_cli_as_of_is_read_by_the_rulebook(
    model_dir: Path, client: TestClient, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The rule ``as_of``: ISO 8601 in the forms of lines, on the command line as in the service."""
    src = tmp_path / "lines.csv"
    write_csv([("c1", [fixed("o1", "2011-06-01T08:26:00Z", 2, 1.5)])], src)
    flags = [f"--{c.replace('_', '-')}-col={c}" for c in COLUMNS]
    accepted = []
    for as_of in ("10/12/2011", "Dec 10 2011", "now"):
        r = client.post("/v1/assign", json={"as_of": as_of, "customers": [one_line("2011-06-01")]})
        assert r.status_code == 422 and "as_of" in r.text, as_of
        args = ["assign", "--model", str(model_dir), "--input", str(src), "--output", str(tmp_path / "o.csv")]
        if cli_main([*args, "--as-of", as_of, "--no-progress", *flags]) != 2:
            accepted.append(as_of)
        capsys.readouterr()
    assert accepted == [], f"python -m training assign --as-of accepted {accepted}; the service refuses them"
