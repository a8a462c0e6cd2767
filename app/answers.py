"""Assignments -> the answers of /v1/assign, as plain data in the shape of :class:`AssignResponse`.

Several requests assigned together (:mod:`app.microbatch`) are answered from one set of
columns (segments, distances, features, RFM scores) made once for all of them.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from shopper_segments.app.assigning import Assigned
from shopper_segments.core import rfm
from shopper_segments.core.results import STATUSES


class Span(NamedTuple):
    """One request's part of an assignment: customers ``[start, stop)``, assigned rows ``[first, last)``."""

    start: int
    stop: int
    first: int
    last: int


def answer(assigned: Assigned, explanations: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The response to ``assigned`` (one request)."""
    whole = Span(0, len(assigned.status), 0, len(assigned.rows))
    return answers(assigned, [whole], [explanations])[0]


def answers(
    assigned: Assigned, spans: list[Span], explanations: list[list[dict[str, Any]] | None]
) -> list[dict[str, Any]]:
    """The response of each request (``spans``) of ``assigned``, with its explanations if any.

    ``explanations[k]``: one per assigned customer of request ``k`` (or None).
    """
    loaded, result = assigned.loaded, assigned.result
    names = loaded.model.spec.names
    ids, seg_names = loaded.segment_ids, loaded.segment_names
    best_all, next_all = result.segment_index.tolist(), result.next_index.tolist()
    dist_all, next_dist_all = result.distance.tolist(), result.next_distance.tolist()
    proba = None if result.probabilities is None else result.probabilities.tolist()
    scored = rfm.columns(assigned.X, names, _rfm_section(loaded.metadata.rfm))
    features = assigned.X.tolist()
    rfm_r, rfm_f, rfm_m, rfm_segment = (scored[c] for c in rfm.RFM_COLUMNS)
    cids, statuses, dropped, errors = (
        assigned.customer_ids,
        assigned.status,
        assigned.dropped,
        assigned.errors,
    )

    def placed(i: int, r: int) -> dict[str, Any]:
        """Customer ``i``'s result, assigned in row ``r``: made whole at once."""
        best, nxt = best_all[r], next_all[r]
        following = None
        if best != nxt:
            following = {"segment_id": ids[nxt], "segment_name": seg_names[nxt], "distance": next_dist_all[r]}
        item = {
            "customer_id": cids[i],
            "status": statuses[i],
            "segment_id": ids[best],
            "segment_name": seg_names[best],
            "distance": dist_all[r],
            "next_segment": following,
            "features": dict(zip(names, features[r], strict=True)),
            "rfm_r": rfm_r[r],
            "rfm_f": rfm_f[r],
            "rfm_m": rfm_m[r],
            "rfm_segment": rfm_segment[r],
            "lines_dropped": dropped[i],
            "errors": errors[i],
        }
        if proba is not None:
            item["probabilities"] = [
                {"segment_id": s, "segment_name": n, "probability": p}
                for s, n, p in zip(ids, seg_names, proba[r], strict=True)
            ]
        return item

    def unplaced(i: int) -> dict[str, Any]:
        """Customer ``i``'s result without a segment (invalid or without purchases)."""
        return {
            "customer_id": cids[i],
            "status": statuses[i],
            **_UNPLACED,
            "lines_dropped": dropped[i],
            "errors": errors[i],
        }

    rows, out = assigned.rows, []
    for span, whys in zip(spans, explanations, strict=True):
        results: list[dict[str, Any]] = []
        r = span.first  # the span's assigned rows, ascending: the next one to place
        for i in range(span.start, span.stop):
            if r < span.last and rows[r] == i:
                item = placed(i, r)
                if whys is not None:
                    item["explanation"] = whys[r - span.first]
                r += 1
            else:
                item = unplaced(i)
            results.append(item)
        status = assigned.status[span.start : span.stop]
        summary: dict[str, Any] = {s: status.count(s) for s in STATUSES}
        totals: dict[str, int] = {}
        for d in assigned.dropped[span.start : span.stop]:
            for code, n in d.items():
                totals[code] = totals.get(code, 0) + n
        out.append(
            {
                "model_version": loaded.version,
                "as_of": assigned.as_of,
                "summary": {**summary, "lines_dropped": totals},
                "results": results,
            }
        )
    return out


#: The fields of a result without a segment, in the order of a placed one's.
_UNPLACED: dict[str, Any] = {
    **dict.fromkeys(("segment_id", "segment_name", "distance", "next_segment", "features")),
    **dict.fromkeys(rfm.RFM_COLUMNS),
}

#: id -> (the metadata's rfm section, its plain data): dumped once per loaded model, not per request
_SECTIONS: dict[int, tuple[Any, dict[str, Any]]] = {}


def _rfm_section(section: Any) -> dict[str, Any] | None:
    if section is None:
        return None
    held = _SECTIONS.get(id(section))
    if held is None or held[0] is not section:
        if len(_SECTIONS) >= 8:  # models reloaded many times: forget the old ones
            _SECTIONS.clear()
        held = _SECTIONS[id(section)] = (section, section.model_dump())
    return held[1]
