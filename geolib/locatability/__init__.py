"""Locatability: how much a street view tells about where it was taken (GeoReasoner, section 3).

The published formula over segmentation class fractions (:mod:`.formula`), weights derived from clue
text with Sentence-BERT, and a CLIP-based network that predicts the score from pixels alone.
"""

from geolib.locatability.formula import (
    fractions_array,
    fractions_from_mask,
    locatability_from_fractions,
    published_weights,
    weights_array,
    worked_example,
)
from geolib.locatability.weights import (
    clue_sentences,
    compare_weights,
    derive_weights,
    read_clue_corpus,
)

__all__ = [
    "fractions_array",
    "fractions_from_mask",
    "locatability_from_fractions",
    "published_weights",
    "worked_example",
    "weights_array",
    "clue_sentences",
    "compare_weights",
    "derive_weights",
    "read_clue_corpus",
]

# The network and the validity checks need torch / scikit-learn: imported on first use, so that the
# formula stays a light import.
_LAZY = {
    "LocatabilityNet": "geolib.locatability.network",
    "load_locatability_net": "geolib.locatability.network",
    "train_locatability_net": "geolib.locatability.network",
    "validity_table": "geolib.locatability.validity",
    "validity_records": "geolib.locatability.validity",
}
__all__ += list(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
