"""Locatability weights derived from clue text, the way GeoReasoner derives them.

The paper weights each ADE20K class by how much people *talk* about it when they explain where a
street view is: Sentence-BERT embeds clue sentences and class names, and the sentence-class cosine
similarities are reduced to one number per class. This module repeats that with

* a clue corpus written for this course (``resources/clue_sentences.csv``: several hundred GeoGuessr-style
  sentences over 14 topics, each with the kind of public knowledge its idea came from: road-marking
  regulations, plate standards, botany atlases, community guides...), or, in the full profile, the
  reasoning texts of GeoReasoner_SFT (:func:`clue_sentences`);
* one prompt per synonym of an ADE20K name ("a photo of a road", "a photo of a route"); a class's
  similarity to a sentence is its best synonym's (max, not mean: a sentence about "signs" should not be
  diluted by the class's other synonyms, and odd ones such as "can" or "pot" only add noise to a mean);
* a reduction of the (sentences x 150) similarity matrix to 150 numbers (:data:`REDUCTIONS`).

Which reduction: three were compared against the published weights on the course corpus
(all-MiniLM-L6-v2, Spearman over the 150 classes; "half vs half" = two random halves of the corpus
against each other, mean of 5 splits)::

    topk     mean of the class's top 5 % similarities      0.73   half vs half 0.91
    softmax  softmax(similarity / 0.1) votes per sentence   0.66   half vs half 0.96
    vote     share of sentences whose best class it is      0.48   half vs half 0.65

``topk`` is the default: it agrees best with the published weights, it is stable when half of the
corpus is swapped out, and every class gets a graded value. ``vote`` leaves 79 of 150 classes at
exactly 0 (ties that carry no information) and depends on a handful of sentences. ``softmax`` is the
most stable, but each sentence shares its vote out relative to the other classes, which lifts classes
with odd synonyms (ottoman, toilet) and flattens the contrast between street and indoor classes.
Top-k asks "is some part of the clue talk clearly about this class?", which is what a weight for
"this class helps to locate an image" should mean. It reacts to whole topics, though: the corpus's
sun-and-sky sentences make ``sky`` the second highest derived class (0.95, published 0.17; 0.32 without
that topic, whose removal also lowers Spearman to 0.70), and "licence plate" sentences lift ADE20K's
``plate`` (a dinner plate) to 0.94; the published weights give it 0.20 (rank 21 of 150), probably for
the same reason.

Scale: the published weights span exactly [0, 1] (road 1.0, armchair 0.0), so every reduction is
min-max scaled onto [0, 1]; Spearman does not change under that scaling.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from geolib.ade20k import NUM_CLASSES, class_names, short_name
from geolib.errors import DataError, GeolibError
from geolib.formats.validate import check_text, read_csv_file, require_columns
from geolib.locatability.formula import published_weights, weights_array
from geolib.profiles import RESOURCES_DIR

CORPUS_FILE = RESOURCES_DIR / "clue_sentences.csv"
CORPUS_COLUMNS = ("sentence", "topic", "source")
SOURCES = ("course", "georeasoner_sft")
REDUCTIONS = ("topk", "softmax", "vote")
PROMPT = "a photo of a {}"
TOP_FRACTION = 0.05  # topk: the share of the corpus that counts as "clearly about this class"
TEMPERATURE = 0.1  # softmax: cosine similarities span about 0.0-0.6, so 0.1 gives soft but decisive votes
MIN_WORDS = 3  # shorter pieces of a reasoning text ("Thus.", "1)") are not clues


# ----------------------------------------------------------------------------- clue sentences


def read_clue_corpus(path: str | Path | None = None):
    """The course's clue corpus (or another CSV with the same columns) as a DataFrame with the columns
    ``sentence, topic, source``; a missing column, a blank field or a repeated sentence is a
    :class:`DataError` naming the row."""
    import pandas as pd

    path = Path(path) if path is not None else CORPUS_FILE
    source = path.name
    header, rows = read_csv_file(path, source)
    require_columns(header, CORPUS_COLUMNS, source)
    records, first_row = [], {}
    for number, row in rows:
        record = f"row {number}"
        values = [check_text(row[column], source, record, column).strip() for column in CORPUS_COLUMNS]
        key = " ".join(values[0].lower().split())  # the same sentence with other spacing or case
        if key in first_row:
            raise DataError(
                f"repeats the sentence of row {first_row[key]}",
                source=source,
                record=record,
                field="sentence",
            )
        first_row[key] = number
        records.append(values)
    return pd.DataFrame(records, columns=list(CORPUS_COLUMNS))


def split_sentences(text: str) -> list[str]:
    """Sentences of a reasoning text: split after . ! ? and at semicolons and line breaks; pieces of
    fewer than three words are dropped."""
    pieces = re.split(r"(?<=[.!?])\s+|;\s*|\n+", text)
    return [piece.strip() for piece in pieces if len(piece.split()) >= MIN_WORDS]


def clue_sentences(source: str = "course", path: str | Path | None = None) -> list[str]:
    """Clue sentences to derive weights from.

    ``course``: the course corpus (or the CSV at ``path``). ``georeasoner_sft``: the reasoning texts
    (``answer['reasons']``) of a GeoReasoner_SFT stage-1 file at ``path``, split into sentences;
    repeated sentences are kept once, so that boilerplate does not outweigh the clues.
    """
    if source == "course":
        return read_clue_corpus(path)["sentence"].tolist()
    if source != "georeasoner_sft":
        raise GeolibError(f"clue source {source!r} is not one of {', '.join(SOURCES)}")
    if path is None:
        raise GeolibError(
            "clue_sentences(source='georeasoner_sft') needs path=<a GeoReasoner_SFT stage-1 JSON file>"
        )
    from geolib.formats.sft import read_sft_json

    sentences = []
    for example in read_sft_json(path, 1):
        sentences.extend(split_sentences(example.answer["reasons"]))
    sentences = list(dict.fromkeys(sentences))  # first occurrence wins: the order stays deterministic
    if not sentences:
        raise DataError(f"no reasoning sentence of {MIN_WORDS} or more words", source=Path(path).name)
    return sentences


# ----------------------------------------------------------------------------- similarities


def load_encoder(device=None):
    """The registry's Sentence-BERT (tiny and full: all-MiniLM-L6-v2) on the profile's device."""
    from sentence_transformers import SentenceTransformer

    from geolib import profiles

    return SentenceTransformer(profiles.resolve("sentence-encoder"), device=str(profiles.device(device)))


def class_prompts() -> tuple[list[str], np.ndarray]:
    """One prompt per synonym of each ADE20K name, and the class id of each prompt (ascending)."""
    prompts, ids = [], []
    for class_id, name in enumerate(class_names()):
        for synonym in name.split(","):
            prompts.append(PROMPT.format(synonym.strip()))
            ids.append(class_id)
    return prompts, np.array(ids)


def _embed(encoder, texts: list[str], progress: bool) -> np.ndarray:
    vectors = encoder.encode(
        texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=progress
    )
    return vectors.astype(np.float64)


def similarity_matrix(sentences: list[str], encoder=None, *, progress: bool = True) -> np.ndarray:
    """Cosine similarity (N sentences, 150 classes); a class scores its best-matching synonym."""
    if isinstance(sentences, str) or not sentences:
        raise DataError("expected a non-empty list of clue sentences", source="sentences")
    for number, sentence in enumerate(sentences):
        check_text(sentence, "sentences", number, "sentence")
    encoder = encoder if encoder is not None else load_encoder()
    prompts, ids = class_prompts()
    per_prompt = _embed(encoder, list(sentences), progress) @ _embed(encoder, prompts, False).T
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])  # each class's synonyms are adjacent
    return np.maximum.reduceat(per_prompt, starts, axis=1)


def _scale(scores: np.ndarray) -> np.ndarray:
    """Min-max onto [0, 1], the published weights' range."""
    low, high = scores.min(), scores.max()
    if high == low:
        raise DataError("every class got the same score; the sentences carry no signal", source="sentences")
    return (scores - low) / (high - low)


def reduce_similarities(similarity: np.ndarray, reduction: str = "topk") -> np.ndarray:
    """One weight per class in [0, 1] from a (N, 150) similarity matrix (see the module's docstring)."""
    similarity = np.asarray(similarity, dtype=np.float64)
    if similarity.ndim != 2 or similarity.shape[1] != NUM_CLASSES or not len(similarity):
        raise DataError(
            f"expected a similarity matrix of shape (N, 150), got {similarity.shape}", source="similarity"
        )
    if reduction == "topk":
        k = max(1, round(TOP_FRACTION * len(similarity)))
        scores = np.sort(similarity, axis=0)[-k:].mean(axis=0)
    elif reduction == "softmax":
        logits = (similarity - similarity.max(axis=1, keepdims=True)) / TEMPERATURE
        votes = np.exp(logits)
        scores = (votes / votes.sum(axis=1, keepdims=True)).mean(axis=0)
    elif reduction == "vote":
        scores = np.bincount(similarity.argmax(axis=1), minlength=NUM_CLASSES) / len(similarity)
    else:
        raise GeolibError(f"reduction {reduction!r} is not one of {', '.join(REDUCTIONS)}")
    return _scale(scores)


def derive_weights(
    sentences: list[str] | None = None, *, reduction: str = "topk", encoder=None, progress: bool = True
) -> np.ndarray:
    """150 locatability weights in [0, 1] from clue sentences (default: the course corpus).

    Deterministic: the same sentences, encoder and reduction give the same array.
    """
    if reduction not in REDUCTIONS:  # before minutes of encoding
        raise GeolibError(f"reduction {reduction!r} is not one of {', '.join(REDUCTIONS)}")
    sentences = clue_sentences() if sentences is None else sentences
    return reduce_similarities(similarity_matrix(sentences, encoder, progress=progress), reduction)


def compare_weights(derived, published=None, *, top: int = 15) -> dict:
    """Derived against published weights (default: the paper's).

    Returns ``spearman`` (rank correlation over the 150 classes) and its ``p_value``, ``top_overlap``
    (classes in both top-``top`` lists) and ``top``: a DataFrame of both top lists side by side.
    """
    import pandas as pd
    from scipy.stats import spearmanr

    derived = weights_array(derived, source="derived weights")
    published = (
        published_weights() if published is None else weights_array(published, source="published weights")
    )
    for name, values in (("derived", derived), ("published", published)):
        if values.min() == values.max():
            raise DataError(
                "all 150 weights are equal: a rank correlation is undefined", source=f"{name} weights"
            )
    result = spearmanr(derived, published)
    best_derived, best_published = (
        np.argsort(-derived, kind="stable")[:top],
        np.argsort(-published, kind="stable")[:top],
    )
    table = pd.DataFrame(
        {
            "rank": np.arange(1, len(best_derived) + 1),
            "derived class": [short_name(c) for c in best_derived],
            "derived weight": derived[best_derived],
            "published class": [short_name(c) for c in best_published],
            "published weight": published[best_published],
        }
    )
    return {
        "spearman": float(result.statistic),
        "p_value": float(result.pvalue),
        "top_overlap": len(set(best_derived) & set(best_published)),
        "top": table,
    }
