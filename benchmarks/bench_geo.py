"""Geo toolkit throughput: distances, country lookup (random and on-land points), nearest city, names;
and how many GeoNames city centres (population > 15,000) country_code resolves, and to the right country."""

from __future__ import annotations

import time

import numpy as np


def _rate(fn, n: int) -> tuple[float, float, object]:
    started = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - started
    return seconds, n / seconds, result


def _city_centres(codes, truth) -> str:
    """Share of city centres in a country, and in GeoNames' own country (both under the scheme)."""
    resolved = np.array([code is not None for code in codes])
    right = np.array([code == expected for code, expected in zip(codes, truth, strict=True)])
    return f"resolved {resolved.mean():.3%}, right country {right.mean():.3%}"


def run(quick: bool = False):
    from geolib.geo import city_location, country_code, geodesic_km, haversine_km, nearest_city
    from geolib.geo.cities import city_table
    from geolib.geo.countries import normalize_country

    rng = np.random.default_rng(0)
    n = 20_000 if quick else 200_000
    # uniform on the sphere (poles and Antarctica included), about 70 % sea
    lat, lon = np.degrees(np.arcsin(rng.uniform(-1, 1, n))), rng.uniform(-180, 180, n)
    cities = city_table()
    picks = rng.integers(0, len(cities), n)
    land_lat = np.array([cities[i].latitude for i in picks]) + rng.normal(0, 0.01, n)
    land_lon = np.array([cities[i].longitude for i in picks]) + rng.normal(0, 0.01, n)
    land_lon = (land_lon + 180) % 360 - 180  # the jitter may cross the antimeridian
    centres = [c for c in cities if c.population > 15_000]
    centre_lat, centre_lon = np.array([c.latitude for c in centres]), np.array([c.longitude for c in centres])
    centre_truth = [normalize_country(c.country) for c in centres]
    country_code(0.0, 0.0)
    nearest_city(0.0, 0.0)
    city_location("Paris")  # build the lookup tables outside the timings
    rows = []
    for name, fn, count, describe in [
        ("haversine_km", lambda: haversine_km(lat, lon, land_lat, land_lon), n, None),
        ("geodesic_km (WGS-84)", lambda: geodesic_km(lat, lon, land_lat, land_lon), n, None),
        ("country_code, uniform points (mostly sea)", lambda: country_code(lat, lon), n, None),
        ("country_code, points near cities (land)", lambda: country_code(land_lat, land_lon), n, None),
        (
            "country_code, GeoNames city centres",
            lambda: country_code(centre_lat, centre_lon),
            len(centres),
            lambda codes: _city_centres(codes, centre_truth),
        ),
        (
            "  same, polygons only (near_km=0)",
            lambda: country_code(centre_lat, centre_lon, near_km=0),
            len(centres),
            lambda codes: _city_centres(codes, centre_truth),
        ),
        ("nearest_city", lambda: nearest_city(land_lat, land_lon), n, None),
        (
            "city_location, exact names",
            lambda: [city_location(cities[i].name) for i in picks[:2000]],
            2000,
            None,
        ),
    ]:
        seconds, rate, result = _rate(fn, count)
        rows.append([name, count, f"{seconds:.2f}", f"{rate:,.0f}", describe(result) if describe else ""])
    header = ["operation", "points", "seconds", "points/s", "result"]
    return "Geo toolkit (target: country lookup >= 100,000 points/s)", header, rows
