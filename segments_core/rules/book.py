"""The rule table: each rule's code, subject, condition, outcome and reason, in the order rules apply."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Outcome = Literal["kept", "dropped", "invalid", "no_purchases"]


@dataclass(frozen=True)
class Rule:
    """One rule: what it is about, when it applies, and what happens."""

    code: str
    subject: Literal["line", "customer", "request"]
    when: str
    outcome: Outcome
    why: str


RULES: tuple[Rule, ...] = (
    Rule(
        "missing_customer_id",
        "line",
        "the customer id is empty or blank (files)",
        "dropped",
        "a line nobody bought can't describe a customer; a JSON customer must carry its id",
    ),
    Rule(
        "id_text",
        "line",
        "an id (customer, order, product) is written as a float (`17850.0`) or with surrounding spaces",
        "kept",
        "the id is read as text without the `.0` and the spaces, so `17850.0` is `17850` everywhere",
    ),
    Rule(
        "unprintable_id",
        "line",
        "a customer id holds a control, format or zero-width character (`\\u200b`, C1 controls, "
        "bidirectional overrides)",
        "invalid",
        "such ids look like others or like nothing; they are never what a shop meant",
    ),
    Rule(
        "bad_timestamp",
        "line",
        "the timestamp is not ISO 8601: extended (`2011-06-01T08:26:00Z`), "
        "basic (`20110601T082600Z`) or date-only (`2011-06-01`, `20110601`); numbers and numeric "
        "strings such as `1323475200` are never read as epoch seconds",
        "invalid",
        "an unreadable time would place the customer anywhere",
    ),
    Rule(
        "time_resolution",
        "line",
        "a timestamp has more than 6 fractional digits",
        "kept",
        "read to the microsecond (truncated), alike in files and requests",
    ),
    Rule(
        "time_zone",
        "line",
        "the timestamp has an offset (`+01:00`, `Z`) or none",
        "kept",
        "converted to UTC; without an offset it is in the model's zone: the training dataset's "
        "`timezone` (default UTC), in files and requests alike (a time a DST change skips or "
        "repeats there is invalid); `as_of` without an offset is UTC",
    ),
    Rule(
        "timestamp_out_of_range",
        "line",
        "the timestamp is before 1970-01-01, after `as_of`, or more than the tolerance in the future",
        "invalid",
        "features are measured up to `as_of`; a later line is a mistake in the data or the request "
        "(files: a line after `--as-of` fails the run, naming the line)",
    ),
    Rule(
        "bad_number",
        "line",
        "amount, quantity or unit_price is not a finite number, or only one "
        "of quantity and unit_price is given, or amount together with them",
        "invalid",
        "the line's money is unknown",
    ),
    Rule(
        "missing_money",
        "line",
        "a line has no amount (nor quantity and unit_price) and the model uses spend",
        "invalid",
        "monetary features need every line's money",
    ),
    Rule(
        "negative_price",
        "line",
        "unit_price is below zero",
        "invalid",
        "a price is never negative; a return is a negative quantity or amount",
    ),
    Rule(
        "duplicate_lines",
        "line",
        "a line repeats another of the same customer exactly (order id, "
        "timestamp, amount, category, product id)",
        "dropped",
        "exports often repeat lines; a copy is not a second purchase",
    ),
    Rule("zero_quantity", "line", "quantity is zero", "dropped", "neither a purchase nor a return"),
    Rule(
        "zero_price",
        "line",
        "unit_price is zero (free items)",
        "dropped",
        "carries no spend; free items are not purchases",
    ),
    Rule("zero_amount", "line", "amount is zero", "dropped", "neither a purchase nor a return"),
    Rule(
        "return",
        "line",
        "amount or quantity is negative (returns, cancellations such as Online Retail's `C` invoices)",
        "kept",
        "reduces net spend; not a visit",
    ),
    Rule(
        "missing_order_id",
        "line",
        "the line has no order id",
        "kept",
        "the line belongs to the visit at its timestamp",
    ),
    Rule(
        "no_purchases",
        "customer",
        "no line with a positive amount is left (only returns, or every line dropped)",
        "no_purchases",
        "features are undefined; answered with this status and counted, never silently absent",
    ),
    Rule(
        "duplicate_customer",
        "customer",
        "a request names the same customer id twice",
        "invalid",
        "the later customer is refused; merge the histories instead",
    ),
    Rule(
        "as_of",
        "request",
        "`as_of` is given as an ISO 8601 timestamp (the same forms as lines)",
        "kept",
        "the reference time; default now (serving) or midnight UTC after the last line (training)",
    ),
)
RULE_CODES = tuple(r.code for r in RULES)
#: The fields that make two lines of a customer the same line (rule ``duplicate_lines``).
DUPLICATE_KEY = ("customer_id", "order_id", "timestamp", "amount", "category", "product_id")
#: The codes under which lines are dropped, in the order they are tested.
DROP_CODES = tuple(r.code for r in RULES if r.outcome == "dropped")


def rule_table() -> str:
    """The rulebook as a Markdown table (docs/rules.md holds the generated copy)."""
    rows = ["| rule | about | when | outcome | why |", "|---|---|---|---|---|"]
    rows += [f"| `{r.code}` | {r.subject} | {r.when} | {r.outcome} | {r.why} |" for r in RULES]
    return "\n".join(rows)
