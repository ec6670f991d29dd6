"""Geo toolkit: distances and scores, offline country / city / region lookup, and the evaluation harness.

Names used across the course: ``haversine_km(lat1, lon1, lat2, lon2)``, ``geoscore(km)`` and
``country_code(lat, lon)``; each accepts scalars or arrays.
"""

from geolib.geo.cities import CityMatch, city_location, nearest_city, region_of, same_city
from geolib.geo.countries import (
    country_code,
    country_name,
    country_point,
    country_polygons,
    normalize_country,
)
from geolib.geo.distance import THRESHOLDS_KM, accuracy_at, geodesic_km, geoscore, haversine_km
from geolib.geo.evaluate import Prediction, Truth, evaluate, format_metrics, read_predictions, read_truth

__all__ = [
    "THRESHOLDS_KM",
    "CityMatch",
    "Prediction",
    "Truth",
    "accuracy_at",
    "city_location",
    "country_code",
    "country_name",
    "country_point",
    "country_polygons",
    "evaluate",
    "format_metrics",
    "geodesic_km",
    "geoscore",
    "haversine_km",
    "nearest_city",
    "normalize_country",
    "read_predictions",
    "read_truth",
    "region_of",
    "same_city",
]
