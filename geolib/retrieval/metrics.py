"""How well descriptions find their tiles: Recall@K and L@d, under CVG-Text's protocol and over the gallery.

* Recall@K: the share of queries whose own tile is among the K best-scored candidates.
* L@d (CVG-Text's "localization accuracy"): the share of queries whose *top-1* tile lies within d metres of
  the query's true location; a neighbouring tile of the same street counts, as it would for a user.
* Protocols: ``cvg`` ranks each query among the 100 gallery items nearest its true location (its own tile
  included), as CVG-Text's evaluation does; ``gallery`` ranks it among the whole gallery, which is harder and
  what a search box does.
"""

from __future__ import annotations

import numpy as np

from geolib.errors import GeolibError

RECALL_AT = (1, 5, 10)
WITHIN_METRES = (50, 100, 150)
CVG_CANDIDATES = 100


def nearest_candidates(latitudes, longitudes, count: int = CVG_CANDIDATES) -> np.ndarray:
    """For each item, the indices of the ``count`` items nearest to it on the globe (itself first)."""
    from scipy.spatial import cKDTree

    from geolib.geo.distance import unit_vectors

    points = unit_vectors(np.asarray(latitudes, float), np.asarray(longitudes, float))
    count = min(count, len(points))
    _, index = cKDTree(points).query(points, k=count)
    index = np.asarray(index).reshape(len(points), count)
    own = np.arange(len(points))
    missing = ~(index == own[:, None]).any(axis=1)  # more than `count` items at the very same point
    index[missing, -1] = own[missing]
    return index


def retrieval_metrics(
    similarity,
    latitudes,
    longitudes,
    *,
    protocol: str = "cvg",
    recall_at=RECALL_AT,
    within_metres=WITHIN_METRES,
) -> dict:
    """Metrics of a (queries x gallery) ``similarity`` matrix where query i's tile is gallery item i, at the
    items' ``latitudes`` / ``longitudes``; also ``top1``, each query's best gallery index."""
    from geolib.geo.distance import haversine_km

    similarity = np.asarray(similarity, dtype=np.float64)
    n = similarity.shape[0]
    if similarity.ndim != 2 or similarity.shape[1] != n or n == 0:
        raise GeolibError(
            f"expected a square, non-empty similarity matrix (query i matches tile i), got {similarity.shape}"
        )
    if protocol == "cvg":
        candidates = nearest_candidates(latitudes, longitudes)
    elif protocol == "gallery":
        candidates = np.broadcast_to(np.arange(n), (n, n))
    else:
        raise GeolibError(f"protocol {protocol!r} is not one of cvg, gallery")
    scores = np.take_along_axis(similarity, candidates, axis=1)
    own = scores[np.arange(n), np.argmax(candidates == np.arange(n)[:, None], axis=1)]
    rank = (scores > own[:, None]).sum(axis=1)  # 0 for the best; ties count in the query's favour
    top1 = candidates[np.arange(n), scores.argmax(axis=1)]
    lat, lon = np.asarray(latitudes, float), np.asarray(longitudes, float)
    metres = 1000 * np.asarray(haversine_km(lat, lon, lat[top1], lon[top1]))
    result = {"protocol": protocol, "queries": n, "candidates": candidates.shape[1]}
    result.update({f"R@{k}": float(np.mean(rank < k)) for k in recall_at})
    result.update({f"L@{d}m": float(np.mean(metres <= d)) for d in within_metres})
    result["top1"] = top1.tolist()
    return result
