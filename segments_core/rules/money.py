"""Money rules (``bad_number`` ... ``zero_amount``, ``return``): each line's total and outcome."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

KEPT, ZERO_QUANTITY, ZERO_PRICE, ZERO_AMOUNT = 0, 1, 2, 3
BOTH_GIVEN, NO_PRICE, MISSING_MONEY, NEGATIVE_PRICE, OVERFLOW, NO_QUANTITY = 10, 11, 12, 13, 14, 15
#: Money outcome -> (rule code, field, message); fields are relative to the line.
MONEY_OUTCOMES: dict[int, tuple[str, str, str]] = {
    ZERO_QUANTITY: ("zero_quantity", "quantity", "is zero"),
    ZERO_PRICE: ("zero_price", "unit_price", "is zero"),
    ZERO_AMOUNT: ("zero_amount", "amount", "is zero"),
    BOTH_GIVEN: ("bad_number", "", "give amount or quantity and unit_price, not both"),
    NO_PRICE: ("bad_number", "unit_price", "is required with quantity"),
    NO_QUANTITY: ("bad_number", "quantity", "is required with unit_price"),
    MISSING_MONEY: (
        "missing_money",
        "amount",
        "is required (or quantity and unit_price): the model uses spend",
    ),
    NEGATIVE_PRICE: ("negative_price", "unit_price", "is negative: a return is a negative quantity"),
    OVERFLOW: ("bad_number", "", "quantity x unit_price is too large for a float"),
}


def money_outcome(
    has_amount: bool,
    has_quantity: bool,
    has_price: bool,
    negative_price: bool,
    finite_product: bool,
    zero_quantity: bool,
    zero_price: bool,
    zero_total: bool,
    has_money: bool,
) -> int:
    """The money rules for one line, in the order they apply: the first that holds decides.

    The facts are what the line gives (``amount``, ``quantity``, ``unit_price``, each given or
    not), the signs and zeros of those values, whether quantity x unit_price is finite, whether
    the line's total is zero, and whether the model uses spend. :func:`line_money` applies this
    function to every line through a table of all its answers.
    """
    if has_amount and (has_quantity or has_price):
        return BOTH_GIVEN
    if not has_amount and has_quantity and not has_price:
        return NO_PRICE
    if not has_amount and not has_quantity and has_price:
        return NO_QUANTITY
    if not has_amount and not has_quantity and not has_price and has_money:
        return MISSING_MONEY
    if has_price and negative_price:
        return NEGATIVE_PRICE
    if has_quantity and has_price and not finite_product:
        return OVERFLOW
    if has_quantity and zero_quantity:
        return ZERO_QUANTITY
    if has_price and zero_price:
        return ZERO_PRICE
    if zero_total:
        return ZERO_AMOUNT
    return KEPT


#: :func:`money_outcome` of every combination of its nine facts, indexed by their bits in its
#: argument order (``has_amount`` the highest bit, ``has_money`` the lowest).
_MONEY_TABLE = np.array(
    [money_outcome(*facts) for facts in itertools.product((False, True), repeat=9)], dtype=np.int8
)


def line_money(
    amount: np.ndarray | None, quantity: np.ndarray | None, unit_price: np.ndarray | None, has_money: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Each line's money and its outcome by :func:`money_outcome` (rules ``bad_number`` ... ``zero_amount``).

    Parameters
    ----------
    amount, quantity, unit_price : float arrays or None
        NaN (or a missing column, None) where the line does not give the value.
    has_money : bool
        Whether the model uses spend (then a line without money is invalid).

    Returns
    -------
    amount : float array
        The line total (quantity x unit_price where those are given); NaN without money.
    outcome : int8 array
        :data:`KEPT`, a drop (1-9) or an invalid line (10 and above), see :data:`MONEY_OUTCOMES`.
    """
    n = len(next(a for a in (amount, quantity, unit_price, np.empty(0)) if a is not None))
    a, q, u = (None if v is None else np.asarray(v, dtype=np.float64) for v in (amount, quantity, unit_price))
    # Each line's facts as the bits of an index into the table, in money_outcome's argument
    # order. A column not given is facts that never hold: bits left at 0, no pass over it.
    # (NaN is the only value unequal to itself: ``x == x`` is "given".)
    index: Any = int(has_money)
    if a is not None:
        has_a = a == a
        index = index | (has_a << 8)
    if q is not None:
        index = index | ((q == q) << 7) | ((q == 0) << 3)
    if u is not None:
        index = index | ((u == u) << 6) | ((u < 0) << 5) | ((u == 0) << 2)
    product = None
    if q is not None and u is not None:
        with np.errstate(over="ignore", invalid="ignore"):
            product = q * u  # NaN unless both are given
        index = index | (np.isfinite(product) << 4)
    if product is None:
        total = np.full(n, np.nan) if a is None else a.copy()
    else:
        total = product if a is None else np.where(has_a, a, product)
    index = index | ((total == 0) << 1)
    return total, _MONEY_TABLE[index]


def is_purchase(amount: np.ndarray | None, n: int) -> np.ndarray:
    """Lines that count as a purchase: a positive amount, or every kept line without money."""
    return np.ones(n, dtype=bool) if amount is None else amount > 0
