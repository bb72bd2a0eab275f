"""Errors that carry a clear, user-facing message (printed by the CLI without a traceback)."""


class ProgalignError(Exception):
    """Base class for errors caused by bad input, configuration or environment."""


class InputError(ProgalignError):
    """A file the user supplied (or a fetched file) is malformed.

    The message names the file and, where known, the row and column.
    """

    def __init__(self, path: str, message: str, row: int | None = None, column: str | None = None):
        where = str(path)
        if row is not None:
            where += f", row {row}"
        if column is not None:
            where += f", column {column!r}"
        super().__init__(f"{where}: {message}")
        self.path, self.row, self.column = str(path), row, column


class DownloadError(ProgalignError):
    """A download failed, was refused, or did not match its pinned checksum."""


class SettingError(ProgalignError, ValueError):
    """A parameter value that cannot work (e.g. a horizon beyond the timeline)."""
