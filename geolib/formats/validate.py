"""Field checks shared by the format readers; each failure names the file, the record and the field."""

from __future__ import annotations

import codecs
import csv
import io
import json
import math
from pathlib import Path

import numpy as np

from geolib.errors import DataError


def _number(value, source: str, record, field: str) -> float:
    # float(True) == 1.0: a JSON boolean must not pass as a coordinate
    if isinstance(value, (bool, np.bool_)):
        raise DataError(f"expected a number, got {value!r}", source=source, record=record, field=field)
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


def check_id(value, source: str, record, field: str = "id") -> str:
    """A record id as text: numbers are ids too (``0`` is valid); missing or blank ids are errors."""
    if isinstance(value, bool) or value is None or isinstance(value, (dict, list)):
        raise DataError(f"expected an id, got {value!r}", source=source, record=record, field=field)
    if isinstance(value, float) and not value.is_integer():
        raise DataError(f"expected an id, got {value!r}", source=source, record=record, field=field)
    text = str(int(value)) if isinstance(value, float) else str(value).strip()
    if not text:
        raise DataError("is empty", source=source, record=record, field=field)
    return text


def check_country_code(value, source: str, record, field: str = "country") -> str:
    """An ISO 3166-1 alpha-2 code that exists (GeoNames' list, which includes ``XK`` Kosovo)."""
    from geolib.geo.countries import country_name  # lazy: geolib.geo imports this module

    code = check_text(value, source, record, field).strip()
    if len(code) != 2 or not code.isalpha() or not code.isupper():
        raise DataError(
            f"expected an ISO 3166-1 alpha-2 code such as 'FR', got {value!r}",
            source=source,
            record=record,
            field=field,
        )
    if country_name(code) is None:
        raise DataError(
            f"{code!r} is not an ISO 3166-1 country code", source=source, record=record, field=field
        )
    return code


def read_text_file(path) -> str:
    """A UTF-8 file's text, or a one-line :class:`DataError` naming the file.

    A byte-order mark (Excel and Notepad write one) is dropped and line endings become ``\\n``;
    a folder, an unreadable or empty file, or another encoding is an error.
    """
    path = Path(path)
    if path.is_dir():
        raise DataError("is a folder, expected a file", source=str(path))
    try:
        data = path.read_bytes()
    except OSError as err:
        raise DataError(f"cannot read: {err.strerror or err}", source=str(path)) from None
    skip = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    nul = data.find(b"\x00")  # UTF-16 without a byte-order mark may decode "fine", full of NULs
    try:
        text = data[skip : nul if nul >= 0 else None].decode("utf-8")
        bad = nul  # the first bad byte: a NUL, or an invalid sequence before it
    except UnicodeDecodeError as err:
        bad = skip + err.start
    if bad >= 0:
        utf16 = data[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE) or b"\x00" in data[:64]
        raise DataError(
            f"is not UTF-8 text{' (it looks like UTF-16)' if utf16 else ''} "
            f"(byte 0x{data[bad]:02x} at offset {bad}); save it as UTF-8",
            source=str(path),
        )
    if not text.strip():
        raise DataError("the file is empty", source=str(path))
    return text.replace("\r\n", "\n").replace("\r", "\n")  # as open() in text mode would


def require_columns(found, required, source: str) -> None:
    """A :class:`DataError` listing the ``required`` columns missing from ``found`` and the ones there."""
    names = sorted(str(name) for name in found if name != "_row")  # str: never compare None with text
    missing = [column for column in required if column not in found]
    if missing:
        raise DataError(
            f"missing column(s) {', '.join(missing)}; found {', '.join(names) or 'none'}", source=source
        )


def read_csv_file(path, source: str | None = None) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """A CSV file's header and ``(row number, {column: value})`` rows. Rows are numbered as a
    spreadsheet shows them: the header is row 1 and blank lines count.

    Column names are stripped of spaces. A row with more values than the header is an error (an
    unquoted ``Washington, D.C.`` would otherwise lose its tail); missing trailing values are blank.
    A file with a header but no rows is an error.
    """
    source = source or str(path)
    records = enumerate(csv.reader(io.StringIO(read_text_file(path), newline="")), start=1)
    rows, number = [], 0
    try:
        number, header = next((n, values) for n, values in records if values)  # the text is not blank
        header = [name.strip() for name in header]
        duplicates = sorted({name for name in header if name and header.count(name) > 1})
        if duplicates:
            raise DataError(
                f"duplicate column(s) {', '.join(duplicates)}", source=source, record=f"row {number}"
            )
        for number, values in records:
            if not values:
                continue  # a blank line
            if len(values) > len(header):
                raise DataError(
                    f"{len(values)} values for {len(header)} columns; "
                    'quote values that contain commas, e.g. "Washington, D.C."',
                    source=source,
                    record=f"row {number}",
                )
            values += [""] * (len(header) - len(values))
            rows.append((number, dict(zip(header, values, strict=True))))
    except csv.Error as err:
        raise DataError(f"malformed CSV: {err}", source=source, record=f"row {number + 1}") from None
    if not rows:
        raise DataError("has a header but no rows", source=source)
    return header, rows


def read_json_file(path, source: str | None = None):
    """A JSON file's content; malformed JSON is a :class:`DataError` with the line and column."""
    text = read_text_file(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise DataError(
            f"malformed JSON at line {err.lineno}, column {err.colno}: {err.msg}", source=source or str(path)
        ) from None
