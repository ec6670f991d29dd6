"""Score a dual encoder on a dataset split: text -> tile Recall@K and L@d under both protocols, and the
paper's numbers to read ours against."""

from __future__ import annotations

from pathlib import Path

# CVG-Text's headline R@1 (%), text -> satellite and text -> OSM, CrossText2Loc and zero-shot CLIP-L/14@336
PAPER_R1 = {
    ("satellite", "CrossText2Loc"): {"New York": 46.25, "Brisbane": 43.58, "Tokyo": 36.83},
    ("osm", "CrossText2Loc"): {"New York": 59.08, "Brisbane": 48.08, "Tokyo": 34.33},
    ("satellite", "CLIP-L/14 zero-shot"): {"New York": 35.08, "Brisbane": 34.08, "Tokyo": 28.08},
    ("osm", "CLIP-L/14 zero-shot"): {"New York": 31.50, "Brisbane": 32.50, "Tokyo": 21.00},
}


def evaluate_retrieval(
    encoder, data, view: str, split: str = "test", *, protocols=("cvg", "gallery")
) -> dict:
    """``{protocol: metrics}`` of ``encoder`` on the ``split`` pairs of the dataset folder ``data``."""
    from geolib.errors import GeolibError
    from geolib.retrieval.data import read_pairs
    from geolib.retrieval.metrics import retrieval_metrics
    from geolib.retrieval.train import embed_texts, embed_tiles

    pairs = read_pairs(Path(data), view, split)
    if not pairs:
        raise GeolibError(f"{data} has no {split} pairs")
    similarity = (
        embed_texts(encoder, [p.description for p in pairs]) @ embed_tiles(encoder, [p.tile for p in pairs]).T
    )
    lat, lon = [p.latitude for p in pairs], [p.longitude for p in pairs]
    return {protocol: retrieval_metrics(similarity, lat, lon, protocol=protocol) for protocol in protocols}
