"""Which records to keep: the locatability threshold (and its sweep), near-duplicates by place and by
image, and per-country balance. Each function returns what it keeps and an :class:`Exclusion` for
everything it drops, so that nothing leaves the data without a recorded reason.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

import numpy as np

from geolib.curation.records import Candidate, Exclusion
from geolib.errors import GeolibError
from geolib.geo.distance import EARTH_RADIUS_KM, unit_vectors

PAPER_THRESHOLD = 0.4  # GeoReasoner keeps locatability >= 0.4 (130K -> 70K street views)
SWEEP = tuple(np.round(np.arange(0.1, 0.71, 0.05), 2))


def check_fraction(name: str, value, *, low: float = 0.0, high: float = 1.0, low_open: bool = False) -> float:
    """``value`` as a float in [low, high] (or (low, high]), else a one-line GeolibError."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise GeolibError(f"{name} must be a number, got {value!r}") from None
    if isinstance(value, bool) or not (low < number if low_open else low <= number) or not number <= high:
        interval = f"{'(' if low_open else '['}{low:g}, {high:g}]"
        raise GeolibError(f"{name} must be in {interval}, got {value!r}")
    return number


def apply_threshold(candidates: Sequence[Candidate], threshold: float = PAPER_THRESHOLD):
    """Keep locatability >= ``threshold``: (kept, exclusions)."""
    threshold = check_fraction("threshold", threshold)
    kept, dropped = [], []
    for c in candidates:
        if c.locatability >= threshold:
            kept.append(c)
        else:
            dropped.append(Exclusion(c.id, "threshold", f"locatability {c.locatability:.3f} < {threshold:g}"))
    return kept, dropped


def threshold_sweep(scores, countries, thresholds: Sequence[float] = SWEEP):
    """How many images, and what share of each country's, survive each threshold.

    Returns two DataFrames: ``summary`` (threshold, kept, share, countries with any image left) and
    ``survival`` (one row per country, one column per threshold: the share of its images kept).
    """
    import pandas as pd

    scores = np.asarray(scores, dtype=float)
    countries = np.asarray(countries, dtype=object)
    if scores.shape != countries.shape:
        raise GeolibError(f"need one country per score: got {scores.shape} and {countries.shape}")
    names = sorted(set(countries.tolist()))
    survival = pd.DataFrame(index=pd.Index(names, name="country"))
    rows = []
    for threshold in thresholds:
        kept = scores >= threshold
        per_country = pd.Series(kept).groupby(countries).mean()
        survival[float(threshold)] = per_country.reindex(names).to_numpy()
        rows.append(
            {
                "threshold": float(threshold),
                "kept": int(kept.sum()),
                "share": float(kept.mean()) if kept.size else 0.0,
                "countries": int(len(set(countries[kept].tolist()))),
            }
        )
    return pd.DataFrame(rows), survival


def pairs_within_km(lat, lon, km: float) -> list[tuple[int, int]]:
    """Index pairs ``(i, j)``, i < j, of points less than ``km`` apart on the sphere (a KD-tree over unit
    vectors: a chord of 2 sin(d / 2R) is exactly a great-circle distance d)."""
    from scipy.spatial import cKDTree

    if len(lat) < 2 or km <= 0:
        return []
    chord = 2 * np.sin(min(km / EARTH_RADIUS_KM, np.pi) / 2)
    found = cKDTree(unit_vectors(lat, lon)).query_pairs(np.nextafter(chord, 0), output_type="ndarray")
    return [tuple(pair) for pair in found.tolist()]


def pairs_above_cosine(
    embeddings: np.ndarray, threshold: float, *, block: int = 2048
) -> list[tuple[int, int, float]]:
    """``(i, j, cosine)``, i < j, of L2-normalised rows at least ``threshold`` alike, block by block."""
    embeddings = np.asarray(embeddings, dtype=np.float32)
    found = []
    for start in range(0, len(embeddings), block):
        similar = embeddings[start : start + block] @ embeddings.T
        rows, cols = np.nonzero(similar >= threshold)
        rows = rows + start
        upper = cols > rows
        for i, j in zip(rows[upper].tolist(), cols[upper].tolist(), strict=True):
            found.append((i, j, float(similar[i - start, j])))
    return found


def drop_duplicates(
    candidates: Sequence[Candidate], pairs, step_reason
) -> tuple[list[Candidate], list[Exclusion]]:
    """Of each group of duplicates, keep the most locatable image (ties: the first); ``pairs`` are
    ``(i, j, ...)`` index pairs, ``step_reason(pair, kept_candidate)`` says why the other one goes."""
    order = sorted(range(len(candidates)), key=lambda i: (-candidates[i].locatability, i))
    rank = {i: r for r, i in enumerate(order)}
    partners: dict[int, list[tuple]] = {}
    for pair in pairs:
        i, j = pair[0], pair[1]
        partners.setdefault(i, []).append(pair)
        partners.setdefault(j, []).append(pair)
    dropped: dict[int, Exclusion] = {}
    for i in order:  # the best image first: it is kept, and every duplicate of it that is still kept goes
        if i in dropped:
            continue
        for pair in partners.get(i, []):
            other = pair[1] if pair[0] == i else pair[0]
            if other not in dropped and rank[other] > rank[i]:
                dropped[other] = Exclusion(
                    candidates[other].id, "duplicate", step_reason(pair, candidates[i])
                )
    kept = [c for i, c in enumerate(candidates) if i not in dropped]
    return kept, [dropped[i] for i in sorted(dropped)]


def drop_location_duplicates(candidates: Sequence[Candidate], metres: float):
    """Drop images taken within ``metres`` of a more locatable one (0: keep all)."""
    if metres < 0:
        raise GeolibError(f"duplicate distance must not be negative, got {metres} m")
    lat = [c.latitude for c in candidates]
    lon = [c.longitude for c in candidates]
    pairs = pairs_within_km(lat, lon, metres / 1000)

    def reason(pair, kept: Candidate) -> str:
        from geolib.geo.distance import haversine_km

        i, j = pair
        km = haversine_km(lat[i], lon[i], lat[j], lon[j])
        return f"taken {km * 1000:.1f} m from {kept.id} (within {metres:g} m)"

    return drop_duplicates(candidates, pairs, reason)


def drop_image_duplicates(candidates: Sequence[Candidate], embeddings: np.ndarray, cosine: float):
    """Drop images whose embedding has a cosine of at least ``cosine`` with a more locatable one's.

    The embeddings (:meth:`LocatabilityNet.embed`) are compared after removing their mean over the
    collection: what all street views share (sky above, road below) would otherwise make every pair alike.
    """
    cosine = check_fraction("duplicate cosine", cosine, low_open=True)
    if len(embeddings) != len(candidates):
        raise GeolibError(f"need one embedding per image: got {len(embeddings)} for {len(candidates)}")
    if len(candidates) < 2:
        return list(candidates), []
    centred = np.asarray(embeddings, dtype=np.float32)
    centred = centred - centred.mean(axis=0)
    centred /= np.maximum(np.linalg.norm(centred, axis=1, keepdims=True), 1e-12)
    pairs = pairs_above_cosine(centred, cosine)
    return drop_duplicates(
        candidates, pairs, lambda pair, kept: f"looks like {kept.id} (cosine {pair[2]:.3f} >= {cosine:g})"
    )


def country_caps(
    counts: Mapping[str, int], *, max_per_country: int | None = None, target=None
) -> dict[str, int]:
    """How many images each country may keep: at most ``max_per_country``, and/or in the proportions of
    ``target`` ({country: share}; countries it does not name get none): the largest set that matches
    the target exactly given what is available."""
    caps = dict(counts)
    if max_per_country is not None:
        if (
            isinstance(max_per_country, bool)
            or not isinstance(max_per_country, (int, np.integer))
            or max_per_country < 1
        ):
            raise GeolibError(f"max per country must be a positive integer, got {max_per_country!r}")
        caps = {country: min(n, int(max_per_country)) for country, n in caps.items()}
    if target:
        shares = {country: float(share) for country, share in target.items()}
        if any(not share >= 0 for share in shares.values()) or not sum(shares.values()) > 0:
            raise GeolibError(f"target shares must be non-negative with a positive sum, got {dict(target)}")
        total = sum(shares.values())
        shares = {country: share / total for country, share in shares.items() if share > 0}
        scale = min((caps.get(country, 0) / share for country, share in shares.items()), default=0)
        caps = {
            country: min(caps.get(country, 0), int(np.floor(scale * shares.get(country, 0) + 1e-9)))
            for country in caps
        }
    return caps


def balance(
    candidates: Sequence[Candidate],
    *,
    max_per_country: int | None = None,
    target: Mapping[str, float] | None = None,
) -> tuple[list[Candidate], list[Exclusion]]:
    """Cap each country (see :func:`country_caps`), keeping its most locatable images (ties: by id)."""
    counts = Counter(c.country for c in candidates)
    caps = country_caps(counts, max_per_country=max_per_country, target=target)
    by_country: dict[str, list[int]] = {}
    for i, c in enumerate(candidates):
        by_country.setdefault(c.country, []).append(i)
    chosen: set[int] = set()
    for country, members in by_country.items():
        members.sort(key=lambda i: (-candidates[i].locatability, candidates[i].id))
        chosen.update(members[: caps[country]])
    kept = [c for i, c in enumerate(candidates) if i in chosen]
    dropped = [
        Exclusion(c.id, "balance", f"{c.country} capped at {caps[c.country]} of {counts[c.country]} images")
        for i, c in enumerate(candidates)
        if i not in chosen
    ]
    return kept, dropped
