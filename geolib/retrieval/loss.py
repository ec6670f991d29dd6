"""The symmetric contrastive loss (InfoNCE) of CLIP, with the negatives of every process.

Each text's positive is its own tile; every other tile in the batch is a negative, and the same from the
tiles' side; the two cross-entropies are averaged. With N processes each holding a batch of B pairs, each
process scores its B texts against all N x B tiles (and its tiles against all texts), as one big batch would.

The embeddings of the other processes must be gathered *with their gradients*: ``torch.distributed.all_gather``
returns tensors detached from the graph, so the loss would not push the other processes' embeddings at all
(the reference CrossText2Loc code gathers this way and so trains on 1/N of the gradient of its negatives).
``torch.distributed.nn.functional.all_gather`` keeps the graph: its backward sends each process the gradient
of its embeddings from every process's loss. The two-process test checks that the loss *and the gradients*
match one process holding the whole batch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def gather_with_grad(features: torch.Tensor) -> tuple[torch.Tensor, int]:
    """All processes' ``features`` concatenated in rank order (differentiable), and this process's offset in
    them; one process: the features themselves and 0."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return features, 0
    from torch.distributed.nn.functional import all_gather

    parts = all_gather(features.contiguous())
    return torch.cat(parts), dist.get_rank() * features.shape[0]


def contrastive_loss(image_features, text_features, scale, *, gather: bool = True) -> torch.Tensor:
    """Symmetric InfoNCE of L2-normalised ``image_features`` and ``text_features`` (B x D each, row i of one
    matching row i of the other) at temperature ``1 / scale`` (``scale`` is CLIP's ``logit_scale.exp()``,
    learned, which open_clip's forward returns).

    Each process returns the loss of its own rows against everybody's; the mean over processes (what
    data-parallel training averages) equals the one-process loss of the whole batch, because the logits of
    a row are the same wherever it is computed."""
    if image_features.shape != text_features.shape:
        raise ValueError(
            f"{tuple(image_features.shape)} image features for {tuple(text_features.shape)} texts"
        )
    all_images, offset = gather_with_grad(image_features) if gather else (image_features, 0)
    all_texts, _ = gather_with_grad(text_features) if gather else (text_features, 0)
    targets = torch.arange(image_features.shape[0], device=image_features.device) + offset
    image_to_text = scale * image_features @ all_texts.T
    text_to_image = scale * text_features @ all_images.T
    return (F.cross_entropy(image_to_text, targets) + F.cross_entropy(text_to_image, targets)) / 2
