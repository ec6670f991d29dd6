"""Pieces every training loop of the course shares (LoRA stages, the tiny base models, retrieval)."""

from __future__ import annotations

import math


def make_optimizer(parameters, recipe, total_steps: int):
    """AdamW and a cosine schedule with linear warm-up; ``recipe`` has ``learning_rate``, ``adam_beta2``,
    ``weight_decay`` and ``warmup_ratio``."""
    import torch
    from transformers import get_cosine_schedule_with_warmup

    optimizer = torch.optim.AdamW(
        parameters, lr=recipe.learning_rate, betas=(0.9, recipe.adam_beta2), weight_decay=recipe.weight_decay
    )
    warmup = math.ceil(recipe.warmup_ratio * total_steps)
    return optimizer, get_cosine_schedule_with_warmup(optimizer, warmup, total_steps)


def epoch_order(n: int, seed: int, epoch: int) -> list[int]:
    """The order of the examples in ``epoch``: a permutation that depends only on the seed and the epoch."""
    import numpy as np

    return np.random.default_rng([seed, epoch]).permutation(n).tolist()
