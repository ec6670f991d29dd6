"""How much GPU memory a LoRA run needs, before renting the GPU: weights, adapter, optimizer, activations.

An estimate, not a measurement (``geolib train --dry-run`` measures one real step on the current device).
For one micro-batch of ``b`` conversations of ``s`` tokens on a model with ``L`` layers of width ``h``,
MLP width ``i``, vocabulary ``V``:

* base weights: 2 bytes per parameter in bfloat16/float16, about 0.55 in 4-bit NF4 (QLoRA) for the
  language model's linear layers;
* LoRA adapter: 16 bytes per trainable parameter (float32 weight, gradient and AdamW's two moments);
* activations kept for the backward pass: about ``s b (16 h + 10 i)`` bytes per layer in 16-bit, or only the
  layers' inputs (``2 s b h`` each) plus one layer's worth with gradient checkpointing;
* logits: ``b s V`` float32 values, twice (the logits and their gradient): with Qwen2's 151,936-token
  vocabulary this is often the largest single item;
* the CUDA context and allocator slack: 0.8 GiB plus 10 %.
"""

from __future__ import annotations

import math
import re

GIB = 2**30
# Usable memory as torch reports it (a "16 GB" T4 shows 14.7 GiB); bfloat16 needs Ampere or newer.
GPUS = {
    "T4 (Colab free)": {"memory_gib": 14.7, "bf16": False},
    "L4": {"memory_gib": 22.0, "bf16": True},
    "A100 40GB": {"memory_gib": 39.4, "bf16": True},
    "A100 80GB": {"memory_gib": 79.1, "bf16": True},
}
CONTEXT_GIB = 0.8
SLACK = 1.10

# Qwen2-VL-2B-Instruct's architecture (its config.json on the hub), so the plan works offline.
QWEN2_VL_2B = {
    "text_config": {
        "vocab_size": 151936,
        "hidden_size": 1536,
        "intermediate_size": 8960,
        "num_hidden_layers": 28,
        "num_attention_heads": 12,
        "num_key_value_heads": 2,
        "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [16, 24, 24]},
    },
    "vision_config": {
        "depth": 32,
        "embed_dim": 1280,
        "hidden_size": 1536,
        "mlp_ratio": 4,
        "num_heads": 16,
        "patch_size": 14,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
    },
    "tie_word_embeddings": True,
}


def qwen2_vl_2b_config():
    from transformers import Qwen2VLConfig

    return Qwen2VLConfig(**QWEN2_VL_2B)


def _text_config(config):
    return getattr(config, "text_config", None) or config


def count_parameters(config, target_modules: str, rank: int) -> dict:
    """Total, language-model-linear and LoRA parameters of the model ``config`` describes, built on the
    meta device (no memory, no download)."""
    import torch
    from transformers import AutoModelForImageTextToText

    with torch.device("meta"):
        model = AutoModelForImageTextToText.from_config(config)
    pattern = re.compile(target_modules)
    total = sum(p.numel() for p in model.parameters())
    linear = lora = 0
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear) and pattern.fullmatch(name):
            linear += module.weight.numel()
            lora += rank * (module.in_features + module.out_features)
    return {"total": total, "targeted_linear": linear, "lora": lora}


def estimate(
    config,
    recipe,
    *,
    image_tokens: int,
    text_tokens: int,
    batch: int,
    four_bit: bool = False,
    gradient_checkpointing: bool = True,
    counts: dict | None = None,
) -> dict:
    """The parts of the peak memory, in GiB, for micro-batches of ``batch`` conversations."""
    text = _text_config(config)
    counts = counts or count_parameters(config, recipe.target_modules, recipe.rank)
    s, b = image_tokens + text_tokens, batch
    h, i, layers, vocab = text.hidden_size, text.intermediate_size, text.num_hidden_layers, text.vocab_size
    if four_bit:
        weights = counts["targeted_linear"] * 0.55 + (counts["total"] - counts["targeted_linear"]) * 2
    else:
        weights = counts["total"] * 2
    per_layer = s * b * (16 * h + 10 * i)
    activations = layers * 2 * s * b * h + per_layer if gradient_checkpointing else layers * per_layer
    parts = {
        "weights": weights / GIB,
        "adapter + optimizer": counts["lora"] * 16 / GIB,
        "activations": activations / GIB,
        "logits": 2 * b * s * vocab * 4 / GIB,
    }
    parts["total"] = (sum(parts.values()) + CONTEXT_GIB) * SLACK
    return parts


def plan(
    config,
    recipe,
    *,
    image_tokens: int,
    text_tokens: int,
    four_bit: bool = False,
    gradient_checkpointing: bool = True,
):
    """A table with one row per GPU: the recipe's micro-batch, whether it fits, and the largest micro-batch
    that does with the accumulation steps that keep the recipe's effective batch."""
    import pandas as pd

    counts = count_parameters(config, recipe.target_modules, recipe.rank)

    def need(batch: int) -> dict:
        return estimate(
            config,
            recipe,
            image_tokens=image_tokens,
            text_tokens=text_tokens,
            batch=batch,
            four_bit=four_bit,
            gradient_checkpointing=gradient_checkpointing,
            counts=counts,
        )

    rows = []
    for gpu, facts in GPUS.items():
        at_recipe = need(recipe.batch_per_device)
        best = 0
        for batch in range(1, recipe.effective_batch + 1):
            if need(batch)["total"] > facts["memory_gib"]:
                break
            best = batch
        rows.append(
            {
                "gpu": gpu,
                "memory GiB": facts["memory_gib"],
                "precision": "bf16" if facts["bf16"] else "fp16",
                **{f"{k} GiB": round(v, 2) for k, v in at_recipe.items()},
                f"fits batch {recipe.batch_per_device}": at_recipe["total"] <= facts["memory_gib"],
                "largest micro-batch": best,
                "accumulation steps": math.ceil(recipe.effective_batch / best) if best else None,
            }
        )
    return pd.DataFrame(rows)
