"""Errors of the training pipeline, each with a message a person can act on."""


class TrainingError(Exception):
    """Base class of every error training reports to the user."""


class DataError(TrainingError):
    """The input data can't be used: missing columns, bad rows, too few customers."""


class OutputError(TrainingError):
    """A result can't be written where it was asked for (an unwritable ``--out``)."""


class ArtifactError(TrainingError):
    """A model directory is missing, incomplete, tampered with or incompatible."""


class MetadataError(ArtifactError):
    """``metadata.json`` does not follow the model contract.

    Attributes
    ----------
    errors : list of (str, str)
        ``(field, message)`` per problem, e.g. ``("segments[2].share", "Field required")``.
    """

    def __init__(self, message: str, errors: list[tuple[str, str]]) -> None:
        super().__init__(message)
        self.errors = errors
