"""What requests read of a model, built once when it loads: a model that loads can answer.

The metadata has been parsed as the contract (``segments_core.contract``); from it the
drift reference (feature ranges and bins, segment shares), the segment table of
``GET /v1/segments``, the ``GET /v1/model`` document and the ``/metrics`` labels are
built here, at load, so a failure refuses the model instead of failing its requests.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shopper_segments.app.drift import Reference
from shopper_segments.app.responses import ModelInfo, Segment
from shopper_segments.core.contract import ModelMetadata
from shopper_segments.core.errors import ArtifactError
from shopper_segments.core.model import SegmentModel


@dataclass(frozen=True)
class Derived:
    """The request-ready views of one model version's metadata.

    Attributes
    ----------
    reference : Reference
        Training ranges, drift bins and segment shares (``/v1/assign``, ``/v1/drift``, ``/metrics``).
    segments : tuple of Segment
        The segment table of ``GET /v1/segments``, in label order.
    info : dict
        The ``GET /v1/model`` document (strict JSON: NaN scores as null).
    labels : dict
        The model's ``/metrics`` labels.
    """

    reference: Reference
    segments: tuple[Segment, ...]
    info: dict[str, Any]
    labels: dict[str, str]


def derive(path: Path, meta: ModelMetadata, model: SegmentModel) -> Derived:
    """Build every request-ready view of ``meta``.

    Raises
    ------
    ArtifactError
        A view cannot be built (the model is refused, the serving one keeps serving).
    """
    names = model.spec.names
    if list(names) != meta.features.names:
        raise ArtifactError(f"{path}: the pipeline's features {names} are not the metadata's")
    try:
        reference = Reference.build(meta, names)
        segments = tuple(Segment.model_validate(s.model_dump()) for s in meta.segments)
        info = meta.to_dict(nan="null")
        ModelInfo.model_validate_json(json.dumps(info, allow_nan=False))  # the answer as documented
    except ValueError as exc:  # pydantic's ValidationError included
        message = f"{path}: the metadata parses, but what requests read cannot be built: {exc}"
        raise ArtifactError(message) from exc
    labels = {
        "version": meta.version,
        "name": meta.name,
        "algorithm": meta.algorithm,
        "k": str(len(meta.segments)),
        "created_at": meta.created_at.isoformat(),
    }
    return Derived(reference, segments, info, labels)
