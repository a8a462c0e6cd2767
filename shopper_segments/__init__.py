"""Shopper Segments: customer segmentation for retailers.

The installed distribution's one import root. In the repository, ``app/`` (the service),
``training/`` (the training pipeline) and ``segments_core/`` (what both share) are linked here
as ``shopper_segments.app``, ``shopper_segments.training`` and ``shopper_segments.core``, so a
user's own ``app`` package is never shadowed.
"""
