"""Geo-separated ``train / val / test`` splits, stratified by country.

A test image taken across the street from a training image measures memory, not geo-localization
(OSV-5M keeps its test points 1 km from its training points). Points closer than ``min_distance_km``
are linked, and each connected group goes to one split as a whole: no val or test point then has a
training point within that distance, and nothing has to be thrown away. The groups of each country are
shuffled (seeded) and handed to the split furthest below its share of that country's images.

Where images cluster around cities, as in ClueWorld (every view within 1.5 km of a city centre), a
group is a whole city at 1 km: the split separates cities, and a test city is never seen in training.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from geolib.curation.select import check_fraction, pairs_within_km
from geolib.errors import GeolibError
from geolib.geo.distance import EARTH_RADIUS_KM

SPLITS = ("train", "val", "test")
DEFAULT_FRACTIONS = (0.8, 0.1, 0.1)


def check_fractions(fractions: Sequence[float]) -> tuple[float, float, float]:
    values = tuple(check_fraction("split fraction", f) for f in fractions)
    if len(values) != 3 or abs(sum(values) - 1) > 1e-6 or values[0] <= 0:
        raise GeolibError(f"split fractions are train,val,test summing to 1 with some train, got {fractions}")
    return values  # type: ignore[return-value]


def linked_groups(lat, lon, min_distance_km: float) -> np.ndarray:
    """A group number per point: points closer than ``min_distance_km``, directly or through a chain of
    such points, share a group."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = len(lat)
    pairs = np.array(pairs_within_km(lat, lon, min_distance_km), dtype=int).reshape(-1, 2)
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def geo_split(
    lat,
    lon,
    countries: Sequence[str],
    *,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    min_distance_km: float = 1.0,
    seed: int = 0,
) -> np.ndarray:
    """The split (``'train'``, ``'val'`` or ``'test'``) of each point; see the module docstring.

    A group spanning a border counts for the country most of its points are in. ``min_distance_km=0``
    splits image by image (no separation).
    """
    fractions = check_fractions(fractions)
    if not min_distance_km >= 0:
        raise GeolibError(f"min distance must be a non-negative number of km, got {min_distance_km!r}")
    lat, lon = np.asarray(lat, float), np.asarray(lon, float)
    countries = np.asarray(countries, dtype=object)
    n = len(lat)
    groups = linked_groups(lat, lon, min_distance_km) if min_distance_km > 0 else np.arange(n)
    members: dict[int, list[int]] = {}
    for i, group in enumerate(groups.tolist()):
        members.setdefault(group, []).append(i)
    by_country: dict[str, list[int]] = {}
    for group, points in members.items():
        country = Counter(countries[points].tolist()).most_common(1)[0][0]
        by_country.setdefault(country, []).append(group)
    rng = np.random.default_rng(seed)
    result = np.empty(n, dtype=object)
    for country in sorted(by_country):
        chosen = by_country[country]
        chosen = [chosen[k] for k in rng.permutation(len(chosen))]
        total = sum(len(members[g]) for g in chosen)
        filled = np.zeros(3)
        for group in chosen:
            # the split furthest below its target; train first on ties, so small countries train
            deficit = np.array(fractions) * total - filled
            split = int(np.argmax(deficit - 1e-9 * np.arange(3)))
            result[members[group]] = SPLITS[split]
            filled[split] += len(members[group])
    return result


def separation_km(lat, lon, splits) -> np.ndarray:
    """For each point not in ``train``, the distance in km to the nearest ``train`` point (NaN for
    training points, inf when there is no training point): a check of any split."""
    from sklearn.neighbors import BallTree

    lat, lon = np.asarray(lat, float), np.asarray(lon, float)
    splits = np.asarray(splits, dtype=object)
    train = splits == "train"
    result = np.full(len(lat), np.nan)
    others = np.flatnonzero(~train)
    if not others.size:
        return result
    if not train.any():
        result[others] = np.inf
        return result
    tree = BallTree(np.radians(np.column_stack([lat[train], lon[train]])), metric="haversine")
    distance, _ = tree.query(np.radians(np.column_stack([lat[others], lon[others]])), k=1)
    result[others] = distance[:, 0] * EARTH_RADIUS_KM
    return result
