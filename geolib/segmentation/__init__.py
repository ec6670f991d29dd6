"""Segmentation of street views into the 150 ADE20K classes (GeoReasoner, section 3.1).

``load_segmenter()`` gives the profile's segmenter (the paper's MaskFormer in ``full``, a tiny
Mask2Former trained on ClueWorld in ``tiny``); ``segment(images)`` returns per-pixel ADE20K ids and
per-class pixel fractions. :mod:`.metrics` scores masks against ground truth, :mod:`.train` trains
(and builds the tiny model), :mod:`.detectron2_backend` is the authors' own detectron2 route.
"""

from geolib.segmentation.metrics import confusion_matrix, mean_iou, per_class_iou
from geolib.segmentation.segmenter import (
    BACKENDS,
    SegmentationBatch,
    Segmenter,
    ade_ids_of_labels,
    load_segmenter,
)

__all__ = [
    "BACKENDS",
    "SegmentationBatch",
    "Segmenter",
    "ade_ids_of_labels",
    "confusion_matrix",
    "load_segmenter",
    "mean_iou",
    "per_class_iou",
]
