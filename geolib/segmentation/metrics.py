"""Segmentation metrics over ADE20K ids: confusion matrix, per-class IoU and mean IoU.

A class counts in the mean only if it is *present* in the ground truth: a class that never occurs
has no IoU to speak of (0/0), and counting it as 0 or 1 would say more about the test set than
about the model. Pixels labelled ``ignore_index`` (255) are left out, as in ADE20K's evaluation.
"""

from __future__ import annotations

import numpy as np

from geolib.ade20k import NUM_CLASSES
from geolib.errors import DataError

IGNORE_INDEX = 255


def confusion_matrix(
    truth, predicted, *, num_classes: int = NUM_CLASSES, ignore_index: int = IGNORE_INDEX
) -> np.ndarray:
    """Pixel counts ``cm[true, predicted]`` (int64, num_classes x num_classes).

    ``truth`` and ``predicted`` are one mask each (H, W) or sequences of masks of matching shapes.
    """
    truth, predicted = _masks(truth), _masks(predicted)
    if len(truth) != len(predicted):
        raise DataError(f"{len(truth)} true masks but {len(predicted)} predicted ones")
    cm = np.zeros((num_classes, num_classes), dtype=np.int64)
    for index, (true_mask, pred_mask) in enumerate(zip(truth, predicted, strict=True)):
        true_mask, pred_mask = np.asarray(true_mask), np.asarray(pred_mask)
        if true_mask.shape != pred_mask.shape:
            raise DataError(
                f"true mask {true_mask.shape} and predicted mask {pred_mask.shape} differ in shape",
                record=index,
            )
        t, p = true_mask.ravel().astype(np.int64), pred_mask.ravel().astype(np.int64)
        keep = t != ignore_index
        t, p = t[keep], p[keep]
        bad = (t < 0) | (t >= num_classes) | (p < 0) | (p >= num_classes)
        if bad.any():
            value = int(t[bad][0]) if ((t < 0) | (t >= num_classes)).any() else int(p[bad][0])
            raise DataError(f"class id {value} is outside 0..{num_classes - 1}", record=index)
        cm += np.bincount(t * num_classes + p, minlength=num_classes * num_classes).reshape(
            num_classes, num_classes
        )
    return cm


def _masks(masks) -> list:
    """One (H, W) mask, an (N, H, W) array or a sequence of masks -> a list of masks."""
    if isinstance(masks, np.ndarray) and masks.ndim == 2:
        return [masks]
    return list(masks)


def per_class_iou(cm: np.ndarray) -> np.ndarray:
    """IoU of each class, ``tp / (tp + fp + fn)``; NaN for a class absent from the ground truth."""
    cm = np.asarray(cm, dtype=np.float64)
    tp = np.diag(cm)
    true_pixels, predicted_pixels = cm.sum(axis=1), cm.sum(axis=0)
    union = true_pixels + predicted_pixels - tp
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = tp / union
    # absent classes get no IoU; a pixel wrongly predicted as one still costs the true class its IoU
    iou[true_pixels == 0] = np.nan
    return iou


def mean_iou(cm: np.ndarray) -> float:
    """Mean IoU over the classes present in the ground truth (NaN if none is)."""
    iou = per_class_iou(cm)
    present = ~np.isnan(iou)
    return float(iou[present].mean()) if present.any() else float("nan")
