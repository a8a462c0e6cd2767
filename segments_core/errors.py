"""Errors of the training pipeline, each with a message a person can act on."""


class TrainingError(Exception):
    """Base class of every error training reports to the user."""


class DataError(TrainingError):
    """The input data can't be used: missing columns, bad rows, too few customers."""


class ArtifactError(TrainingError):
    """A model directory is missing, incomplete, tampered with or incompatible."""
