"""The transformers backend: MaskFormer / Mask2Former checkpoints on ADE20K-150.

One code path for both profiles: ``from_pretrained`` on a hub id (full) or on the tiny model's local
directory (tiny), the checkpoint's own image processor for resizing and normalising, and the
processor's ``post_process_semantic_segmentation`` to turn mask and class predictions into one class
id per pixel at each input's own size.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from geolib import profiles
from geolib.ade20k import NUM_CLASSES, class_names
from geolib.errors import GeolibError
from geolib.images import as_image
from geolib.locatability.formula import fractions_from_mask

BACKENDS = ("transformers", "detectron2")


@dataclass
class SegmentationBatch:
    """What a segmenter returns for N images.

    ``masks``: one uint8 (H, W) array of ADE20K ids (0..149) per image, at that image's own size;
    ``fractions``: float64 (N, 150), each class's share of the image's pixels (rows sum to 1).
    """

    masks: list[np.ndarray]
    fractions: np.ndarray

    def __len__(self) -> int:
        return len(self.masks)


def _model_classes() -> dict:
    from transformers import Mask2FormerForUniversalSegmentation, MaskFormerForInstanceSegmentation

    # the paper's MaskFormer and its successor; both predict (mask, class) pairs per query
    return {
        "maskformer": MaskFormerForInstanceSegmentation,
        "mask2former": Mask2FormerForUniversalSegmentation,
    }


@lru_cache(maxsize=1)
def _synonym_ids() -> dict[str, int]:
    """Every ADE20K synonym that names exactly one class (``'pavement'`` -> 11), for matching label maps."""
    owners: dict[str, set[int]] = {}
    for class_id, name in enumerate(class_names()):
        for synonym in name.split(","):
            owners.setdefault(synonym.strip().lower(), set()).add(class_id)
    return {word: ids.pop() for word, ids in owners.items() if len(ids) == 1}


def ade_ids_of_labels(id2label: Mapping, source: str = "the model") -> np.ndarray:
    """For each label id of a 150-class model, the :mod:`geolib.ade20k` id of the class it predicts.

    Hub ADE20K checkpoints use the same 0..149 order, with names such as ``'windowpane, window'`` or
    ``'wall'``; a name is matched through its synonyms, so a checkpoint with another class order is
    re-mapped, and generic names (``LABEL_7``) keep their id. Anything that is not the 150 ADE20K
    classes is a :class:`GeolibError`.
    """
    try:
        labels = {int(key): str(value) for key, value in id2label.items()}
    except (TypeError, ValueError):
        raise GeolibError(f"{source}: its id2label has ids that are not integers") from None
    if sorted(labels) != list(range(NUM_CLASSES)):
        raise GeolibError(
            f"{source} predicts {len(labels)} classes; a segmenter must predict the {NUM_CLASSES} "
            f"ADE20K-150 classes (label ids 0..{NUM_CLASSES - 1})"
        )
    names = class_names()
    synonyms = _synonym_ids()
    lookup = np.arange(NUM_CLASSES)
    for label_id, label in labels.items():
        if label in names:
            lookup[label_id] = names.index(label)
            continue
        found = (synonyms.get(word.strip().lower()) for word in label.split(","))
        lookup[label_id] = next((ade for ade in found if ade is not None), label_id)
    if len(set(lookup.tolist())) != NUM_CLASSES:
        doubled = sorted({names[i] for i in lookup.tolist() if (lookup == i).sum() > 1})
        raise GeolibError(f"{source}: its labels name some ADE20K classes twice ({', '.join(doubled[:3])})")
    return lookup


def segment_in_batches(images, segment_batch, *, batch_size: int, progress: bool) -> SegmentationBatch:
    """What every backend's ``segment`` does around its model: one image or many (PIL or paths, each
    opened with a clear error), ``segment_batch(list of RGB images) -> list of uint8 masks`` on batches
    of ``batch_size``, a progress bar, and the class fractions of the masks."""
    from tqdm.auto import tqdm

    items = [images] if isinstance(images, (str, Path)) or hasattr(images, "getpixel") else list(images)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise GeolibError(f"batch_size must be a positive integer, got {batch_size!r}")
    masks: list[np.ndarray] = []
    with tqdm(total=len(items), desc="segmenting", unit="image", disable=not progress) as bar:
        for start in range(0, len(items), batch_size):
            batch = [as_image(item) for item in items[start : start + batch_size]]
            masks.extend(segment_batch(batch))
            bar.update(len(batch))
    fractions = (
        np.stack([fractions_from_mask(mask) for mask in masks]) if masks else np.zeros((0, NUM_CLASSES))
    )
    return SegmentationBatch(masks=masks, fractions=fractions)


class Segmenter:
    """A MaskFormer / Mask2Former checkpoint with its image processor, ready to segment street views."""

    def __init__(self, model, processor, *, device=None, name: str = "segmenter"):
        self.device = profiles.device(device)
        self.model = model.to(self.device).eval()
        self.processor = processor
        self.name = name
        lookup = ade_ids_of_labels(model.config.id2label, source=name)
        # most checkpoints already use geolib's ids: skip the lookup then
        self._to_ade = None if (lookup == np.arange(NUM_CLASSES)).all() else lookup.astype(np.uint8)

    @classmethod
    def from_pretrained(cls, model: str | Path, *, device=None) -> Segmenter:
        """Load a hub id or a local directory (``trust_remote_code`` stays off)."""
        from transformers import AutoConfig, AutoImageProcessor

        try:
            config = AutoConfig.from_pretrained(str(model))
            classes = _model_classes()
            if config.model_type not in classes:
                raise GeolibError(
                    f"segmentation model {str(model)!r} is a {config.model_type!r} model; "
                    f"expected one of {', '.join(classes)}"
                )
            network = classes[config.model_type].from_pretrained(str(model))
            processor = AutoImageProcessor.from_pretrained(str(model))
        except (OSError, ValueError) as err:
            reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise GeolibError(f"cannot load segmentation model {str(model)!r}: {reason}") from None
        return cls(network, processor, device=device, name=str(model))

    def segment(self, images, *, batch_size: int = 8, progress: bool = True) -> SegmentationBatch:
        """Segment PIL images or image paths (one or many) in batches.

        A file that cannot be read is a :class:`~geolib.errors.DataError` naming it.
        """
        import torch

        with torch.inference_mode():
            return segment_in_batches(images, self._segment_batch, batch_size=batch_size, progress=progress)

    def _segment_batch(self, batch) -> list[np.ndarray]:
        inputs = self.processor(images=batch, return_tensors="pt")
        pixel_values = inputs["pixel_values"].to(self.device)
        pixel_mask = inputs.get("pixel_mask")
        outputs = self.model(
            pixel_values=pixel_values, pixel_mask=None if pixel_mask is None else pixel_mask.to(self.device)
        )
        sizes = [(image.height, image.width) for image in batch]  # back to each input's own size
        maps = self.processor.post_process_semantic_segmentation(outputs, target_sizes=sizes)
        masks = [segmentation.to("cpu").numpy().astype(np.uint8) for segmentation in maps]
        return masks if self._to_ade is None else [self._to_ade[mask] for mask in masks]


def load_segmenter(
    model: str | None = None,
    *,
    backend: str = "transformers",
    device=None,
    config_file: str | None = None,
    weights: str | None = None,
):
    """A segmenter with ``.segment(images)``.

    ``backend="transformers"`` (default): ``model`` is a hub id or a local directory of a MaskFormer /
    Mask2Former checkpoint, by default the registry's ``segmenter`` for the active profile (the paper's
    ``facebook/maskformer-swin-small-ade`` in full, a tiny Mask2Former trained on ClueWorld in tiny).
    ``backend="detectron2"``: the authors' route, MaskFormer on detectron2, from ``config_file`` and
    ``weights`` (default: the paper's Swin-S ADE20K model; needs detectron2 and the MaskFormer code).
    """
    chosen = str(backend).strip().lower()
    if chosen == "transformers":
        if config_file is not None or weights is not None:
            raise GeolibError("config_file and weights are for backend='detectron2'; pass model= instead")
        return Segmenter.from_pretrained(
            profiles.resolve("segmenter") if model is None else model, device=device
        )
    if chosen == "detectron2":
        if model is not None:
            raise GeolibError("backend='detectron2' takes config_file= and weights=, not model=")
        from geolib.segmentation.detectron2_backend import (
            MASKFORMER_CONFIG,
            MASKFORMER_WEIGHTS,
            Detectron2Segmenter,
        )

        return Detectron2Segmenter(
            config_file or MASKFORMER_CONFIG, weights or MASKFORMER_WEIGHTS, device=device
        )
    raise GeolibError(f"unknown segmentation backend {backend!r}; choose one of {', '.join(BACKENDS)}")
