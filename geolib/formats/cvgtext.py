"""The CVG-Text layout: ``query/``, ``satellite/`` and ``osm/`` folders of images named ``lat,lon_ID.ext``
and an annotation JSON ``{query filename: description}``."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from geolib.errors import DataError
from geolib.formats.validate import check_latitude, check_longitude, check_text, read_json_file
from geolib.iox import write_json

VIEWS = ("query", "satellite", "osm")
FILENAME = re.compile(
    r"^(?P<lat>-?\d+(?:\.\d+)?),(?P<lon>-?\d+(?:\.\d+)?)_(?P<id>[^/\\]+)\.(?P<ext>[A-Za-z]+)$"
)


@dataclass(frozen=True)
class CVGTextSample:
    filename: str
    latitude: float
    longitude: float
    description: str
    query: Path
    satellite: Path
    osm: Path


def cvg_filename(lat: float, lon: float, ident: str, ext: str = "jpg") -> str:
    return f"{lat:.6f},{lon:.6f}_{ident}.{ext}"


def parse_cvg_filename(name: str, source: str = "", record=None) -> tuple[float, float, str]:
    """``'40.712800,-74.006000_abc.jpg'`` -> (40.7128, -74.006, 'abc')."""
    match = FILENAME.match(name)
    if match is None:
        raise DataError(
            f"file name {name!r} does not look like 'lat,lon_ID.ext'",
            source=source,
            record=record,
            field="filename",
        )
    return (
        check_latitude(match["lat"], source, record),
        check_longitude(match["lon"], source, record),
        match["id"],
    )


def write_annotations(root: str | Path, descriptions: dict[str, str], name: str = "annotations.json") -> Path:
    return write_json(Path(root) / name, descriptions)


def read_cvgtext(
    root: str | Path,
    annotations: str = "annotations.json",
    *,
    check_files: bool = True,
    views: tuple[str, ...] = VIEWS,
) -> list[CVGTextSample]:
    """Read a CVG-Text-layout folder; every annotated file must parse and exist in each of ``views`` (all
    three by default; ``geolib osm`` writes only ``osm/``). A view not asked for has the path it would have."""
    unknown = [view for view in views if view not in VIEWS]
    if unknown or not views:
        raise DataError(f"views must be some of {', '.join(VIEWS)}, got {', '.join(views) or 'none'}")
    root = Path(root)
    path = root / annotations
    source = str(path)
    data = read_json_file(path, source)
    if not isinstance(data, dict):
        raise DataError("expected an object {filename: description}", source=source)
    # each folder is listed once: exact lookups (no glob, so ids with '[', '*' or '?' work), no stat per file
    listings = {view: _listing(root / view) for view in views} if check_files else {}
    samples = []
    for filename, description in data.items():
        lat, lon, _ = parse_cvg_filename(filename, source, filename)
        check_text(description, source, filename, "description")
        paths = {view: root / view / filename for view in VIEWS}
        if check_files:
            for view in views:
                file = paths[view]
                by_name, by_stem = listings[view]
                # satellite / OSM tiles may be stored with another image extension
                found = by_name.get(file.name) or by_stem.get(file.stem)
                if found is None:
                    raise DataError(
                        f"no {view} image {file.name} in {file.parent}",
                        source=source,
                        record=filename,
                        field=view,
                    )
                paths[view] = found
        samples.append(
            CVGTextSample(filename, lat, lon, description, paths["query"], paths["satellite"], paths["osm"])
        )
    return samples


def _listing(folder: Path) -> tuple[dict[str, Path], dict[str, Path]]:
    """The files of ``folder`` by name and by stem (an absent folder has none)."""
    by_name: dict[str, Path] = {}
    by_stem: dict[str, Path] = {}
    if folder.is_dir():
        with os.scandir(folder) as entries:
            for entry in sorted(entries, key=lambda e: e.name):
                if entry.is_file():
                    path = Path(entry.path)
                    by_name[entry.name] = path
                    by_stem.setdefault(path.stem, path)  # the first in name order: a reproducible choice
    return by_name, by_stem
