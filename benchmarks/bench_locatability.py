"""Locatability formula: the vectorised ``locatability_from_fractions`` against a per-image, per-class
Python loop like the authors' script (a dict of class fractions per image, summed with the weights).

Images are synthetic but shaped like segmentations: 5-25 classes present per image (the authors'
worked example has 14), street classes (road, sky, building, tree...) more likely, fractions summing
to 1. The speed-up is against the authors' loop over the classes present; a loop over all 150 classes
(a dict made from a full fraction vector) is shown too. Timings are the best of 3 runs; rows marked
with a tenth of the images are timed on that tenth, and their rate is what counts.

Why the speed-up is modest: the authors' loop touches only the ~15 classes present (about 2-3 us per
image), while the vectorised product reads all 150 float64 fractions, 1,200 bytes per image; at a
memory bandwidth of ~10 GB/s that alone is ~0.12 us, so ~20x is the ceiling for dense (N, 150) input.
Against a loop over all 150 classes the ratio is about 10x larger.
"""

from __future__ import annotations

import time

import numpy as np

STREET_CLASSES = [0, 1, 2, 4, 6, 9, 11, 12, 13, 16, 17, 20, 21, 32, 43, 87, 93, 136, 149]


def synthetic_fractions(n: int, seed: int = 0) -> np.ndarray:
    """(n, 150) pixel fractions, rows summing to 1, with a segmentation's sparsity."""
    rng = np.random.default_rng(seed)
    prior = np.full(150, 0.2)
    prior[STREET_CLASSES] = 5.0
    prior /= prior.sum()
    fractions = np.zeros((n, 150))
    for row in range(n):
        present = rng.choice(150, size=rng.integers(5, 26), replace=False, p=prior)
        fractions[row, present] = rng.dirichlet(np.full(len(present), 0.5))
    return fractions


def as_dicts(fractions: np.ndarray) -> list[dict[int, float]]:
    """Per image ``{class id: fraction}`` of the classes present, as the authors' script keeps them."""
    return [{int(k): float(row[k]) for k in np.flatnonzero(row)} for row in fractions]


def loop_locatability(images: list[dict[int, float]], weights: list[float]) -> list[float]:
    """The reference: one Python sum per image over its classes."""
    return [sum(weights[k] * f for k, f in image.items()) for image in images]


def _best_of(fn, repeats: int = 3):
    best, result = float("inf"), None
    for _ in range(repeats):
        started = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - started)
    return best, result


def run(quick: bool = False):
    from geolib.locatability import locatability_from_fractions, published_weights

    n = 10_000 if quick else 100_000
    fractions = synthetic_fractions(n)
    images = as_dicts(fractions)
    weights = published_weights().tolist()

    def from_dicts():  # if a pipeline only had the dicts: fill the array, then one matrix product
        array = np.zeros((len(images), 150))
        for row, image in enumerate(images):
            array[row, list(image)] = list(image.values())
        return locatability_from_fractions(array)

    loop_seconds, reference = _best_of(lambda: loop_locatability(images, weights))
    reference = np.array(reference)
    single = images[: n // 10]  # one call per image is slow: time a tenth and say so
    every_class = [dict(enumerate(row.tolist())) for row in fractions[: n // 10]]
    rows = [["Python loop, dict of the classes present (authors' script)", n, loop_seconds, reference]]
    for name, fn, count in [
        (
            "Python loop, dict of all 150 classes",
            lambda: np.array(loop_locatability(every_class, weights)),
            len(every_class),
        ),
        ("locatability_from_fractions, (N, 150) array", lambda: locatability_from_fractions(fractions), n),
        ("  same, dicts -> array first", from_dicts, n),
        (
            "locatability_from_fractions, one call per image",
            lambda: np.array([locatability_from_fractions(image) for image in single]),
            len(single),
        ),
    ]:
        seconds, scores = _best_of(fn)
        rows.append([name, count, seconds, scores])
    table = []
    for name, count, seconds, scores in rows:
        rate = count / seconds
        table.append(
            [
                name,
                f"{count:,}",
                f"{seconds:.4f}",
                f"{rate:,.0f}",
                f"{rate / (n / loop_seconds):.1f}x",
                f"{np.abs(scores - reference[:count]).max():.1e}",
            ]
        )
    header = ["method", "images", "seconds", "images/s", "speed-up vs loop", "max |diff| vs loop"]
    return f"Locatability formula, {n:,} images (target: >= 100x the loop, same values)", header, table
