"""Batch scoring of many images: ``geolib segment`` and ``geolib locatability``.

Inputs are image files, folders of them or ``metadata.csv`` files (:mod:`.inputs`); unreadable images
are skipped by name, every finished batch is kept, a rerun resumes, and ``accelerate launch`` splits
the work between processes whose parts are merged into one file (:mod:`.runner`).
"""

from geolib.batch.inputs import Inputs, Item, collect_inputs
from geolib.batch.runner import Output, Summary, run_batch
from geolib.batch.stages import score_locatability, segment_images

__all__ = [
    "Inputs",
    "Item",
    "Output",
    "Summary",
    "collect_inputs",
    "run_batch",
    "score_locatability",
    "segment_images",
]
