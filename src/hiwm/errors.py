"""User-facing errors: one line that names what is wrong; the CLI prints them without a traceback."""


class HiwmError(Exception):
    """A problem with the user's input (bad file, bad value, unknown name)."""


class CheckpointError(HiwmError):
    """A checkpoint is missing, incomplete or corrupt."""


class DatasetError(HiwmError):
    """A dataset is missing or corrupt."""
