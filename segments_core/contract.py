"""The model contract: ``metadata.json`` of a model version as a typed, versioned model.

Training writes metadata only through :class:`ModelMetadata` (``artifact.save_model``
parses what training built before writing it), and the service parses the whole file
at load, so a model that loads has every field a request reads, with its type.

Every declared field is required (no defaults): a file without it does not parse.
Sub-models whose content varies by run (``data``, ``selection``) accept extra keys;
every other model refuses unknown keys. Parsing is strict (no ``"1"`` for ``1``).
The JSON Schema of the contract is checked in as ``segments_core/metadata.schema.json``
(regenerate with ``python -m segments_core.contract``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any, Final, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import to_jsonable_python

from shopper_segments.core.contract_identity import Identity
from shopper_segments.core.contract_parts import (
    Artifacts,
    DataSummary,
    FeatureBin,
    FeatureRange,
    FeaturesSpec,
    Libraries,
    Parameters,
    Rfm,
    Segment,
    Selection,
)
from shopper_segments.core.errors import MetadataError
from shopper_segments.core.features import FeatureSpec

__all__ = [
    "SCHEMA_PATH",
    "SCHEMA_VERSION",
    "ModelMetadata",
    "error_field",
    "parse_metadata",
    "schema_document",
    "write_schema",
]

#: The metadata layout this code writes and reads (no other is read).
SCHEMA_VERSION: Final = 3
SCHEMA_PATH = Path(__file__).with_name("metadata.schema.json")
#: Tolerance of the sum of the segment shares around 1.
SHARE_SUM_TOLERANCE = 1e-6


class ModelMetadata(BaseModel):
    """``metadata.json`` of one model version.

    Attributes
    ----------
    schema_version : int
        Always :data:`SCHEMA_VERSION`.
    version, name : str
        The version directory's name and the model name (``models/<name>/<version>``).
    created_at : datetime
        When training saved the model (timezone-aware).
    algorithm : str
        ``"kmeans"``, ``"gmm"``, ``"ward"`` or ``"rfm"``: the second step of ``pipeline.joblib``.
    data : DataSummary
        What training read and dropped.
    features : FeaturesSpec
        The feature definition (:class:`segments_core.features.FeatureSpec`).
    feature_ranges, feature_bins : dict
        Per feature (every one of ``features.names``): training quantiles, drift bins.
    pipeline_input : str
        What the pipeline is fitted on (text).
    parameters, selection : Parameters, Selection
        The training parameters and how k was chosen.
    segments : list of Segment
        In label order: ``segments[i].label == i``.
    identity : Identity or None
        How ids were matched to a previous model (None without one).
    rfm : Rfm or None
        RFM score edges fitted on the training customers (:mod:`segments_core.rfm`);
        None when the features lack recency_days, frequency or monetary.
    libraries : Libraries
        Library versions at training.
    training_seconds : float
        Wall time of training.
    artifacts : Artifacts
        sha256 of ``pipeline.joblib`` and ``assignments.parquet``.
    """

    model_config = ConfigDict(
        strict=True,
        extra="forbid",
        frozen=True,
        ser_json_inf_nan="constants",
        serialize_by_alias=True,
        title="ModelMetadata",
    )

    schema_version: Literal[3]
    version: Annotated[str, Field(min_length=1, pattern=r"^[^/\\]+$")]
    name: Annotated[str, Field(min_length=1)]
    created_at: AwareDatetime
    algorithm: Annotated[str, Field(min_length=1)]
    data: DataSummary
    features: FeaturesSpec
    feature_ranges: dict[str, FeatureRange]
    feature_bins: dict[str, FeatureBin]
    pipeline_input: str
    parameters: Parameters
    selection: Selection
    segments: Annotated[list[Segment], Field(min_length=1)]
    identity: Identity | None
    rfm: Rfm | None
    libraries: Libraries
    training_seconds: Annotated[float, Field(ge=0)]
    artifacts: Artifacts

    @model_validator(mode="after")
    def _consistent(self) -> ModelMetadata:
        names = self.features.names
        for section in ("feature_ranges", "feature_bins"):
            keys = list(getattr(self, section))
            if sorted(keys) != sorted(names):
                raise ValueError(f"{section}: has {keys}, expected one entry per feature {names}")
        labels = [s.label for s in self.segments]
        if labels != list(range(len(labels))):
            raise ValueError(f"segments: labels {labels} are not 0..{len(labels) - 1} in order")
        ids = [s.id for s in self.segments]
        if len(set(ids)) != len(ids):
            raise ValueError(f"segments: ids {ids} are not unique")
        for i, seg in enumerate(self.segments):
            if sorted(seg.centroid) != sorted(names) or len(seg.centroid_scaled) != len(names):
                raise ValueError(f"segments[{i}]: the centroid does not have one value per feature {names}")
        total = math.fsum(s.share for s in self.segments)
        if abs(total - 1.0) > SHARE_SUM_TOLERANCE:
            raise ValueError(f"segments: the shares sum to {total}, not 1")
        if self.selection.chosen_k != len(self.segments):
            raise ValueError(
                f"selection.chosen_k: {self.selection.chosen_k} but there are {len(self.segments)} segments"
            )
        return self

    def spec(self) -> FeatureSpec:
        """The feature definition as :class:`~segments_core.features.FeatureSpec`."""
        return self.features.spec()

    def to_dict(self, nan: Literal["constants", "null"] = "constants") -> dict[str, Any]:
        """JSON-ready dict (aliases as keys); ``nan="null"`` for a strict-JSON answer."""
        out: dict[str, Any] = to_jsonable_python(self, by_alias=True, inf_nan_mode=nan)
        return out

    def to_json(self) -> str:
        """The file's text: indented JSON with a final newline."""
        return self.model_dump_json(indent=2) + "\n"


def error_field(loc: tuple[int | str, ...] | list[int | str]) -> str:
    """('segments', 2, 'share') -> 'segments[2].share'; () -> 'metadata'."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "metadata"


def parse_metadata(text: str | bytes, source: str) -> ModelMetadata:
    """Parse and check a metadata document against the contract.

    Parameters
    ----------
    text : str or bytes
        The JSON text of ``metadata.json``.
    source : str
        What the text is (a path), for the messages.

    Raises
    ------
    MetadataError
        Not JSON, another schema version, or not following the contract; ``errors``
        holds ``(field, message)`` per problem, e.g. ``("segments[2].share", "Field required")``.
    """
    try:
        raw = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise MetadataError(f"{source}: not valid JSON ({exc})", [("metadata", str(exc))]) from exc
    if not isinstance(raw, dict):
        raise MetadataError(f"{source}: not a JSON object", [("metadata", "not a JSON object")])
    found = raw.get("schema_version")
    if isinstance(found, int) and not isinstance(found, bool) and found != SCHEMA_VERSION:
        message = (
            f"schema version {found} is not {SCHEMA_VERSION}, the one this code reads; retrain the model"
        )
        raise MetadataError(f"{source}: {message}", [("schema_version", message)])
    try:
        return ModelMetadata.model_validate_json(text)
    except ValidationError as exc:
        errors = [(error_field(e["loc"]), str(e["msg"]).removeprefix("Value error, ")) for e in exc.errors()]
        shown = "; ".join(f"{field}: {message}" for field, message in errors[:5])
        more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
        raise MetadataError(
            f"{source} does not follow the model contract (schema version {SCHEMA_VERSION}): {shown}{more}",
            errors,
        ) from None


def schema_document() -> dict[str, Any]:
    """The JSON Schema of :class:`ModelMetadata` (what ``metadata.schema.json`` holds)."""
    return ModelMetadata.model_json_schema()


def write_schema(path: Path = SCHEMA_PATH) -> Path:
    """Write :func:`schema_document` as indented JSON to ``path``."""
    path.write_text(json.dumps(schema_document(), indent=2) + "\n", encoding="utf-8")
    return path


if __name__ == "__main__":
    print(write_schema())
