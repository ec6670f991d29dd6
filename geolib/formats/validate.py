"""Field checks shared by the format readers; each failure names the file, the record and the field."""

from __future__ import annotations

import json
import math

from geolib.errors import DataError


def _number(value, source: str, record, field: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise DataError(
            f"expected a number, got {value!r}", source=source, record=record, field=field
        ) from None
    if math.isnan(number) or math.isinf(number):
        raise DataError(f"expected a finite number, got {value!r}", source=source, record=record, field=field)
    return number


def check_latitude(value, source: str = "", record=None, field: str = "latitude") -> float:
    lat = _number(value, source, record, field)
    if not -90.0 <= lat <= 90.0:
        raise DataError(f"latitude {lat} is outside [-90, 90]", source=source, record=record, field=field)
    return lat


def check_longitude(value, source: str = "", record=None, field: str = "longitude") -> float:
    lon = _number(value, source, record, field)
    if not -180.0 <= lon <= 180.0:
        raise DataError(f"longitude {lon} is outside [-180, 180]", source=source, record=record, field=field)
    return lon


def check_text(value, source: str, record, field: str, *, allow_empty: bool = False) -> str:
    if value is None or not isinstance(value, str):
        raise DataError(f"expected text, got {value!r}", source=source, record=record, field=field)
    if not allow_empty and not value.strip():
        raise DataError("is empty", source=source, record=record, field=field)
    return value


def check_country_code(value, source: str, record, field: str = "country") -> str:
    code = check_text(value, source, record, field).strip()
    if len(code) != 2 or not code.isalpha() or not code.isupper():
        raise DataError(
            f"expected an ISO 3166-1 alpha-2 code such as 'FR', got {value!r}",
            source=source,
            record=record,
            field=field,
        )
    return code


def read_text_file(path) -> str:
    """A UTF-8 file's text, or a :class:`DataError` naming the file."""
    try:
        return path.read_text(encoding="utf-8")
    except OSError as err:
        raise DataError(f"cannot read: {err.strerror or err}", source=str(path)) from None


def read_json_file(path, source: str | None = None):
    """A JSON file's content; malformed JSON is a :class:`DataError` with the line and column."""
    text = read_text_file(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise DataError(
            f"malformed JSON at line {err.lineno}, column {err.colno}: {err.msg}", source=source or str(path)
        ) from None
