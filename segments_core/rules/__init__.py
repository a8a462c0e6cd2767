"""The rulebook: every rule about a purchase line and a customer, in one package.

Training (:mod:`training.loading`, :mod:`training.frames`), bulk scoring, the CSV/Parquet
upload and the JSON route all apply these functions; nothing else states a rule. Each
rule has an outcome:

- ``kept``: the line is used as it is;
- ``dropped``: the line is left out and counted under the rule's code, per customer
  in every answer and per file in training's summary;
- ``invalid``: the line (training: the file row, counted as bad, loading fails past the
  dataset's ``max_bad_fraction``; serving: the customer, answered ``invalid`` with the
  field named, the others answered);
- ``no_purchases``: a customer status (answered and counted, never silently absent).

Rules apply in the order of :data:`RULES`; a line is counted under the first rule that
drops it. The rule table of docs/rules.md is generated from :data:`RULES`
(``python -m segments_core.rules``), and a test fails when the two differ.

The table is :mod:`.book`; each kind of rule is applied by its module: :mod:`.ids`,
:mod:`.timestamps`, :mod:`.money`. Import the names from here.
"""

from shopper_segments.core.rules.book import (
    DROP_CODES,
    DUPLICATE_KEY,
    RULE_CODES,
    RULES,
    Outcome,
    Rule,
    rule_table,
)
from shopper_segments.core.rules.ids import (
    UNPRINTABLE_ID,
    check_id,
    normalize_id,
    normalize_ids,
    unprintable_ids,
)
from shopper_segments.core.rules.money import (
    BOTH_GIVEN,
    KEPT,
    MISSING_MONEY,
    MONEY_OUTCOMES,
    NEGATIVE_PRICE,
    NO_PRICE,
    NO_QUANTITY,
    OVERFLOW,
    ZERO_AMOUNT,
    ZERO_PRICE,
    ZERO_QUANTITY,
    is_purchase,
    line_money,
    money_outcome,
)
from shopper_segments.core.rules.timestamps import (
    NOT_A_TIMESTAMP,
    OUT_OF_UTC_RANGE,
    TIMESTAMP_PATTERN,
    parse_timestamp,
    parse_timestamp_general,
    parse_timestamps,
)

__all__ = [
    "BOTH_GIVEN",
    "DROP_CODES",
    "DUPLICATE_KEY",
    "KEPT",
    "MISSING_MONEY",
    "MONEY_OUTCOMES",
    "NEGATIVE_PRICE",
    "NOT_A_TIMESTAMP",
    "NO_PRICE",
    "NO_QUANTITY",
    "OUT_OF_UTC_RANGE",
    "OVERFLOW",
    "RULES",
    "RULE_CODES",
    "TIMESTAMP_PATTERN",
    "UNPRINTABLE_ID",
    "ZERO_AMOUNT",
    "ZERO_PRICE",
    "ZERO_QUANTITY",
    "Outcome",
    "Rule",
    "check_id",
    "is_purchase",
    "line_money",
    "money_outcome",
    "normalize_id",
    "normalize_ids",
    "parse_timestamp",
    "parse_timestamp_general",
    "parse_timestamps",
    "rule_table",
    "unprintable_ids",
]
