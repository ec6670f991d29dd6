"""Distances on the Earth and the scores built on them (GeoScore, accuracy at distance thresholds)."""

from __future__ import annotations

import numpy as np

from geolib.errors import DataError

EARTH_RADIUS_KM = 6371.0
GEOSCORE_SCALE_KM = 1492.7
# street, city, region, country, continent (OSV-5M, G3 and PIGEON use these with a strict '<').
THRESHOLDS_KM = {"street": 1.0, "city": 25.0, "region": 200.0, "country": 750.0, "continent": 2500.0}


def _scalar_or_array(value):
    return float(value) if np.ndim(value) == 0 else value


def checked_points(
    lat, lon, source: str = "coordinates", fields: tuple[str, str] = ("latitude", "longitude")
):
    """``lat``, ``lon`` as broadcast float arrays (at least 1-d); the first impossible point is a
    :class:`DataError` naming its index and field (NaN, inf, latitude outside [-90, 90], longitude
    outside [-180, 180])."""
    lat = np.atleast_1d(np.asarray(lat, dtype=float))
    lon = np.atleast_1d(np.asarray(lon, dtype=float))
    lat, lon = np.broadcast_arrays(lat, lon)
    bad_lat = ~(np.abs(lat) <= 90)  # NaN compares False, so it is caught here too
    bad = bad_lat | ~(np.abs(lon) <= 180)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        kind, value, limit = ("latitude", lat[i], 90) if bad_lat[i] else ("longitude", lon[i], 180)
        field = fields[0] if bad_lat[i] else fields[1]
        problem = (
            f"expected a finite number, got {value}"
            if not np.isfinite(value)
            else f"{kind} {value} is outside [-{limit}, {limit}]"
        )
        raise DataError(problem, source=source, record=i if lat.size > 1 else None, field=field)
    return lat, lon


def unit_vectors(lat, lon) -> np.ndarray:
    """Points on the unit sphere, (..., 3): a straight-line (chord) distance c between two of them is
    the great-circle distance 2 R asin(c / 2), so KD-trees over these answer distance queries exactly."""
    lat, lon = np.radians(np.asarray(lat, dtype=float)), np.radians(np.asarray(lon, dtype=float))
    return np.stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)], axis=-1)


def haversine_km(lat1, lon1, lat2, lon2, radius_km: float = EARTH_RADIUS_KM):
    """Great-circle distance in km on a sphere of radius 6371 km; scalars or broadcastable arrays.

    Impossible coordinates (NaN, inf, |latitude| > 90, |longitude| > 180) are a :class:`DataError`.
    """
    checked_points(lat1, lon1, fields=("lat1", "lon1"))
    checked_points(lat2, lon2, fields=("lat2", "lon2"))
    lat1, lon1, lat2, lon2 = (np.radians(np.asarray(v, dtype=float)) for v in (lat1, lon1, lat2, lon2))
    a = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    a = np.clip(a, 0.0, 1.0)
    # atan2 form: as exact as arcsin for short distances, and stays exact near the antipodes
    return _scalar_or_array(2 * radius_km * np.arctan2(np.sqrt(a), np.sqrt(1.0 - a)))


def geodesic_km(lat1, lon1, lat2, lon2):
    """Distance in km along the WGS-84 ellipsoid (pyproj), for when 0.5 % matters."""
    from pyproj import Geod

    checked_points(lat1, lon1, fields=("lat1", "lon1"))
    checked_points(lat2, lon2, fields=("lat2", "lon2"))
    lat1, lon1, lat2, lon2 = np.broadcast_arrays(
        *(np.asarray(v, dtype=float) for v in (lat1, lon1, lat2, lon2))
    )
    _, _, metres = Geod(ellps="WGS84").inv(lon1, lat1, lon2, lat2)
    return _scalar_or_array(np.asarray(metres) / 1000.0)


def geoscore(km):
    """GeoGuessr-style score 5000 * exp(-d / 1492.7): 5000 at 0 km, 5000/e at 1492.7 km, 0 at ``inf``
    (no location). A negative or NaN distance is a :class:`DataError`."""
    km = np.asarray(km, dtype=float)
    bad = ~(km >= 0)  # NaN compares False
    if bad.any():
        i = int(np.flatnonzero(bad.ravel())[0])
        raise DataError(
            f"expected a distance >= 0 km (inf for none), got {km.ravel()[i]}",
            record=i if km.size > 1 else None,
            field="km",
        )
    return _scalar_or_array(5000.0 * np.exp(-km / GEOSCORE_SCALE_KM))


def accuracy_at(
    km, thresholds: dict[str, float] | None = None, *, inclusive: bool = False
) -> dict[str, float]:
    """Share of errors below each threshold (``d < t``; ``inclusive=True`` for ``d <= t``).

    Missing predictions should be passed as ``inf``: they count as misses.
    """
    km = np.asarray(km, dtype=float)
    thresholds = thresholds or THRESHOLDS_KM
    if km.size == 0:
        return {f"acc@{t:g}km": float("nan") for t in thresholds.values()}
    below = (lambda t: km <= t) if inclusive else (lambda t: km < t)
    return {f"acc@{t:g}km": float(np.mean(below(t))) for t in thresholds.values()}
