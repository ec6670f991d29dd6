"""Training a MaskFormer-family segmenter on ADE20K-id masks, and the tiny profile's builder.

:func:`train_segmenter` fine-tunes any ``Mask2FormerForUniversalSegmentation`` /
``MaskFormerForInstanceSegmentation`` on (image, mask) pairs with its own image processor, on the
profile's device (a GPU for fine-tuning a hub checkpoint, the CPU for the tiny model), with a progress
bar. :func:`build_tiny_segmenter` is the registry's seeded builder: a ~1.7M-parameter Mask2Former with a
tiny Swin backbone, trained from scratch on ClueWorld street views, saved with ``save_pretrained``
(safetensors) next to its image processor and ``metrics.json`` (held-out mIoU, per-class IoU and the
confusion matrix, so that notebooks can show them without recomputing).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from geolib import profiles
from geolib.ade20k import NUM_CLASSES, class_names
from geolib.errors import GeolibError
from geolib.iox import write_json
from geolib.segmentation.metrics import IGNORE_INDEX, confusion_matrix, mean_iou, per_class_iou

# The tiny model and its recipe: fixed steps and seeds (never a wall-clock budget), so that every
# build from an empty cache gives the same model. See the module docstring of tests/test_segmentation.py
# and the report in the issue for how these were chosen.
TINY = {
    "image_size": 96,
    "train_scenes": 1000,
    "held_out_scenes": 200,
    "held_out_start": 1_000_000,  # held-out scenes: indices far from the training ones, same world
    "steps": 400,
    "batch_size": 16,
    "lr": 2e-3,
    "warmup_steps": 30,
    "weight_decay": 0.05,
    # patch size 2 (strides 2..16) keeps thin classes (poles, signs) a few feature cells wide at 96 px:
    # held-out mIoU 0.542 against 0.472 with the default patch size 4, for about 1.6x the training time
    "model": {"patch_size": 2, "feature_strides": [2, 4, 8, 16], "common_stride": 2},
}


def ade_label_maps() -> tuple[dict[int, str], dict[str, int]]:
    """``id2label`` / ``label2id`` of the 150 ADE20K classes in geolib's (the hub's) order."""
    id2label = dict(enumerate(class_names()))
    return id2label, {name: class_id for class_id, name in id2label.items()}


def ade_image_processor(size: int, *, mask2former: bool = True):
    """An image processor set up as the hub's ADE20K processors (ImageNet mean/std, ignore 255, no label
    reduction, sizes divisible by 32), but resizing to ``size`` x ``size``."""
    from transformers import Mask2FormerImageProcessor, MaskFormerImageProcessor

    kind = Mask2FormerImageProcessor if mask2former else MaskFormerImageProcessor
    return kind(
        size={"height": size, "width": size},
        size_divisor=32,
        ignore_index=IGNORE_INDEX,
        do_reduce_labels=False,
        num_labels=NUM_CLASSES,
        image_mean=[0.485, 0.456, 0.406],
        image_std=[0.229, 0.224, 0.225],
    )


def tiny_mask2former_config(image_size: int = TINY["image_size"], **overrides):
    """The tiny Mask2Former: Swin backbone (embed 32, depths 1-1-2-1), 24 queries, hidden size 64."""
    from transformers import Mask2FormerConfig, SwinConfig

    id2label, label2id = ade_label_maps()
    backbone = SwinConfig(
        image_size=image_size,
        patch_size=overrides.pop("patch_size", 4),
        embed_dim=overrides.pop("embed_dim", 32),
        depths=overrides.pop("depths", [1, 1, 2, 1]),
        num_heads=overrides.pop("num_heads", [1, 2, 4, 8]),
        # stage resolutions are image_size/4 .. image_size/32: a window that tiles them exactly
        window_size=overrides.pop("window_size", max(1, image_size // 16)),
        drop_path_rate=0.0,
        out_features=overrides.pop("out_features", ["stage1", "stage2", "stage3", "stage4"]),
    )
    hidden = overrides.pop("hidden_dim", 64)
    settings = {
        "feature_size": hidden,
        "mask_feature_size": hidden,
        "hidden_dim": hidden,
        "encoder_feedforward_dim": 4 * hidden,
        "dim_feedforward": 4 * hidden,
        "encoder_layers": 2,
        "decoder_layers": 3,
        "num_attention_heads": 4,
        "num_queries": 24,
        "train_num_points": 1024,
    }
    settings.update(overrides)
    return Mask2FormerConfig(
        backbone_config=backbone, num_labels=NUM_CLASSES, id2label=id2label, label2id=label2id, **settings
    )


def clueworld_views(n: int, seed: int, *, start: int = 0, size: int = 96, progress: bool = True):
    """``n`` ClueWorld street views and their exact ADE20K masks: (list of PIL images, list of masks)."""
    from geolib.world import generate
    from geolib.world.generate import MIN_TILE_SIZE

    images, masks = [], []
    for sample in generate(n, seed, start=start, size=size, tile_size=MIN_TILE_SIZE, progress=progress):
        images.append(sample.image)
        masks.append(sample.mask)
    return images, masks


def scene_weights(masks: Sequence[np.ndarray]) -> np.ndarray:
    """Sampling weight of each scene, so that scenes showing rare classes are drawn more often.

    Repeat-factor sampling (as for LVIS): a class seen in a fraction ``f`` of the scenes gets the factor
    ``max(1, sqrt(t / f))`` with ``t`` = 0.1, and a scene the largest factor of the classes it shows.
    """
    present = np.zeros((len(masks), NUM_CLASSES), dtype=bool)
    for row, mask in enumerate(masks):
        ids = np.unique(mask)
        present[row, ids[ids < NUM_CLASSES]] = True
    share = present.mean(axis=0)
    with np.errstate(divide="ignore"):
        factor = np.where(share > 0, np.maximum(1.0, np.sqrt(0.1 / share)), 0.0)
    return np.where(present, factor, 0.0).max(axis=1).clip(min=1.0)


def train_segmenter(
    model,
    processor,
    images: Sequence,
    masks: Sequence[np.ndarray],
    *,
    steps: int,
    batch_size: int = 16,
    lr: float = 1e-4,
    warmup_steps: int = 0,
    weight_decay: float = 0.05,
    flip: bool = True,
    crop: int | None = None,
    balance: bool = True,
    seed: int = 0,
    device=None,
    progress: bool = True,
    callback: Callable[[int, object], None] | None = None,
) -> list[float]:
    """Train ``model`` for ``steps`` batches of (image, ADE20K-id mask) pairs; returns the loss per step.

    AdamW with a linear warm-up and a cosine decay; optional horizontal flips and class-balanced
    sampling (:func:`scene_weights`). Images go through ``processor`` exactly as at inference.
    ``callback(step, model)`` runs after each step (e.g. to evaluate now and then); the model is left
    in eval mode.
    """
    import torch
    from PIL import ImageOps
    from tqdm.auto import tqdm
    from transformers import get_cosine_schedule_with_warmup

    from geolib.images import as_image

    if len(images) != len(masks) or not len(images):
        raise GeolibError(f"need as many masks as images, and some: got {len(images)} and {len(masks)}")
    if steps < 1 or batch_size < 1:
        raise GeolibError(f"steps and batch_size must be positive, got {steps} and {batch_size}")
    device = profiles.device(device)
    model.to(device).train()
    generator = torch.Generator().manual_seed(seed)
    weights = torch.as_tensor(scene_weights(masks) if balance else np.ones(len(masks)), dtype=torch.float64)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    schedule = get_cosine_schedule_with_warmup(optimizer, warmup_steps, steps)
    losses: list[float] = []
    with tqdm(total=steps, desc="training segmenter", unit="step", disable=not progress) as bar:
        for step in range(steps):
            picked = torch.multinomial(weights, min(batch_size, len(masks)), generator=generator).tolist()
            mirror = torch.rand(len(picked), generator=generator) < (0.5 if flip else 0.0)
            batch_images = [as_image(images[i]) for i in picked]
            batch_masks = [np.asarray(masks[i]) for i in picked]
            for k in np.flatnonzero(mirror.numpy()):
                batch_images[k] = ImageOps.mirror(batch_images[k])
                batch_masks[k] = np.ascontiguousarray(batch_masks[k][:, ::-1])
            options = {}
            if crop:
                corners = torch.rand(len(picked), 2, generator=generator).numpy()
                for k, (image, mask) in enumerate(zip(batch_images, batch_masks, strict=True)):
                    top = int(corners[k, 0] * (mask.shape[0] - crop + 1))
                    left = int(corners[k, 1] * (mask.shape[1] - crop + 1))
                    batch_images[k] = image.crop((left, top, left + crop, top + crop))
                    batch_masks[k] = np.ascontiguousarray(mask[top : top + crop, left : left + crop])
                options["do_resize"] = False  # the crop keeps the scale the model sees at inference
            inputs = processor(
                images=batch_images, segmentation_maps=batch_masks, return_tensors="pt", **options
            )
            outputs = model(
                pixel_values=inputs["pixel_values"].to(device),
                pixel_mask=inputs["pixel_mask"].to(device),
                mask_labels=[labels.to(device) for labels in inputs["mask_labels"]],
                class_labels=[labels.to(device) for labels in inputs["class_labels"]],
            )
            optimizer.zero_grad(set_to_none=True)
            outputs.loss.backward()
            optimizer.step()
            schedule.step()
            losses.append(outputs.loss.detach().item())
            bar.set_postfix(loss=f"{losses[-1]:.2f}", refresh=False)
            bar.update()
            if callback is not None:
                callback(step + 1, model)
                model.train()
    model.eval()
    return losses


def evaluate_segmenter(
    segmenter, images: Sequence, masks: Sequence[np.ndarray], *, batch_size: int = 16
) -> dict:
    """Held-out scores of a segmenter: mIoU over the classes present, per-class IoU, confusion matrix."""
    predicted = segmenter.segment(images, batch_size=batch_size, progress=False).masks
    cm = confusion_matrix(list(masks), predicted)
    iou = per_class_iou(cm)
    names = class_names()
    present = [int(i) for i in np.flatnonzero(~np.isnan(iou))]
    shown = sorted(set(present) | {int(i) for i in np.flatnonzero(cm.sum(axis=0))})  # present or predicted
    return {
        "mean_iou": mean_iou(cm),
        "classes_present": present,
        "per_class_iou": {names[i]: round(float(iou[i]), 4) for i in present},
        "pixel_accuracy": float(np.trace(cm) / cm.sum()),
        "confusion_matrix": {
            "class_ids": shown,
            "class_names": [names[i] for i in shown],
            "rows_true_columns_predicted": cm[np.ix_(shown, shown)].tolist(),
        },
    }


def build_tiny_segmenter(out_dir: Path, seed: int, *, progress: bool = True) -> dict:
    """The registry's builder for ``segmenter`` in the tiny profile (see :data:`TINY`); returns the metrics.

    It trains on one CPU thread: the tiny model's operations are too small to gain from a second one,
    and two threads slow down by a factor of several when anything else shares the cores.
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _build_tiny_segmenter(Path(out_dir), seed, progress=progress)
    finally:
        torch.set_num_threads(threads)


def _build_tiny_segmenter(out_dir: Path, seed: int, *, progress: bool) -> dict:
    import torch
    from transformers import Mask2FormerForUniversalSegmentation

    from geolib.segmentation.segmenter import Segmenter

    started = time.perf_counter()
    size = TINY["image_size"]
    train_images, train_masks = clueworld_views(TINY["train_scenes"], seed, size=size, progress=progress)
    torch.manual_seed(seed)
    model = Mask2FormerForUniversalSegmentation(tiny_mask2former_config(size, **TINY["model"]))
    processor = ade_image_processor(size)
    losses = train_segmenter(
        model,
        processor,
        train_images,
        train_masks,
        steps=TINY["steps"],
        batch_size=TINY["batch_size"],
        lr=TINY["lr"],
        warmup_steps=TINY["warmup_steps"],
        weight_decay=TINY["weight_decay"],
        seed=seed,
        progress=progress,
    )
    train_seconds = time.perf_counter() - started
    out_dir = Path(out_dir)
    model.save_pretrained(out_dir, safe_serialization=True)
    processor.save_pretrained(out_dir)

    start = TINY["held_out_start"]
    held_images, held_masks = clueworld_views(
        TINY["held_out_scenes"], seed, start=start, size=size, progress=False
    )
    metrics = evaluate_segmenter(Segmenter(model, processor, name="tiny segmenter"), held_images, held_masks)
    metrics = {
        "mean_iou": metrics.pop("mean_iou"),
        "held_out": {
            "world_seed": seed,
            "first_index": start,
            "scenes": TINY["held_out_scenes"],
            "size": size,
        },
        **metrics,
        "training": {
            **{key: value for key, value in TINY.items() if key not in ("held_out_scenes", "held_out_start")},
            "parameters": sum(p.numel() for p in model.parameters()),
            "seconds": round(train_seconds, 1),
            # every 10th loss: enough for a training curve in a notebook
            "loss_every_10_steps": [round(loss, 3) for loss in losses[::10]],
        },
    }
    write_json(out_dir / "metrics.json", metrics)
    return metrics


def read_metrics(model_dir: str | Path) -> dict:
    """The ``metrics.json`` a tiny build wrote (held-out mIoU, per-class IoU, confusion matrix)."""
    from geolib.formats.validate import read_json_file

    return read_json_file(Path(model_dir) / "metrics.json")
