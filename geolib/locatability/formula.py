"""GeoReasoner's locatability score: ``sum_k w_k * f_k`` over the 150 ADE20K classes, where ``f`` are the
per-class pixel fractions of a segmented street view and ``w`` the published per-class weights."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache

import numpy as np

from geolib.ade20k import NUM_CLASSES, _reference
from geolib.errors import DataError


@lru_cache(maxsize=1)
def published_weights() -> np.ndarray:
    """The authors' 150 weights (0-based ADE20K ids), read-only."""
    weights = np.asarray(_reference()["weights"], dtype=np.float64)
    weights.setflags(write=False)
    return weights


def worked_example() -> tuple[dict[int, float], float]:
    """The authors' own example: ({class id: pixel fraction}, its locatability)."""
    example = _reference()["example"]
    return {int(k): float(v) for k, v in example["pixel_fractions"].items()}, float(example["locatability"])


def _class_id(key, source: str) -> int:
    """A mapping key as a class id: an int or a string of digits ("6", as JSON keys are); not a bool,
    and not a float, which would be truncated silently (1.5 -> 1)."""
    if isinstance(key, (bool, np.bool_)) or not isinstance(key, (int, np.integer, str)):
        raise DataError(f"class id {key!r} is not an integer", source=source)
    try:
        class_id = int(key)
    except ValueError:
        raise DataError(f"class id {key!r} is not an integer", source=source) from None
    if not 0 <= class_id < NUM_CLASSES:
        raise DataError(f"class id {class_id} is outside 0..{NUM_CLASSES - 1}", source=source)
    return class_id


def _float_array(values, source: str) -> np.ndarray:
    try:
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):  # text, None, or rows of different lengths
        raise DataError(
            f"expected numbers of shape (150,) or (N, 150), got {type(values).__name__}", source=source
        ) from None


def fractions_array(fractions, *, source: str = "fractions") -> np.ndarray:
    """A mapping ``{class_id: fraction}``, an array of shape (150,) or (N, 150) -> float64 array; the
    values are checked (finite, non-negative, ids within 0..149, each id once), not renormalised."""
    if isinstance(fractions, Mapping):
        array = np.zeros(NUM_CLASSES)
        seen: dict[int, object] = {}
        for key, value in fractions.items():
            class_id = _class_id(key, source)
            if class_id in seen:  # {6: 0.1, "6": 0.2}: one would silently overwrite the other
                raise DataError(
                    f"class id {class_id} is given twice ({seen[class_id]!r}, {key!r})", source=source
                )
            seen[class_id] = key
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
                raise DataError(f"expected a number, got {value!r}", source=source, field=f"class {class_id}")
            array[class_id] = value
    else:
        array = _float_array(fractions, source)
    if array.shape[-1:] != (NUM_CLASSES,) or array.ndim not in (1, 2):
        raise DataError(f"expected shape (150,) or (N, 150), got {array.shape}", source=source)
    # min/max are two passes without temporaries (NaN makes min NaN, so it fails too); only a bad array
    # pays for the element-wise scan that finds the culprit
    if array.size and array.min() >= 0 and array.max() < np.inf:
        return array
    bad = ~np.isfinite(array) | (array < 0)
    if bad.any():
        where = np.argwhere(bad)[0]
        row = f"row {where[0]}" if array.ndim == 2 else None  # 0-based, as the array is indexed
        class_id = int(where[-1])
        raise DataError(
            f"expected a finite, non-negative fraction, got {array[tuple(where)]}",
            source=source,
            record=row,
            field=f"class {class_id}",
        )
    return array


def weights_array(weights, *, source: str = "weights") -> np.ndarray:
    """150 finite per-class weights as a float64 array (shape (150,)), or a :class:`DataError`."""
    array = _float_array(weights, source)
    if array.shape != (NUM_CLASSES,):
        raise DataError(f"expected 150 weights, got shape {array.shape}", source=source)
    if not np.isfinite(array).all():
        class_id = int(np.argwhere(~np.isfinite(array))[0][0])
        raise DataError(
            f"expected a finite weight, got {array[class_id]}", source=source, field=f"class {class_id}"
        )
    return array


def locatability_from_fractions(fractions, weights=None):
    """Locatability of one image (a mapping or a (150,) array: a float) or of many ((N, 150): an array).

    >>> fractions, expected = worked_example()
    >>> locatability_from_fractions(fractions) == expected
    True
    """
    array = fractions_array(fractions)
    w = published_weights() if weights is None else weights_array(weights)
    scores = array @ w
    return float(scores) if array.ndim == 1 else scores


def fractions_from_mask(mask: np.ndarray) -> np.ndarray:
    """Per-class pixel fractions (150,) of an ADE20K id mask (H, W); ids outside 0..149 (255 =
    ignore) are left out of the denominator."""
    ids = np.asarray(mask).ravel()
    counts = np.bincount(ids[ids < NUM_CLASSES].astype(np.int64), minlength=NUM_CLASSES)[:NUM_CLASSES]
    total = counts.sum()
    return counts / total if total else counts.astype(np.float64)
