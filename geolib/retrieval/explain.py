"""Why does a description match a tile? Relevance maps over the tile's patches and the text's tokens, and a
rationale in plain words (CVG-Text claims interpretability; its public code has none).

* Relevance (gradient x activation, as Grad-CAM on transformer tokens): the match score (the cosine of the two
  embeddings) is differentiated with respect to the tokens entering the last block of each tower (after it,
  only the pooled token, the class token or the end of the text, reaches the embedding, so the gradient there
  says nothing about the others); a token's relevance is the positive part of the sum over channels of
  gradient times activation. For the tile it is
  an 8 x 8 (tiny) or 24 x 24 (ViT-L/14@336) grid over the patches; for the text, one value per word piece.
* Rationale: the description is cut into phrases; a phrase *supports* the match when the tile scores higher
  with it than the other candidate tiles do (a z-score over the candidates), so "there is a park" counts only
  where this tile shows more park than its neighbours.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from geolib.errors import GeolibError


@dataclass
class Relevance:
    score: float  # cosine of the description and the tile
    patches: np.ndarray  # (rows, cols), non-negative, max 1 (unless all zero)
    tokens: list[str]  # the description's word pieces
    token_relevance: np.ndarray  # (len(tokens),), non-negative, max 1


def _last_block_tokens(tower_blocks, run):
    """Run ``run()`` with a hook keeping the tokens that enter the last block (with their gradient)."""
    kept = {}

    def hook(_module, _inputs, output):
        output = output[0] if isinstance(output, tuple) else output
        output.retain_grad()
        kept["tokens"] = output

    if len(tower_blocks) < 2:
        raise GeolibError("relevance needs towers of at least two blocks")
    handle = tower_blocks[-2].register_forward_hook(hook)
    try:
        result = run()
    finally:
        handle.remove()
    return result, kept["tokens"]


def _token_relevance(tokens, batch_first_size: int) -> np.ndarray:
    tokens = tokens if tokens.shape[0] == batch_first_size else tokens.transpose(0, 1)  # (B, L, D)
    values = (tokens.grad * tokens).sum(-1)[0].clamp(min=0).detach().float().cpu().numpy()
    top = values.max()
    return values / top if top > 0 else values


def relevance(encoder, description: str, tile) -> Relevance:
    """Relevance of the tile's patches and the description's tokens to their match (``tile``: a PIL image
    or a path)."""
    import torch

    from geolib.images import as_image

    model = encoder.model
    device = next(model.parameters()).device
    pixels = encoder.preprocess(as_image(tile)).unsqueeze(0).to(device)
    text = encoder.tokenizer()([description]).to(device)
    with torch.enable_grad():
        image_features, image_tokens = _last_block_tokens(
            model.visual.transformer.resblocks, lambda: model.encode_image(pixels, normalize=True)
        )
        text_features, text_tokens = _last_block_tokens(
            model.transformer.resblocks, lambda: model.encode_text(text, normalize=True)
        )
        score = (image_features * text_features).sum()
        score.backward()
    patch_values = _token_relevance(image_tokens, 1)
    grid = int(round((len(patch_values) - 1) ** 0.5))
    if grid * grid != len(patch_values) - 1:
        raise GeolibError(f"cannot lay {len(patch_values) - 1} patch tokens out as a square grid")
    patches = patch_values[1:].reshape(grid, grid)  # the first token is the class token
    top = patches.max()
    ids = text[0].tolist()
    end = ids.index(max(ids)) + 1 if max(ids) else len(ids)  # the end-of-text token has the largest id
    pieces = _word_pieces(ids[1 : end - 1])
    token_values = _token_relevance(text_tokens, 1)[1 : end - 1]  # the words, without start and end of text
    peak = token_values.max() if len(token_values) else 0.0
    token_values = token_values / peak if peak > 0 else token_values
    return Relevance(float(score.detach()), patches / top if top > 0 else patches, pieces, token_values)


def _word_pieces(ids: list[int]) -> list[str]:
    from open_clip.tokenizer import SimpleTokenizer

    decoder = SimpleTokenizer().decoder
    return [decoder[i].replace("</w>", "") for i in ids]


_PHRASE_SPLIT = re.compile(r"(?<=[.;])\s+|,\s+(?:and\s+)?|\s+and\s+")


def phrases(description: str) -> list[str]:
    """The description cut into short phrases (sentences, then comma and "and" clauses)."""
    parts = [p.strip(" .;") for p in _PHRASE_SPLIT.split(description or "")]
    return [p for p in parts if p]


def rationale(
    encoder, description: str, tile_index: int, tile_embeddings: np.ndarray, *, top: int = 3
) -> dict:
    """Which phrases of ``description`` the tile ``tile_index`` of ``tile_embeddings`` (unit rows: the tile
    and the other candidates) supports, as a z-score of the tile's similarity against the candidates', and a
    sentence that says so."""
    from geolib.retrieval.train import embed_texts

    parts = phrases(description)
    if not parts:
        return {"phrases": [], "text": "The description has no phrase to check."}
    similarity = embed_texts(encoder, parts) @ tile_embeddings.T  # (phrases, candidates)
    mean, spread = similarity.mean(axis=1), similarity.std(axis=1) + 1e-6
    z = (similarity[:, tile_index] - mean) / spread
    ranked = sorted(zip(parts, z.tolist(), strict=True), key=lambda item: -item[1])
    supported = [p for p, score in ranked if score > 0.5][:top]
    against = [p for p, score in ranked[::-1] if score < -0.5][:1]
    if supported:
        text = (
            "This tile fits the description most where it says: "
            + "; ".join(f"“{p}”" for p in supported)
            + "."
        )
    else:
        text = "No phrase of the description singles this tile out among its neighbours."
    if against:
        text += f" It fits least: “{against[0]}”."
    return {"phrases": [{"phrase": p, "z": round(s, 2)} for p, s in ranked], "text": text}
