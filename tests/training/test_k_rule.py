"""The rule that chooses k from scores (training.k_rule): stability first, then separation."""

from __future__ import annotations

from shopper_segments.training import k_rule


def entry(k: int, silhouette: float, stability: float, inertia: float = 0.0) -> dict:
    return {
        "k": k,
        "silhouette": silhouette,
        "stability": stability,
        "stability_std": 0.01,
        "inertia": inertia,
    }


def test_rule_chooses_the_best_separated_stable_k_in_range() -> None:
    scores = [
        entry(2, 0.70, 0.99),  # outside 4..8: never chosen
        entry(4, 0.40, 0.95),
        entry(5, 0.60, 0.55),  # best separated but unstable
        entry(6, 0.45, 0.85),
        entry(9, 0.65, 0.90),  # outside
    ]
    assert k_rule.choose_k(scores) == (6, None)
    assert k_rule.choose_k(scores, (2, 10)) == (2, None)


def test_rule_ties_go_to_the_smaller_k() -> None:
    assert k_rule.choose_k([entry(5, 0.5, 0.9), entry(4, 0.5, 0.9)]) == (4, None)


def test_rule_without_a_stable_k_takes_the_best_separated_near_the_most_stable() -> None:
    scores = [entry(4, 0.30, 0.66), entry(5, 0.28, 0.70), entry(6, 0.35, 0.61), entry(7, 0.40, 0.50)]
    k, warning = k_rule.choose_k(scores)
    assert k == 6  # within 0.1 of the most stable (k=5 at 0.70); k=7 separates better but is too unstable
    assert warning is not None
    assert "no k in 4..8 reached stability 0.75" in warning and "k=5 at 0.700" in warning


def test_rule_when_the_data_cannot_hold_the_range() -> None:
    k, warning = k_rule.choose_k([entry(2, 0.5, 0.9), entry(3, 0.6, 0.9)])
    assert k == 3
    assert warning is not None and "cannot hold 4..8 segments" in warning


def test_a_stable_better_separated_k_outside_the_range_is_named() -> None:
    scores = [entry(3, 0.50, 0.95), entry(4, 0.30, 0.90), entry(5, 0.31, 0.80), entry(9, 0.40, 0.60)]
    found = k_rule.better_outside(scores, 5)
    assert found is not None and found["k"] == 3
    assert "k=3, outside the actionable range 4..8" in found["note"]
    assert "silhouette 0.500 vs 0.310 at k=5" in found["note"] and "stability 0.950" in found["note"]
    assert k_rule.better_outside(scores[1:], 5) is None  # k=9 is unstable
    close = [entry(3, 0.32, 0.95), entry(5, 0.31, 0.80)]
    assert k_rule.better_outside(close, 5) is None  # not clearly better (margin 0.02)


def test_elbow_is_the_knee_of_inertia() -> None:
    inertia = {2: 1000.0, 3: 600.0, 4: 200.0, 5: 170.0, 6: 150.0, 7: 140.0}
    scores = [entry(k, 0.0, 1.0, v) for k, v in inertia.items()]
    assert k_rule.find_elbow(scores) == 4
    assert k_rule.find_elbow(scores[:2]) is None
    straight = [entry(k, 0.0, 1.0, 100.0 - 10 * k) for k in range(2, 7)]
    assert k_rule.find_elbow(straight) is None


def test_rule_prefers_a_k_whose_every_segment_is_stable() -> None:
    scores = [
        entry(4, 0.23, 0.79) | {"segment_stability": [0.80, 0.85, 0.90, 0.78]},
        entry(5, 0.24, 0.77) | {"segment_stability": [0.62, 0.85, 0.90, 0.80, 0.81]},  # one dissolves
    ]
    assert k_rule.choose_k(scores) == (4, None)


def test_rule_warns_when_every_stable_k_has_a_segment_below_the_threshold() -> None:
    scores = [
        entry(4, 0.27, 0.78) | {"segment_stability": [0.53, 0.90, 0.80, 0.85]},
        entry(5, 0.21, 0.76) | {"segment_stability": [0.70, 0.90, 0.80, 0.85, 0.77]},
        entry(6, 0.30, 0.60) | {"segment_stability": [0.9] * 6},  # every segment holds, ARI too low
    ]
    k, warning = k_rule.choose_k(scores)
    assert k == 4  # the best separated of the ARI-stable ks
    assert warning is not None and "has a segment below 0.75" in warning and "lowest segment 0.53" in warning
