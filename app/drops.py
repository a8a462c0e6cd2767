"""Which posted lines the rulebook drops, and by which rule: exact duplicates, then money.

Applied by :func:`app.histories.history_lines` to a request's lines (all customers at once).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from shopper_segments.core.rules import DROP_CODES, DUPLICATE_KEY, KEPT, MONEY_OUTCOMES


def drop_reasons(
    txs: list[dict[str, Any]],
    owner: np.ndarray,
    ns: list[Any],
    stamp: np.ndarray,
    amount: np.ndarray | None,
    outcome: np.ndarray,
    usable: np.ndarray,
    given: dict[str, list[Any]],
) -> np.ndarray:
    """Per line 0 (kept) or 1 + the index in DROP_CODES of the first rule that drops it.

    Exact duplicates (rule ``duplicate_lines``, the fields of ``DUPLICATE_KEY``) come
    first, then the money drops.

    Parameters
    ----------
    txs : list of dict
        The request's lines, every customer's in turn.
    owner : int array
        Each line's customer (its place in the request).
    ns, stamp : list and int64 array
        Each line's time in nanoseconds (the list holds the rule's message where it is invalid).
    amount : float array or None
        Each line's money (None: the model has none).
    outcome : int8 array
        Each line's money outcome (:func:`segments_core.rules.line_money`).
    usable : bool array
        Lines of customers without an invalid line (only they are dropped or kept).
    given : dict of lists
        Columns already read from ``txs`` (``order_id``, ``category``).
    """
    reason = np.zeros(len(txs), dtype=np.int8)
    rows = _may_repeat(usable, owner, stamp, amount)
    if rows:  # the whole keys of the lines that may repeat another, compared in order
        known: dict[str, list[Any]] = {"customer_id": owner.tolist(), "timestamp": ns, **given}
        known["amount"] = [None] * len(txs) if amount is None else amount.tolist()
        every = len(rows) == len(txs)

        def column(field: str) -> list[Any]:  # the field of the lines in ``rows``
            if field in known:
                return known[field] if every else [known[field][p] for p in rows]
            return [t.get(field) for t in txs] if every else [txs[p].get(field) for p in rows]

        columns = [column(f) for f in DUPLICATE_KEY]
        keys = list(zip(*columns, strict=True))
        if len(set(keys)) < len(keys):  # some line repeats another: find which, in order
            dup = 1 + DROP_CODES.index("duplicate_lines")
            seen: set[tuple[Any, ...]] = set()
            for p, key in zip(rows, keys, strict=True):
                if key in seen:
                    reason[p] = dup
                else:
                    seen.add(key)
    money_drop = _MONEY_DROP[outcome]  # one lookup for every money rule (not a pass per rule)
    if money_drop.any():
        hit = usable & (reason == 0) & (money_drop > 0)
        reason[hit] = money_drop[hit]
    return reason


#: From this many usable lines, numbers find the lines that may repeat another (below, the keys
#: of all of them cost less than the arrays).
PREFILTER_LINES = 64
#: Odd 64-bit constants spreading customer codes and amounts over the bits of a time.
_SPREAD_CUSTOMER, _SPREAD_AMOUNT = np.uint64(0x9E3779B97F4A7C15), np.uint64(0xC2B2AE3D27D4EB4F)
if not {"customer_id", "timestamp", "amount"} <= set(DUPLICATE_KEY):
    raise ImportError("_may_repeat assumes a duplicate shares customer, timestamp and amount")


def _may_repeat(
    usable: np.ndarray, owner: np.ndarray, stamp: np.ndarray, amount: np.ndarray | None
) -> list[int]:
    """Usable lines sharing customer, timestamp and amount with another usable line, in order.

    Exact duplicates share all three (they are part of ``DUPLICATE_KEY``), so only these lines
    need their whole keys compared: a hash of the three, equal for equal values (-0.0 and 0.0
    too); a collision only adds lines to compare.
    """
    rows = usable.nonzero()[0]
    if len(rows) < PREFILTER_LINES:
        return rows.tolist() if len(rows) > 1 else []
    h = stamp[rows].view(np.uint64) ^ (owner[rows].astype(np.uint64) * _SPREAD_CUSTOMER)
    if amount is not None:
        h ^= (amount[rows] + 0.0).view(np.uint64) * _SPREAD_AMOUNT
    ordered = np.sort(h)  # (np.unique takes 20x as long as a sort for 10,000 lines)
    same = ordered[1:] == ordered[:-1]
    if not same.any():
        return []
    return rows[np.isin(h, ordered[1:][same])].tolist()


#: Money outcome code -> 1 + its index in DROP_CODES for the drops (codes 1-9), else 0.
_MONEY_DROP = np.zeros(max(MONEY_OUTCOMES) + 1, dtype=np.int8)
for _code, (_rule, *_) in MONEY_OUTCOMES.items():
    if _code != KEPT and _code < 10:
        _MONEY_DROP[_code] = 1 + DROP_CODES.index(_rule)
