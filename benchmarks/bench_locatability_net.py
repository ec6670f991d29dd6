"""Locatability from pixels: the CLIP-based network against segmentation + formula, images/s on the same
ClueWorld views, and how closely the network ranks them like the formula (target: >= 10x faster,
held-out Spearman >= 0.8)."""

from __future__ import annotations

import time


def _rate(n: int, function) -> tuple[float, object]:
    started = time.perf_counter()
    result = function()
    return n / (time.perf_counter() - started), result


def run(quick: bool = False):
    import numpy as np
    from scipy.stats import spearmanr

    from geolib import profiles
    from geolib.locatability import locatability_from_fractions
    from geolib.locatability.network import clueworld_scores, load_locatability_net
    from geolib.world import generate

    n = 32 if quick else 256
    samples = list(generate(n, 4242, size=256, tile_size=32, progress=False))  # the default view size
    images = [s.image for s in samples]
    exact = clueworld_scores(samples)
    net = load_locatability_net()
    net.predict(images[:4], progress=False)  # warm-up outside the timing
    rows = []
    net_rate = 0.0
    for batch_size in (1, 32) if quick else (1, 32, 128):
        rate, predicted = _rate(n, lambda b=batch_size: net.predict(images, batch_size=b, progress=False))
        net_rate = max(net_rate, rate)
        rows.append([f"network predict, batch {batch_size}", n, f"{rate:.0f} images/s"])
    rho = spearmanr(predicted, exact).statistic
    rows.append(
        [
            "network vs formula on exact masks",
            n,
            f"Spearman {rho:.3f}, MAE {np.abs(predicted - exact).mean():.4f}",
        ]
    )
    metrics = net.metrics
    rows.append(
        [
            "network, build's held-out set",
            metrics.get("n_val", ""),
            f"Spearman {metrics.get('val_spearman')}, MAE {metrics.get('val_mae')}",
        ]
    )

    try:
        from geolib.segmentation import load_segmenter
    except ImportError:  # segmentation not installed with this geolib: time the network alone
        rows.append(["segmentation + formula", n, "geolib.segmentation missing: not timed"])
    else:
        segmenter = load_segmenter()  # builds the tiny segmenter on first use
        segmenter.segment(images[:2], progress=False)

        def segment_and_score():
            return locatability_from_fractions(
                segmenter.segment(images, batch_size=8, progress=False).fractions
            )

        seg_rate, formula = _rate(n, segment_and_score)
        rows.append(["segmentation + formula, batch 8", n, f"{seg_rate:.1f} images/s"])
        rows.append(
            ["speed-up of the network (best batch)", n, f"{net_rate / seg_rate:.0f}x (target >= 10x)"]
        )
        rho = spearmanr(predicted, formula).statistic
        rows.append(["network vs segmentation + formula", n, f"Spearman {rho:.3f}"])
        rho = spearmanr(formula, exact).statistic
        rows.append(["segmentation + formula vs exact masks", n, f"Spearman {rho:.3f}"])
    title = f"Locatability network vs segmentation + formula on {profiles.device()}, 256 px ClueWorld views"
    return title, ["what", "images", "result"], rows
