"""A deliberately small country classifier on raw pixels: how much signal does a ClueWorld scene hold?

Features are a 24x24 thumbnail plus a 512-bin colour histogram; the model is a logistic regression.
Rich scenes (plates, flags, line colours, roofs) should be far easier than clue-poor ones, which is
the premise of locatability and curation.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def pixel_features(images: Sequence) -> np.ndarray:
    """(N, 24*24*3 + 512) features of PIL images."""
    rows = []
    for image in images:
        small = np.asarray(image.convert("RGB").resize((24, 24)), dtype=np.float32).ravel() / 255
        bins = (np.asarray(image.convert("RGB")) // 32).reshape(-1, 3).astype(int)
        hist = np.bincount(bins[:, 0] * 64 + bins[:, 1] * 8 + bins[:, 2], minlength=512).astype(np.float32)
        rows.append(np.concatenate([small, np.sqrt(hist / hist.sum())]))
    return np.array(rows)


def fit_country_baseline(images: Sequence, countries: Sequence[str]):
    """A standardised logistic regression from pixels to country codes."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=300, C=0.05))
    return model.fit(pixel_features(images), np.asarray(countries))


def accuracy(model, images: Sequence, countries: Sequence[str]) -> float:
    return float((model.predict(pixel_features(images)) == np.asarray(countries)).mean())
