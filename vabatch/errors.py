"""The small family of errors vabatch raises; the CLI prints them as one line."""


class VabatchError(Exception):
    """Base of every error vabatch reports to a user (one line, non-zero exit)."""

    exit_code = 1


class InputError(VabatchError):
    """A path, video or argument given by the user is unusable."""

    exit_code = 2


class DatabaseError(VabatchError):
    """A database is missing, damaged, of the wrong kind or of an unknown version."""


class MissingDatabaseError(DatabaseError):
    """A database that the caller needs is absent from the video directory."""
