"""A searchable gallery: tile embeddings computed once, L2-normalised, saved, and searched exactly.

An index folder holds ``embeddings.npy`` (float32, one unit row per tile), ``items.csv`` (``name``,
``latitude``, ``longitude``, ``path``) and ``index.json`` (the model and text settings that made it, so a
query is embedded the same way). Search is a matrix product and a top-k per query, in blocks of the gallery
so that memory stays bounded; it reads the whole gallery once per block of queries, so its speed is set by
memory bandwidth (``benchmarks/retrieval_search.py`` measures both).

Past the memory of one machine (tens of millions of tiles), the same unit vectors go into FAISS
(``faiss.IndexFlatIP`` for the same exact search, ``IndexIVFPQ`` to trade a little recall for speed and
memory); ``Index.vectors`` is what ``index.add`` takes. FAISS is an optional extra, not needed here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from geolib.errors import GeolibError

FILES = ("embeddings.npy", "items.csv", "index.json")


@dataclass
class Index:
    vectors: np.ndarray  # (N, D) float32, unit rows
    items: list[dict]  # name, latitude, longitude, path
    settings: dict

    def __post_init__(self):
        if self.vectors.ndim != 2 or len(self.vectors) != len(self.items):
            raise GeolibError(f"{len(self.items)} items for embeddings of shape {self.vectors.shape}")

    def search(self, queries, k: int = 5, *, block: int = 65536) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` best gallery indices of each query (unit vectors, Q x D) and their cosine scores, best
        first."""
        return top_k(queries, self.vectors, k, block=block)


def unit_rows(vectors) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    if not np.all(np.isfinite(vectors)) or np.any(norms == 0):
        raise GeolibError("embeddings must be finite and non-zero")
    return vectors / norms


def top_k(queries, gallery, k: int, *, block: int = 65536) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-``k`` of ``queries @ gallery.T`` per row, computed block by block of the gallery."""
    import torch

    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise GeolibError(f"k must be a whole number of at least 1, not {k!r}")
    queries = torch.from_numpy(np.ascontiguousarray(queries, dtype=np.float32))
    gallery = torch.from_numpy(np.ascontiguousarray(gallery, dtype=np.float32))
    if queries.ndim != 2 or gallery.ndim != 2 or queries.shape[1] != gallery.shape[1]:
        raise GeolibError(f"queries {tuple(queries.shape)} and gallery {tuple(gallery.shape)} do not match")
    k = min(k, gallery.shape[0])
    best_scores = torch.full((queries.shape[0], 0), float("-inf"))
    best_index = torch.zeros((queries.shape[0], 0), dtype=torch.long)
    with torch.no_grad():
        for start in range(0, gallery.shape[0], block):
            scores = queries @ gallery[start : start + block].T
            local_scores, local_index = scores.topk(min(k, scores.shape[1]), dim=1)
            best_scores = torch.cat([best_scores, local_scores], dim=1)
            best_index = torch.cat([best_index, local_index + start], dim=1)
            best_scores, order = best_scores.topk(k, dim=1)
            best_index = best_index.gather(1, order)
    return best_index.numpy(), best_scores.numpy()


def save_index(folder, vectors, items: list[dict], settings: dict) -> Path:
    """Write an index folder atomically file by file."""
    import pandas as pd

    from geolib.iox import atomic_path, make_dir, write_json, write_text

    folder = Path(folder)
    index = Index(unit_rows(vectors), items, settings)
    make_dir(folder)
    with atomic_path(folder / FILES[0]) as tmp, open(tmp, "wb") as file:
        np.save(file, index.vectors)
    write_text(
        folder / FILES[1],
        pd.DataFrame(items, columns=["name", "latitude", "longitude", "path"]).to_csv(index=False),
    )
    write_json(folder / FILES[2], settings)
    return folder


def load_index(folder) -> Index:
    """Read an index folder; a missing or inconsistent file is a GeolibError naming it."""
    import pandas as pd

    from geolib.formats.validate import read_json_file

    folder = Path(folder)
    if not folder.is_dir():
        raise GeolibError(f"{folder} is not an index folder (make one with `geolib retrieval index`)")
    missing = [name for name in FILES if not (folder / name).is_file()]
    if missing:
        raise GeolibError(f"{folder} is not a complete index: {', '.join(missing)} missing")
    try:
        vectors = np.load(folder / FILES[0], allow_pickle=False)
    except (ValueError, OSError) as err:
        raise GeolibError(f"{folder / FILES[0]} cannot be read: {err}") from None
    items = pd.read_csv(folder / FILES[1], dtype={"name": str, "path": str}).to_dict("records")
    return Index(vectors.astype(np.float32, copy=False), items, read_json_file(folder / FILES[2]))


def build_index(model, data, view: str, out, *, split: str | None = None, progress: bool = True) -> Index:
    """Embed every ``view`` tile of the dataset folder ``data`` (one split, or all) with the dual encoder
    folder ``model`` and save the index to ``out``."""
    from geolib.iox import check_writable
    from geolib.retrieval.data import read_pairs
    from geolib.retrieval.model import load_retrieval_model
    from geolib.retrieval.train import embed_tiles

    check_writable(Path(out) / FILES[0])
    pairs = read_pairs(data, view, split)
    if not pairs:
        raise GeolibError(f"{data} has no {split or 'annotated'} {view} tiles to index")
    encoder = load_retrieval_model(model)
    vectors = embed_tiles(encoder, [p.tile for p in pairs], progress=progress)
    items = [
        {"name": p.name, "latitude": p.latitude, "longitude": p.longitude, "path": str(p.tile)} for p in pairs
    ]
    settings = {
        "model": str(Path(model).resolve()) if Path(model).exists() else str(model),
        "view": view,
        "split": split,
    }
    save_index(out, vectors, items, settings)
    return Index(unit_rows(vectors), items, settings)


def search_text(index_dir, descriptions: list[str], k: int = 5) -> list[list[dict]]:
    """The ``k`` best tiles for each description: ``name``, ``latitude``, ``longitude``, ``path``, ``score``."""
    from geolib.retrieval.model import load_retrieval_model
    from geolib.retrieval.train import embed_texts

    index = load_index(index_dir)
    encoder = load_retrieval_model(index.settings["model"])
    best, scores = index.search(embed_texts(encoder, descriptions), k)
    return [
        [{**index.items[i], "score": float(s)} for i, s in zip(row, row_scores, strict=True)]
        for row, row_scores in zip(best, scores, strict=True)
    ]
