"""Text-to-tile search: exact top-k queries per second against a 100,000-tile gallery, and the bound that this
machine's memory bandwidth sets (measured in the same run).

Each block of queries reads the whole gallery once (100,000 x 768 float32 = 307 MB for ViT-L/14's embeddings),
so the search cannot answer more than ``bandwidth / gallery bytes x queries per block`` queries per second; the
arithmetic (2 x queries x gallery x dimension flops) is the other bound. The table reports both and the share of
the tighter one reached. Target: at least 50 % of the bound.
"""

from __future__ import annotations

import time

import numpy as np


def _bandwidth_gb_s(nbytes: int, repeats: int = 5) -> float:
    """Read bandwidth: the best of a few full passes summing a large array (reads only, like the search)."""
    data = np.ones(nbytes // 4, dtype=np.float32)
    data.sum()
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        data.sum()
        best = min(best, time.perf_counter() - started)
    return nbytes / best / 1e9


def _flops_g_s(size: int = 1024) -> float:
    import torch

    a, b = torch.rand(size, size), torch.rand(size, size)
    a @ b
    started = time.perf_counter()
    for _ in range(5):
        a @ b
    return 5 * 2 * size**3 / (time.perf_counter() - started) / 1e9


def run(quick: bool = False):
    from geolib.retrieval.index import top_k, unit_rows

    rng = np.random.default_rng(0)
    gallery_size, dimension = (20_000 if quick else 100_000), 768
    gallery = unit_rows(rng.standard_normal((gallery_size, dimension), dtype=np.float32))
    gallery_bytes = gallery.nbytes
    bandwidth = _bandwidth_gb_s(gallery_bytes)
    flops = _flops_g_s()
    rows = []
    for queries_per_block in (1, 16, 64, 256):
        queries = unit_rows(rng.standard_normal((queries_per_block, dimension), dtype=np.float32))
        top_k(queries, gallery, 10)  # warm
        repeats = 20 if queries_per_block < 64 else 5
        started = time.perf_counter()
        for _ in range(repeats):
            top_k(queries, gallery, 10)
        seconds = (time.perf_counter() - started) / repeats
        measured = queries_per_block / seconds
        memory_bound = bandwidth * 1e9 / gallery_bytes * queries_per_block
        compute_bound = flops * 1e9 / (2 * gallery_size * dimension)
        bound = min(memory_bound, compute_bound)
        rows.append(
            [
                queries_per_block,
                f"{measured:,.0f}",
                f"{memory_bound:,.0f}",
                f"{compute_bound:,.0f}",
                f"{measured / bound:.0%}",
            ]
        )
    title = (
        f"exact top-10 search, {gallery_size:,} x {dimension} float32 gallery ({gallery_bytes / 1e6:.0f} MB); "
        f"read bandwidth {bandwidth:.1f} GB/s, matrix product {flops:.0f} GFLOP/s"
    )
    return (
        title,
        ["queries per block", "queries/s", "memory bound", "compute bound", "of the tighter bound"],
        rows,
    )
