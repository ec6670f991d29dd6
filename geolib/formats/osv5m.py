"""OSV-5M-style CSV metadata: one row per image with id, latitude, longitude, country, region, city."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from geolib.errors import DataError
from geolib.formats.validate import (
    check_country_code,
    check_id,
    check_latitude,
    check_longitude,
    read_csv_file,
    require_columns,
)
from geolib.iox import write_text

COLUMNS = ("id", "latitude", "longitude", "country", "region", "city")
REQUIRED = ("id", "latitude", "longitude", "country")


@dataclass(frozen=True)
class LocationRecord:
    id: str
    latitude: float
    longitude: float
    country: str
    region: str = ""
    city: str = ""


def write_osv5m_csv(records: Iterable[LocationRecord], path: str | Path) -> Path:
    """Write records atomically; columns in OSV-5M order."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for record in records:
        writer.writerow(asdict(record))
    return write_text(path, buffer.getvalue())


def read_osv5m_csv(path: str | Path, skipped: list[dict] | None = None) -> list[LocationRecord]:
    """Read and validate; a bad row raises :class:`DataError` naming the file, the row and the field.

    Extra columns (OSV-5M has many) are ignored; ``region`` and ``city`` may be absent or empty.
    Given a ``skipped`` list, a bad row is recorded there as ``{"id", "record", "problem"}`` instead
    (every row of a duplicated id: which of them is right cannot be known) and the others are read;
    a missing column or a malformed file is always an error.
    """
    path = Path(path)
    source = path.name
    header, rows = read_csv_file(path, source)
    require_columns(header, REQUIRED, source)
    parsed: list[tuple[str, LocationRecord | DataError, str]] = []
    seen: set[str] = set()
    for row_number, row in rows:
        record = f"row {row_number}"
        try:
            ident = check_id(row["id"], source, record)
        except DataError as err:
            if skipped is None:
                raise
            skipped.append({"id": row["id"].strip(), "record": record, "problem": str(err)})
            continue
        if skipped is None and ident in seen:
            raise DataError(f"duplicate id {ident!r}", source=source, record=record, field="id")
        seen.add(ident)
        try:
            found: LocationRecord | DataError = LocationRecord(
                id=ident,
                latitude=check_latitude(row["latitude"], source, record),
                longitude=check_longitude(row["longitude"], source, record),
                country=check_country_code(row["country"], source, record),
                region=row.get("region", "").strip(),
                city=row.get("city", "").strip(),
            )
        except DataError as err:
            if skipped is None:
                raise
            found = err
        parsed.append((ident, found, record))
    rows_of: dict[str, list[str]] = {}
    for ident, _, record in parsed:
        rows_of.setdefault(ident, []).append(record)
    records = []
    for ident, found, record in parsed:
        if len(rows_of[ident]) > 1:
            problem = DataError(
                f"duplicate id {ident!r} ({', '.join(rows_of[ident])})",
                source=source,
                record=record,
                field="id",
            )
            if skipped is None:
                raise problem
            found = problem
        if isinstance(found, DataError):
            skipped.append({"id": ident, "record": record, "problem": str(found)})
        else:
            records.append(found)
    return records
