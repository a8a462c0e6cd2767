"""The model contract's ``identity`` section: how segment ids carried over from the previous model.

Written by :mod:`training.identity` (matching) and :mod:`training.migration` (who moved where).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from shopper_segments.core.contract_parts import Closed, Count, Share


class IdentityPair(Closed):
    """A previous segment, the new label Hungarian matching paired it with, and the evidence."""

    previous_id: Annotated[int, Field(ge=0)]
    previous_name: str
    label: Annotated[int, Field(ge=0)] | None = Field(description="null: no new segment was left")
    shared_customers: Count = Field(description="customers in both trainings, in both segments")
    overlap_share: Share = Field(description="of the previous segment's shared customers, share here")
    source_share: Share = Field(description="of the new segment's shared customers, share from there")
    jaccard: Share
    mutual_best: bool = Field(description="each is the other's largest overlap")
    distance: float | None = Field(description="centroid check (null without shared features)")
    kept: bool
    reason: str


class Vanished(Closed):
    id: int
    name: str


class Migration(Closed):
    """Customers in both trainings moving from each previous segment id to each new one."""

    previous_ids: list[int]
    new_ids: list[int]
    counts: list[list[Count]]
    customers_in_both: Count
    only_previous: Count
    only_new: Count
    kept_segment: Count


class Identity(Closed):
    """How segment ids were matched to the previous model's (see ``training.identity``)."""

    previous_version: str
    previous_path: str
    method: Literal["shared_customers", "centroid_distance"]
    rule: str
    matched_on: list[str] = Field(description="features of the centroid distance")
    own_scale_features: list[str] = Field(description="compared in each model's own scaled units")
    max_distance: float
    keep_share: Share
    min_shared_customers: Count
    shared_customers: Count
    pairs: list[IdentityPair]
    new_ids: list[int]
    vanished: list[Vanished]
    next_free_id: Count = Field(description="the smallest id no version of the chain has used")
    previous_default: bool
    migration: Migration
