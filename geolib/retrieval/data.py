"""Retrieval pairs: a description and the tile (satellite or OSM) of the same place, split apart in space.

A dataset folder is in the CVG-Text layout (``annotations.json`` and ``satellite/`` and/or ``osm/`` tiles named
``LAT,LON_ID.ext``, see ``geolib.formats.cvgtext``) with a ``splits.csv`` (``name,latitude,longitude,split``).
ClueWorld's ``cvgtext/`` export gets its ``splits.csv`` from :func:`write_splits`; ``geolib osm`` writes one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from geolib.errors import DataError, GeolibError

TILE_VIEWS = ("satellite", "osm")
SPLITS_FILE = "splits.csv"


@dataclass(frozen=True)
class Pair:
    name: str  # the CVG file name, LAT,LON_ID.ext
    latitude: float
    longitude: float
    description: str
    tile: Path


def block_split(
    lat, lon, *, cell_km: float = 0.4, fractions=(0.8, 0.1, 0.1), buffer_km: float = 0.05, seed: int = 0
):
    """A ``train`` / ``val`` / ``test`` label per point, spatially separated: the map is cut into square cells of
    ``cell_km``, whole cells go to one split (seeded, in proportion), and a val or test point within
    ``buffer_km`` of a training point is dropped (label ``None``), so that no held-out street is a few metres from
    a training one. Suits points that cover a city densely, where linking near points would join them all."""
    from geolib.curation.splits import SPLITS, check_fractions, separation_km
    from geolib.geo.distance import EARTH_RADIUS_KM

    fractions = check_fractions(fractions)
    if not cell_km > 0 or not buffer_km >= 0:
        raise GeolibError(f"cell_km must be > 0 and buffer_km >= 0, got {cell_km} and {buffer_km}")
    lat, lon = np.asarray(lat, float), np.asarray(lon, float)
    # equirectangular cells: a few hundred metres, so the map's distortion within a cell does not matter
    y = np.radians(lat) * EARTH_RADIUS_KM / cell_km
    x = np.radians(lon) * np.cos(np.radians(lat.mean())) * EARTH_RADIUS_KM / cell_km
    cells = np.floor(x).astype(np.int64) * 1_000_003 + np.floor(y).astype(np.int64)
    unique, members = np.unique(cells, return_inverse=True)
    order = np.random.default_rng(seed).permutation(len(unique))
    counts = np.bincount(members, minlength=len(unique))
    labels = np.empty(len(unique), dtype=object)
    filled = np.zeros(3)
    for cell in order:
        deficit = np.array(fractions) * len(lat) - filled
        split = int(np.argmax(deficit - 1e-9 * np.arange(3)))
        labels[cell] = SPLITS[split]
        filled[split] += counts[cell]
    result = labels[members]
    if buffer_km > 0:
        near = separation_km(lat, lon, result) < buffer_km
        result[near] = None
    return result


def write_splits(root, *, cell_km: float = 0.4, buffer_km: float = 0.05, seed: int = 0) -> Path:
    """``root/splits.csv`` for a CVG-layout folder from :func:`block_split` (dropped points are left out)."""
    import pandas as pd

    from geolib.formats.cvgtext import parse_cvg_filename
    from geolib.formats.validate import read_json_file
    from geolib.iox import write_text

    root = Path(root)
    names = list(read_json_file(root / "annotations.json"))
    if not names:
        raise DataError("no annotated samples", source=str(root / "annotations.json"))
    places = [parse_cvg_filename(name, str(root / "annotations.json"), name)[:2] for name in names]
    lat, lon = np.array(places).T
    split = block_split(lat, lon, cell_km=cell_km, buffer_km=buffer_km, seed=seed)
    table = pd.DataFrame({"name": names, "latitude": lat, "longitude": lon, "split": split})
    write_text(root / SPLITS_FILE, table[table["split"].notna()].to_csv(index=False))
    return root / SPLITS_FILE


def read_pairs(root, view: str, split: str | None = None) -> list[Pair]:
    """The (description, ``view`` tile) pairs of a dataset folder, of one split or all."""
    from geolib.formats.cvgtext import read_cvgtext
    from geolib.formats.validate import read_csv_file, require_columns

    if view not in TILE_VIEWS:
        raise GeolibError(f"tile view {view!r} is not one of {', '.join(TILE_VIEWS)}")
    root = Path(root)
    samples = read_cvgtext(root, views=(view,))
    wanted = None
    if split is not None:
        header, rows = read_csv_file(root / SPLITS_FILE, str(root / SPLITS_FILE))
        require_columns(set(header), ("name", "split"), str(root / SPLITS_FILE))
        wanted = {row["name"] for _, row in rows if row["split"] == split}
    return [
        Pair(s.filename, s.latitude, s.longitude, s.description, getattr(s, view))
        for s in samples
        if wanted is None or s.filename in wanted
    ]
