"""Does locatability mean anything? On ClueWorld the truth is known: how many clues each view shows, and
whether a country classifier (trained on *other* scenes) gets its country right. A valid score rises
with both, which is why curation keeps only the most locatable views.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from geolib.errors import DataError


def _score_columns(scores, n: int) -> dict[str, np.ndarray]:
    """``scores``: one array (N,) or ``{method: array}`` -> {method: float64 array}, lengths checked."""
    named = dict(scores) if isinstance(scores, Mapping) else {"score": scores}
    if not named:
        raise DataError("expected at least one array of scores", source="scores")
    columns = {}
    for method, values in named.items():
        array = np.asarray(values, dtype=np.float64)
        if array.shape != (n,):
            raise DataError(
                f"expected {n} scores, one per sample, got shape {array.shape}", source="scores", field=method
            )
        if not np.isfinite(array).all():
            bad = int(np.argmin(np.isfinite(array)))
            raise DataError("expected a finite score", source="scores", record=bad, field=method)
        columns[str(method)] = array
    return columns


def fit_validity_classifier(n: int = 1000, seed: int = 1, *, size: int = 256):
    """The pixel baseline (:mod:`geolib.world.baseline`) trained on ``n`` ClueWorld views of world ``seed``."""
    from geolib.world import generate
    from geolib.world.baseline import fit_country_baseline

    samples = list(generate(n, seed, size=size, tile_size=32, progress=False))
    return fit_country_baseline([s.image for s in samples], [s.country for s in samples])


def validity_records(samples: Sequence, scores, *, classifier=None, train_n: int = 1000) -> pd.DataFrame:
    """One row per sample: ``id, richness, n_clues, country, predicted, correct`` and one column per score.

    ``classifier`` (a fitted :func:`geolib.world.baseline.fit_country_baseline`) defaults to one trained on
    ``train_n`` scenes of a world seed that none of ``samples`` comes from.
    """
    from geolib.world.baseline import pixel_features

    samples = list(samples)
    if not samples:
        raise DataError("expected at least one ClueWorld sample", source="samples")
    columns = _score_columns(scores, len(samples))
    for i, sample in enumerate(samples):
        if getattr(sample, "image", None) is None or not hasattr(sample, "clues"):
            raise DataError(
                "expected a ClueWorld sample with its image and clues", source="samples", record=i
            )
    if classifier is None:
        other_world = max(s.seed for s in samples) + 1
        classifier = fit_validity_classifier(train_n, other_world, size=samples[0].image.size[0])
    predicted = classifier.predict(pixel_features([s.image for s in samples]))
    table = pd.DataFrame(
        {
            "id": [s.id for s in samples],
            "richness": [s.richness for s in samples],
            "n_clues": [len(s.clues) for s in samples],
            "country": [s.country for s in samples],
            "predicted": predicted,
        }
    )
    table["correct"] = table["country"] == table["predicted"]
    for method, values in columns.items():
        table[method] = values
    return table


def validity_table(
    samples: Sequence, scores, *, classifier=None, bins: int = 5, train_n: int = 1000
) -> pd.DataFrame:
    """Per score quantile (quintiles by default) and per method: the score range, the mean number of
    visible clues and the country classifier's accuracy.

    ``scores`` is one array (N,) or a mapping such as ``{"formula": ..., "network": ...}``. Columns:
    ``method, bin`` (1 = least locatable), ``score_low, score_high, images, mean_clues,
    country_accuracy``; ``table.attrs`` holds, per method, the Spearman correlation of the score with the
    number of clues (``spearman_clues``), and the overall accuracy (``accuracy``).
    """
    from scipy.stats import spearmanr

    records = validity_records(samples, scores, classifier=classifier, train_n=train_n)
    methods = list(_score_columns(scores, len(records)))
    rows, spearman = [], {}
    for method in methods:
        # ranks first: ties (equal scores) then still split into bins of equal size
        ranks = records[method].rank(method="first")
        groups = records.groupby(pd.qcut(ranks, min(bins, len(records)), labels=False), sort=True)
        for number, group in groups:
            rows.append(
                {
                    "method": method,
                    "bin": int(number) + 1,
                    "score_low": group[method].min(),
                    "score_high": group[method].max(),
                    "images": len(group),
                    "mean_clues": group["n_clues"].mean(),
                    "country_accuracy": group["correct"].mean(),
                }
            )
        rho = spearmanr(records[method], records["n_clues"]).statistic
        spearman[method] = float(rho) if np.isfinite(rho) else 0.0
    table = pd.DataFrame(rows)
    table.attrs = {"spearman_clues": spearman, "accuracy": float(records["correct"].mean())}
    return table
