"""Curation: from scored street views to highly locatable, balanced, de-duplicated, geo-separated
fine-tuning sets (GeoReasoner keeps locatability >= 0.4), with a dataset card and the paper's ablation.

``curate(scores, metadata, out)`` is ``geolib curate``; its steps are public so that notebook 03 can
show each one: :func:`load_candidates`, :func:`apply_threshold` / :func:`threshold_sweep`,
:func:`drop_location_duplicates`, :func:`drop_image_duplicates`, :func:`balance`, :func:`geo_split` /
:func:`separation_km`, and :func:`curation_ablation`.
"""

from geolib.curation.ablation import curation_ablation
from geolib.curation.pipeline import DUPLICATE_COSINE, DUPLICATE_METRES, Curation, curate, embed_images
from geolib.curation.records import Candidate, Exclusion, load_candidates
from geolib.curation.select import (
    PAPER_THRESHOLD,
    apply_threshold,
    balance,
    country_caps,
    drop_image_duplicates,
    drop_location_duplicates,
    threshold_sweep,
)
from geolib.curation.splits import SPLITS, geo_split, linked_groups, separation_km

__all__ = [
    "DUPLICATE_COSINE",
    "DUPLICATE_METRES",
    "PAPER_THRESHOLD",
    "SPLITS",
    "Candidate",
    "Curation",
    "Exclusion",
    "apply_threshold",
    "balance",
    "country_caps",
    "curate",
    "curation_ablation",
    "drop_image_duplicates",
    "drop_location_duplicates",
    "embed_images",
    "geo_split",
    "linked_groups",
    "load_candidates",
    "separation_km",
    "threshold_sweep",
]
