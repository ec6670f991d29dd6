"""One exception family for everything a user can get wrong."""

from __future__ import annotations


class GeolibError(Exception):
    """Base class of every error geolib raises on purpose (bad input, missing asset, ...)."""


class DataError(GeolibError, ValueError):
    """Bad input data; the message names the file, the record and the field when known."""

    def __init__(
        self, message: str, *, source: str | None = None, record: object = None, field: str | None = None
    ):
        self.source, self.record, self.field = source, record, field
        where = [
            f"{source}" if source else None,
            f"record {record}" if record is not None else None,
            f"field '{field}'" if field else None,
        ]
        prefix = ", ".join(w for w in where if w)
        super().__init__(f"{prefix}: {message}" if prefix else message)
