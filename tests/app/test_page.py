"""The segments page at GET /, in a real headless chromium against a real uvicorn process."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright

from shopper_segments.app.config import Settings
from shopper_segments.app.main import create_app
from tests.conftest import API_KEY, SAMPLE, Server

CHROMIUM = Path("/usr/bin/chromium")
# Generous: the machine is shared; a wait only takes this long when the page is broken.
WAIT_MS = 45_000
# Debian's chromium, never a downloaded browser build; no network but loopback.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: `make browser` installs Debian's chromium"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class Watched:
    """A page and every console error, page error and failed request it produced."""

    def __init__(self, page: Page) -> None:
        self.page, self.problems = page, []
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.problems.append(f"page error: {exc}"))
        page.on("requestfailed", lambda req: self.problems.append(f"request failed: {req.url}"))

    def _console(self, msg: ConsoleMessage) -> None:
        if msg.type in ("error", "warning"):
            self.problems.append(f"console {msg.type}: {msg.text}")


@pytest.fixture
def page(browser: Browser, sample_server: Server) -> Iterator[Watched]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    watched = Watched(context.new_page())
    watched.page.goto(f"{sample_server.url}/")
    watched.page.wait_for_selector("body[data-state=ready]", timeout=WAIT_MS)
    yield watched
    context.close()


def save_screenshot(page: Page, path: Path) -> Path:
    page.screenshot(path=str(path), full_page=True)
    artifacts = os.environ.get("SEGMENTS_ARTIFACTS")
    if artifacts:
        Path(artifacts).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(artifacts) / path.name)
    return path


def real_history(customer: str) -> pd.DataFrame:
    sample = pd.read_csv(SAMPLE, dtype=str, keep_default_na=False)
    lines = sample[sample["CustomerID"] == customer]
    assert len(lines) > 3
    return lines


def test_page_shows_the_model_and_one_card_per_segment(page: Watched, sample_server: Server) -> None:
    segments = httpx.get(f"{sample_server.url}/v1/segments").json()
    model = httpx.get(f"{sample_server.url}/v1/model").json()
    names = page.page.locator("#cards .card .seg-name").all_text_contents()
    assert names == [s["name"] for s in segments["segments"]]
    ids = page.page.locator("#cards .card").evaluate_all("cards => cards.map(c => c.dataset.segmentId)")
    assert ids == [str(s["id"]) for s in segments["segments"]]
    # One profile bar per feature on every card, sized from the scaled centroid.
    bars = page.page.locator("#cards .card svg.profile rect")
    assert bars.count() == len(segments["segments"]) * len(segments["feature_names"])
    directions = bars.evaluate_all("rects => rects.map(r => r.getAttribute('class'))")
    centres = {s["id"]: s["centroid_scaled"] for s in model["segments"]}
    assert directions == [
        "above" if v >= 0 else "below" for s in segments["segments"] for v in centres[s["id"]]
    ]
    facts = page.page.locator("#model-facts").inner_text()
    assert model["version"] in facts
    assert f"{model['data']['customers']:,}" in facts
    assert page.page.locator("#model-k").inner_text() == str(model["selection"]["chosen_k"])
    selection = model["selection"]
    assert page.page.locator("#model-scores svg rect").count() == len(selection["scores"])
    # Why this k: the rule, its warning if any, and the scores it used per k.
    assert page.page.locator("#model-rule").inner_text() == f"Rule: {selection['rule']}."
    assert page.page.locator("#model-warning").inner_text() == selection.get("warning", "")
    rows = page.page.locator("#model-score-table tbody tr")
    assert rows.count() == len(selection["scores"])
    chosen = page.page.locator("#model-score-table tr.chosen")
    assert chosen.get_attribute("data-k") == str(selection["chosen_k"])
    assert f"{selection['scores'][0]['silhouette']:.3f}".rstrip("0") in rows.first.inner_text()
    first = page.page.locator("#cards .card").first
    assert f"{segments['segments'][0]['size']:,}" in first.inner_text()
    assert page.problems == []


def test_pasted_real_history_gets_the_api_assignment(
    page: Watched, sample_server: Server, tmp_path: Path
) -> None:
    lines = real_history("16998.0")  # with two return lines (C invoices)
    as_of = httpx.get(f"{sample_server.url}/v1/model").json()["data"]["as_of"]
    expected = httpx.post(
        f"{sample_server.url}/v1/assign?explain=true",
        json={
            "as_of": as_of,
            "customers": [
                {
                    "customer_id": "16998",
                    "transactions": [
                        {
                            "order_id": r.InvoiceNo,
                            "timestamp": r.InvoiceDate,
                            "quantity": float(r.Quantity),
                            "unit_price": float(r.UnitPrice),
                            "product_id": r.StockCode,
                        }
                        for r in lines.itertuples()
                    ],
                }
            ],
        },
    ).json()["results"][0]

    page.page.fill("#history", lines.to_csv(index=False))
    assert page.page.input_value("#as-of") == as_of
    page.page.click("#assign")
    page.page.wait_for_selector("#result[data-state=done]", timeout=WAIT_MS)

    result = page.page.locator("#result .result")
    assert result.count() == 1
    assert result.get_attribute("data-customer-id") == "16998"
    shown = result.locator(".verdict .seg-name")
    assert shown.inner_text() == expected["segment_name"]
    assert shown.get_attribute("data-segment-id") == str(expected["segment_id"])
    assert f"{expected['distance']:.3f}".rstrip("0") in result.locator(".verdict").inner_text()
    # The customer's features as the API computed them (net spend after the returns).
    rows = result.locator("table.customer-features tbody tr").all_inner_texts()
    assert len(rows) == len(expected["features"])
    assert f"{expected['features']['monetary']:,.2f}" in rows[2]
    # The matching card is highlighted.
    selected = page.page.locator("#cards .card.selected")
    assert selected.count() == 1
    assert selected.get_attribute("data-segment-id") == str(expected["segment_id"])
    # Why: one bar per feature for the assigned and the next segment (explain=true).
    explanation = expected["explanation"]
    assert result.locator("svg.contributions rect.chosen").count() == len(expected["features"])
    assert result.locator("svg.contributions rect.next").count() == len(expected["features"])
    why = result.locator("p.why").inner_text()
    assert f"{explanation['squared_distance']:.3f}".rstrip("0").rstrip(".") in why
    assert f"{explanation['next_squared_distance']:.3f}".rstrip("0").rstrip(".") in why
    shot = save_screenshot(page.page, tmp_path / "segments-page.png")
    assert shot.stat().st_size > 20_000
    assert page.problems == []


def test_pasted_text_is_shown_as_text_never_markup(page: Watched) -> None:
    hostile = '<img src=x id=injected onerror="document.body.dataset.pwned=1">'
    page.page.fill("#customer-id", hostile)
    page.page.fill("#history", "timestamp,amount\n2011-06-01T10:00:00,25.5\n2011-09-01T10:00:00,40\n")
    page.page.click("#assign")
    page.page.wait_for_selector("#result[data-state=done]", timeout=WAIT_MS)
    assert page.page.locator("#result .result h3 code").inner_text() == hostile
    assert page.page.locator("#injected").count() == 0
    assert page.page.evaluate("document.body.dataset.pwned") is None
    assert page.problems == []


def test_bad_lines_are_reported_with_their_line_numbers(page: Watched) -> None:
    page.page.fill(
        "#history",
        "order_id,timestamp,quantity,unit_price\n"
        "A1,2011-06-01T10:00:00,2,3.5\n"
        "A2,2011-07-01T10:00:00,0,3.5\n"
        "A3,2011-08-01T10:00:00,two,3.5\n",
    )
    page.page.click("#assign")
    page.page.wait_for_selector("#result[data-state=error]", timeout=WAIT_MS)
    # Caught in the page: a value that is not a number.
    assert 'line 4: quantity "two" is not a number' in page.page.locator("#result .errors").inner_text()

    page.page.fill(
        "#history",
        "order_id,timestamp,quantity,unit_price\nA1,2011-06-01T10:00:00,2,3.5\nA2,2011-07-01T10:00:00,2,-3.5\n",
    )
    page.page.click("#assign")
    page.page.locator("#result .errors", has_text="(422)").wait_for(timeout=WAIT_MS)
    # Caught by the service's rulebook (the page asks strict=true), mapped back to the pasted line.
    text = page.page.locator("#result .errors").inner_text()
    assert "customers[0].transactions[1].unit_price: is negative" in text
    assert "(line 3)" in text
    # The browser logs the 422 response itself; nothing else may go wrong.
    assert [p for p in page.problems if "422" not in p] == []


def test_page_asks_for_the_api_key_when_the_service_needs_one(browser: Browser, keyed_server: Server) -> None:
    server = keyed_server
    context = browser.new_context()
    try:
        watched = Watched(context.new_page())
        watched.page.goto(f"{server.url}/")
        watched.page.wait_for_selector("body[data-state=needs-key]", timeout=WAIT_MS)
        assert watched.page.locator("#key-form").is_visible()
        assert watched.page.locator("#cards .card").count() == 0
        watched.page.fill("#api-key", "not-the-key")
        watched.page.click("#use-key")
        watched.page.locator("#status", has_text="not valid").wait_for(timeout=WAIT_MS)
        watched.page.fill("#api-key", API_KEY)
        watched.page.click("#use-key")
        watched.page.wait_for_selector("body[data-state=ready]", timeout=WAIT_MS)
        assert not watched.page.locator("#key-form").is_visible()
        names = watched.page.locator("#cards .card .seg-name").all_text_contents()
        segments = httpx.get(f"{server.url}/v1/segments", headers={"X-API-Key": API_KEY}).json()
        assert names == [s["name"] for s in segments["segments"]]
        watched.page.click("#example")
        watched.page.click("#assign")
        watched.page.wait_for_selector("#result[data-state=done]", timeout=WAIT_MS)
        assert watched.page.locator("#result .result").get_attribute("data-customer-id") == "16998"
        # Only the refused key requests (401) may show in the console.
        assert [p for p in watched.problems if "401" not in p] == []
        assert API_KEY not in server.log.read_text()
    finally:
        context.close()


def test_mixture_model_results_show_membership_probabilities(
    browser: Browser, gmm_server: tuple[Server, Path, dict]
) -> None:
    server, _, meta = gmm_server
    assert meta["algorithm"] == "gmm"
    context = browser.new_context()
    try:
        watched = Watched(context.new_page())
        watched.page.goto(f"{server.url}/")
        watched.page.wait_for_selector("body[data-state=ready]", timeout=WAIT_MS)
        assert watched.page.locator("#cards .card").count() == 3
        watched.page.click("#example")
        watched.page.click("#assign")
        watched.page.wait_for_selector("#result[data-state=done]", timeout=WAIT_MS)
        shown = watched.page.locator("#result .probabilities").inner_text()
        as_of = meta["data"]["as_of"]
        lines = real_history("16998.0")
        answer = httpx.post(
            f"{server.url}/v1/assign",
            json={
                "as_of": as_of,
                "customers": [
                    {
                        "customer_id": "16998",
                        "transactions": [
                            {
                                "order_id": r.InvoiceNo,
                                "timestamp": r.InvoiceDate,
                                "quantity": float(r.Quantity),
                                "unit_price": float(r.UnitPrice),
                            }
                            for r in lines.itertuples()
                        ],
                    }
                ],
            },
        ).json()["results"][0]
        assert len(answer["probabilities"]) == 3
        for p in answer["probabilities"]:
            percent = 100 * p["probability"]
            text = "<0.1%" if 0 < percent < 0.1 else f"{percent:.1f}".removesuffix(".0") + "%"
            assert f"{p['segment_name']} {text}" in shown
        assert watched.problems == []
    finally:
        context.close()


def test_page_route_is_html_with_a_strict_policy_and_out_of_the_schema(
    sample_model: tuple[Path, dict],
) -> None:
    path, _ = sample_model
    with TestClient(create_app(Settings(model_root=path.parent.parent, model_dir=path))) as client:
        response = client.get("/")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
        assert "script-src 'self'" in response.headers["content-security-policy"]
        assert '<script src="/static/segments.js"' in response.text
        script = client.get("/static/segments.js")
        assert script.status_code == 200
        assert "javascript" in script.headers["content-type"]
        assert "innerHTML" not in script.text and "insertAdjacentHTML" not in script.text
        assert client.get("/static/segments.css").status_code == 200
        assert client.get("/static/missing.js").status_code == 404
        paths = client.get("/openapi.json").json()["paths"]
        assert "/" not in paths
        assert not any(p.startswith("/static") for p in paths)


def test_pasted_json_customer_with_spend_beyond_training_is_flagged(page: Watched) -> None:
    history = (
        '{"customer_id": "big-spender", "transactions": ['
        '{"order_id": "X1", "timestamp": "2011-10-01T10:00:00", "amount": 9000000},'
        '{"order_id": "X2", "timestamp": "2011-11-01T10:00:00", "quantity": 10, "unit_price": 2.5}]}'
    )
    page.page.fill("#history", history)
    page.page.click("#assign")
    page.page.wait_for_selector("#result[data-state=done]", timeout=WAIT_MS)
    result = page.page.locator("#result .result")
    assert result.get_attribute("data-customer-id") == "big-spender"
    flagged = [
        row.split("\t")[0]
        for row in result.locator("table.customer-features tbody tr").all_inner_texts()
        if "outside the training range" in row
    ]
    assert "Net spend" in flagged and "Avg order value" in flagged
    assert "Orders" not in flagged
    assert page.problems == []


def test_page_fits_a_phone_width_without_sideways_scrolling(browser: Browser, sample_server: Server) -> None:
    context = browser.new_context(viewport={"width": 400, "height": 800})
    try:
        watched = Watched(context.new_page())
        watched.page.goto(f"{sample_server.url}/")
        watched.page.wait_for_selector("body[data-state=ready]", timeout=WAIT_MS)
        width, inner = watched.page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert width <= inner
        assert watched.problems == []
    finally:
        context.close()
