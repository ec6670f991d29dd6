"""Geo toolkit throughput: distances, country lookup (random and on-land points), nearest city, names."""

from __future__ import annotations

import time

import numpy as np


def _rate(fn, n: int) -> tuple[float, float]:
    started = time.perf_counter()
    fn()
    seconds = time.perf_counter() - started
    return seconds, n / seconds


def run(quick: bool = False):
    from geolib.geo import city_location, country_code, geodesic_km, haversine_km, nearest_city
    from geolib.geo.cities import city_table

    rng = np.random.default_rng(0)
    n = 20_000 if quick else 200_000
    lat, lon = rng.uniform(-60, 75, n), rng.uniform(-180, 180, n)
    cities = city_table()
    picks = rng.integers(0, len(cities), n)
    land_lat = np.array([cities[i].latitude for i in picks]) + rng.normal(0, 0.01, n)
    land_lon = np.array([cities[i].longitude for i in picks]) + rng.normal(0, 0.01, n)
    country_code(0.0, 0.0)
    nearest_city(0.0, 0.0)
    city_location("Paris")  # build the lookup tables outside the timings
    rows = []
    for name, fn, count in [
        ("haversine_km", lambda: haversine_km(lat, lon, land_lat, land_lon), n),
        ("geodesic_km (WGS-84)", lambda: geodesic_km(lat, lon, land_lat, land_lon), n),
        ("country_code, uniform points (mostly sea)", lambda: country_code(lat, lon), n),
        ("country_code, points near cities (land)", lambda: country_code(land_lat, land_lon), n),
        ("nearest_city", lambda: nearest_city(land_lat, land_lon), n),
        ("city_location, exact names", lambda: [city_location(cities[i].name) for i in picks[:2000]], 2000),
    ]:
        seconds, rate = _rate(fn, count)
        rows.append([name, count, f"{seconds:.2f}", f"{rate:,.0f}"])
    header = ["operation", "points", "seconds", "points/s"]
    return "Geo toolkit (target: country lookup >= 100,000 points/s)", header, rows
