"""The tiny segmenter on this machine: images/s by batch size and image size, and its held-out mIoU."""

from __future__ import annotations

import time


def run(quick: bool = False):
    from geolib import profiles
    from geolib.segmentation import load_segmenter
    from geolib.segmentation.train import TINY, clueworld_views, evaluate_segmenter, read_metrics

    started = time.perf_counter()
    model_dir = profiles.resolve("segmenter")  # builds it on first use
    resolve_seconds = time.perf_counter() - started
    segmenter = load_segmenter(model_dir)
    size = TINY["image_size"]
    n = 32 if quick else 256
    rows = [["resolve + build (or cached)", "", "", f"{resolve_seconds:.1f} s"]]
    for image_size in (size, 256):
        images, masks = clueworld_views(n, 7, start=2_000_000, size=image_size, progress=False)
        segmenter.segment(images[:4], progress=False)  # warm-up outside the timing
        for batch_size in (1, 8) if quick else (1, 8, 32):
            started = time.perf_counter()
            segmenter.segment(images, batch_size=batch_size, progress=False)
            rate = n / (time.perf_counter() - started)
            rows.append([f"segment {image_size} px views", batch_size, n, f"{rate:.1f} images/s"])
        if image_size == size:
            fresh = evaluate_segmenter(segmenter, images, masks)["mean_iou"]
            rows.append(["mIoU, other held-out scenes", "", n, f"{fresh:.3f}"])
    metrics = read_metrics(model_dir)
    rows.append(
        [
            "mIoU in metrics.json (build's held-out)",
            "",
            metrics["held_out"]["scenes"],
            f"{metrics['mean_iou']:.3f}",
        ]
    )
    title = (
        f"Tiny segmenter (Mask2Former, {metrics['training']['parameters'] / 1e6:.1f}M parameters, "
        f"trained at {size} px) on {profiles.device()}; target mIoU >= 0.6"
    )
    return title, ["what", "batch", "images", "result"], rows
