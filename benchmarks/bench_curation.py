"""Curation at scale: finding near-duplicates and building geo-separated splits for many street views.

Points are spread like a street-view collection: around 2,000 GeoNames cities, most within a few km of
the centre. Embeddings are random 2,048-dimensional unit vectors (the tiny tower's grid size). The
pair search is a KD-tree over unit vectors (never a loop over all pairs); the split check a BallTree.
"""

from __future__ import annotations

import time

import numpy as np


def _timed(fn):
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def run(quick: bool = False):
    from geolib.curation import geo_split, separation_km
    from geolib.curation.select import pairs_above_cosine, pairs_within_km
    from geolib.geo.cities import city_table

    rng = np.random.default_rng(0)
    n = 20_000 if quick else 200_000
    cities = city_table()
    picks = rng.choice(len(cities), 2000, replace=False)[rng.integers(0, 2000, n)]
    lat = np.array([cities[i].latitude for i in picks]) + rng.normal(0, 0.02, n)
    lon = np.array([cities[i].longitude for i in picks]) + rng.normal(0, 0.02, n)
    lat, lon = np.clip(lat, -90, 90), (lon + 180) % 360 - 180
    countries = [cities[i].country for i in picks]
    rows = []
    seconds, pairs = _timed(lambda: pairs_within_km(lat, lon, 0.01))
    rows.append(
        ["pairs within 10 m (KD-tree)", n, f"{seconds:.2f}", f"{n / seconds:,.0f}", f"{len(pairs)} pairs"]
    )
    seconds, splits = _timed(lambda: geo_split(lat, lon, countries, min_distance_km=1.0))
    rows.append(["geo_split, 1 km", n, f"{seconds:.2f}", f"{n / seconds:,.0f}", ""])
    seconds, gaps = _timed(lambda: separation_km(lat, lon, splits))
    rows.append(
        [
            "separation_km check (BallTree)",
            n,
            f"{seconds:.2f}",
            f"{n / seconds:,.0f}",
            f"min {np.nanmin(gaps):.2f} km",
        ]
    )
    m = 5_000 if quick else 20_000
    embeddings = rng.normal(size=(m, 2048)).astype(np.float32)
    embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
    embeddings[1::1000] = embeddings[::1000]  # some exact copies
    seconds, found = _timed(lambda: pairs_above_cosine(embeddings, 0.995))
    rows.append(
        [
            "image pairs, cosine >= 0.995 (blocked)",
            m,
            f"{seconds:.2f}",
            f"{m / seconds:,.0f}",
            f"{len(found)} pairs",
        ]
    )
    return "Curation at scale", ["step", "items", "seconds", "items/s", "note"], rows
