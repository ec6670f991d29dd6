"""Descriptions longer than CLIP's 77 text positions.

CLIP learned one position embedding per token slot, 77 of them, so a longer description is cut at 77 tokens.
A street description in CVG-Text runs to 100-200 tokens. Two ways to give a *trained* model more positions:

* ``interpolate`` (CVG-Text / CrossText2Loc): resample the 77 embeddings linearly onto 300 slots, so each new
  slot lies between two learned ones;
* ``longclip`` (Long-CLIP, Zhang et al. 2024): keep the first 20 embeddings exactly (short captions, which
  CLIP saw most, keep their positions) and stretch the remaining 57 four times, to 20 + 4 x 57 = 248 slots.

``truncate`` keeps 77, the baseline. Either stretch also rebuilds the causal attention mask at the new length,
and the tokenizer must pad and cut at the new length (:func:`tokenizer_for`). A stretched model is then
fine-tuned; before that, its answers on short texts hardly change (tested).
"""

from __future__ import annotations

import torch

from geolib.errors import GeolibError

METHODS = {"truncate": 77, "interpolate": 300, "longclip": 248}
LONGCLIP_KEEP = 20
LONGCLIP_FACTOR = 4


def interpolated_positions(table: torch.Tensor, length: int) -> torch.Tensor:
    """``table`` (positions x width) resampled linearly onto ``length`` positions, ends kept."""
    if length < 2:
        raise GeolibError(f"a text needs at least 2 positions, not {length}")
    source = torch.linspace(0, table.shape[0] - 1, length, dtype=torch.float64)
    return _sample(table, source)


def longclip_positions(table: torch.Tensor, keep: int = LONGCLIP_KEEP, factor: int = LONGCLIP_FACTOR):
    """The first ``keep`` positions as they are, the rest sampled ``factor`` times more densely (the last
    slots continue the slope of the last two learned positions)."""
    if not 0 < keep < table.shape[0] or factor < 1:
        raise GeolibError(f"keep must be in 1..{table.shape[0] - 1} and factor >= 1, got {keep} and {factor}")
    rest = table.shape[0] - keep
    source = keep + torch.arange(rest * factor, dtype=torch.float64) / factor
    return torch.cat([table[:keep], _sample(table, source)])


def _sample(table: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
    """Linear interpolation of the rows of ``table`` at fractional row indices ``source`` (beyond the last
    row, along the slope of the last two)."""
    below = source.floor().long().clamp(max=table.shape[0] - 2)
    weight = (source - below).unsqueeze(1).to(table.dtype)
    return table[below] * (1 - weight) + table[below + 1] * weight


def causal_mask(length: int) -> torch.Tensor:
    """The additive mask of CLIP's text transformer: -inf above the diagonal."""
    return torch.full((length, length), float("-inf")).triu_(1)


def stretch_text_positions(model, method: str) -> int:
    """Give ``model`` (an open_clip ``CLIP``) the text positions of ``method`` in place; returns the new
    context length. Only a model with 77 positions is stretched (a stretched one is refused)."""
    if method not in METHODS:
        raise GeolibError(f"long-text method {method!r} is not one of {', '.join(METHODS)}")
    table = getattr(model, "positional_embedding", None)
    if table is None:
        raise GeolibError(
            f"{type(model).__name__} has no text position table to stretch (not an open_clip CLIP)"
        )
    if method == "truncate":
        return table.shape[0]
    if table.shape[0] != METHODS["truncate"]:
        raise GeolibError(
            f"the model already has {table.shape[0]} text positions; stretch a 77-position model"
        )
    with torch.no_grad():
        grown = (
            interpolated_positions(table, METHODS[method])
            if method == "interpolate"
            else longclip_positions(table)
        )
    model.positional_embedding = torch.nn.Parameter(grown.contiguous(), requires_grad=table.requires_grad)
    length = grown.shape[0]
    model.attn_mask = causal_mask(length).to(table.device)
    model.context_length = length
    return length


def tokenizer_for(context_length: int):
    """open_clip's CLIP tokenizer (the real byte-pair vocabulary it ships) padding and cutting at
    ``context_length`` tokens."""
    from open_clip.tokenizer import SimpleTokenizer

    return SimpleTokenizer(context_length=context_length)
