"""Locatability: the published formula, the clue corpus, and weights derived from clue text."""

from __future__ import annotations

import numpy as np
import pytest

from geolib import ade20k as A
from geolib.errors import DataError, GeolibError
from geolib.locatability import (
    clue_sentences,
    compare_weights,
    derive_weights,
    locatability_from_fractions,
    published_weights,
    read_clue_corpus,
    worked_example,
)
from geolib.locatability import weights as W

# ----------------------------------------------------------------------------- the formula


def test_worked_example_is_exact():
    fractions, expected = worked_example()
    assert expected == 0.48667102942170887
    assert locatability_from_fractions(fractions) == 0.48667102942170887
    as_json = {str(k): v for k, v in fractions.items()}  # the keys of a JSON file are strings
    assert locatability_from_fractions(as_json) == 0.48667102942170887


def test_batch_equals_scalar():
    rng = np.random.default_rng(7)
    batch = rng.dirichlet(np.full(150, 0.1), size=5)
    batch[2] = 0.0
    batch[2, [1, 6]] = [0.25, 0.75]  # road and building only
    scores = locatability_from_fractions(batch)
    assert scores.shape == (5,)
    for row, score in zip(batch, scores, strict=True):
        mapping = {int(k): float(row[k]) for k in np.flatnonzero(row)}
        assert locatability_from_fractions(row) == pytest.approx(score, abs=1e-15)
        assert locatability_from_fractions(mapping) == pytest.approx(score, abs=1e-15)
    assert scores[2] == pytest.approx(0.25 * published_weights()[1] + 0.75 * 1.0, abs=1e-15)


@pytest.mark.parametrize(
    ("fractions", "message"),
    [
        (np.full(149, 0.01), r"expected shape \(150,\) or \(N, 150\), got \(149,\)"),
        (np.zeros((2, 3, 150)), r"got \(2, 3, 150\)"),
        ([[0.1] * 150, [0.1] * 149], "expected numbers of shape"),
        ("road", "expected numbers of shape .* got str"),
        ({6: -0.1}, "field 'class 6': expected a finite, non-negative fraction, got -0.1"),
        ({6: float("nan")}, "field 'class 6': expected a finite, non-negative fraction, got nan"),
        ({150: 0.5}, "class id 150 is outside 0..149"),
        ({"road": 0.5}, "class id 'road' is not an integer"),
        ({1.5: 0.5}, r"class id 1.5 is not an integer"),  # int(1.5) would silently be 1
        ({True: 0.5}, "class id True is not an integer"),
        ({6: 0.1, "6": 0.2}, "class id 6 is given twice"),
        ({6: "0.5"}, "field 'class 6': expected a number, got '0.5'"),
    ],
)
def test_bad_fractions_are_data_errors(fractions, message):
    with pytest.raises(DataError, match=message):
        locatability_from_fractions(fractions)


def test_bad_row_of_a_batch_is_named():
    batch = np.full((4, 150), 1 / 150)
    batch[3, 43] = np.inf
    with pytest.raises(DataError, match="record row 3, field 'class 43'"):
        locatability_from_fractions(batch)


def test_weights_must_be_150_finite_numbers():
    fractions, _ = worked_example()
    with pytest.raises(DataError, match="expected 150 weights, got shape"):
        locatability_from_fractions(fractions, weights=np.ones(149))
    weights = np.ones(150)
    weights[6] = np.nan
    with pytest.raises(DataError, match="weights, field 'class 6': expected a finite weight, got nan"):
        locatability_from_fractions(fractions, weights=weights)


# ----------------------------------------------------------------------------- the clue corpus


def test_course_corpus_loads():
    corpus = read_clue_corpus()
    assert len(corpus) >= 300
    assert list(corpus.columns) == ["sentence", "topic", "source"]
    assert corpus["sentence"].str.lower().is_unique
    assert (corpus["topic"].str.len() > 0).all() and (corpus["source"].str.len() > 0).all()
    assert {
        "road lines",
        "bollards",
        "poles",
        "signs and script",
        "plates",
        "cars",
        "vegetation",
        "terrain",
        "architecture",
        "sky and sun",
        "landmarks",
        "shops",
        "people and clothing",
        "infrastructure",
    } == set(corpus["topic"])
    assert corpus["topic"].value_counts().min() >= 15  # every topic is more than a token
    assert clue_sentences() == corpus["sentence"].tolist()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sentence,topic\nA yellow centre line.,road lines\n", r"clues.csv: missing column\(s\) source"),
        (
            "sentence,topic,source\nA yellow centre line.,road lines,guides\nSome sign.,,guides\n",
            "clues.csv, record row 3, field 'topic': is empty",
        ),
        (
            "sentence,topic,source\nA yellow centre line.,road lines,guides\n"
            "Red post boxes.,infrastructure,post\n a  YELLOW centre line. ,road lines,guides\n",
            "clues.csv, record row 4, field 'sentence': repeats the sentence of row 2",
        ),
    ],
)
def test_bad_corpus_rows_are_named(tmp_path, text, message):
    path = tmp_path / "clues.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DataError, match=message):
        read_clue_corpus(path)


def test_split_sentences():
    text = "The road has a yellow centre line. Signs are in Spanish; palms line the street!\nSo: Mexico."
    assert W.split_sentences(text) == [
        "The road has a yellow centre line.",
        "Signs are in Spanish",
        "palms line the street!",
    ]  # "So: Mexico." has two words: not a clue


def test_clue_sentences_from_georeasoner_sft(tmp_path):
    from geolib.formats.sft import stage1_example, write_sft_json

    path = tmp_path / "stage1.json"
    write_sft_json(
        [
            stage1_example(
                "1", "a.jpg", "Mexico", "A yellow centre line runs along the road. An OXXO store."
            ),
            stage1_example(
                "2", "b.jpg", "Norway", "A yellow centre line runs along the road. Black bollards."
            ),
        ],
        path,
    )
    assert clue_sentences("georeasoner_sft", path) == [
        "A yellow centre line runs along the road.",  # once: repeated sentences are kept once
        "An OXXO store.",
    ]
    with pytest.raises(GeolibError, match="needs path="):
        clue_sentences("georeasoner_sft")
    with pytest.raises(GeolibError, match="clue source 'wiki' is not one of course, georeasoner_sft"):
        clue_sentences("wiki")


# ----------------------------------------------------------------------------- reductions (no encoder)


def _similarity(rows: dict[int, float], base: float = 0.1) -> np.ndarray:
    sim = np.full(150, base)
    for class_id, value in rows.items():
        sim[class_id] = value
    return sim


def test_reductions_on_a_known_matrix():
    # 20 sentences: 15 best match road (6), 5 best match signboard (43); sky (2) is a strong runner-up
    similarity = np.array(
        [_similarity({6: 0.6, 2: 0.5})] * 15 + [_similarity({43: 0.9, 2: 0.2})] * 5, dtype=np.float64
    )
    vote = W.reduce_similarities(similarity, "vote")
    assert vote[6] == 1.0 and vote[43] == pytest.approx(5 / 15) and vote[2] == 0.0
    topk = W.reduce_similarities(similarity, "topk")  # top 5 % of 20 sentences = the best one
    assert topk[43] == 1.0 and topk[6] == pytest.approx((0.6 - 0.1) / 0.8) and topk[0] == 0.0
    soft = W.reduce_similarities(similarity, "softmax")
    assert soft.argmax() == 6 and 0 < soft[2] < soft[6] and soft.min() == 0.0
    with pytest.raises(GeolibError, match="reduction 'median' is not one of topk, softmax, vote"):
        W.reduce_similarities(similarity, "median")
    with pytest.raises(DataError, match="every class got the same score"):
        W.reduce_similarities(np.full((3, 150), 0.2))
    with pytest.raises(DataError, match=r"shape \(N, 150\), got \(3, 149\)"):
        W.reduce_similarities(np.zeros((3, 149)))


def test_class_prompts_cover_every_synonym():
    prompts, ids = W.class_prompts()
    assert len(prompts) == sum(len(name.split(",")) for name in A.class_names())
    assert prompts[:2] == ["a photo of a wall", "a photo of a building"]
    assert [p for p, c in zip(prompts, ids, strict=True) if c == 6] == [
        "a photo of a road",
        "a photo of a route",
    ]


# ----------------------------------------------------------------------------- derived weights (real encoder)


@pytest.fixture(scope="module")
def encoder():
    return W.load_encoder("cpu")


@pytest.fixture(scope="module")
def derived(encoder):
    return derive_weights(encoder=encoder, progress=False)


def test_derived_weights_shape_and_range(derived):
    assert derived.shape == (150,) and derived.dtype == np.float64
    assert derived.min() == 0.0 and derived.max() == 1.0  # the published weights' range
    assert np.isfinite(derived).all()


def test_derivation_is_deterministic(derived, encoder):
    again = derive_weights(encoder=encoder, progress=False)
    assert np.array_equal(derived, again)


def test_clue_classes_outweigh_the_rest(derived):
    clue_classes = [
        A.class_id(name) for name in ("road", "signboard", "pole", "street lamp", "traffic light")
    ]
    clue_classes += [A.class_id(name) for name in ("building", "flag", "sidewalk", "car", "fence")]
    rest = np.setdiff1d(np.arange(150), clue_classes)
    assert derived[clue_classes].mean() > 2 * derived[rest].mean()
    indoor = [A.class_id(name) for name in ("floor", "ceiling", "bed", "cabinet", "sofa", "wardrobe")]
    assert derived[clue_classes].min() > derived[indoor].max()  # every clue class beats every indoor one
    assert derived.argmax() == A.ROAD  # as in the published weights


def test_derived_weights_agree_with_the_published_ones(derived):
    comparison = compare_weights(derived)
    assert -1.0 <= comparison["spearman"] <= 1.0
    assert comparison["spearman"] > 0.5 and comparison["p_value"] < 1e-6
    top = comparison["top"]
    assert list(top.columns) == [
        "rank",
        "derived class",
        "derived weight",
        "published class",
        "published weight",
    ]
    assert (
        len(top) == 15 and top["derived class"].iloc[0] == "road" and top["published class"].iloc[0] == "road"
    )
    assert 0 < comparison["top_overlap"] <= 15


def test_compare_weights_extremes_and_errors():
    published = published_weights()
    assert compare_weights(published, published)["spearman"] == pytest.approx(1.0)
    assert compare_weights(-published, published)["spearman"] == pytest.approx(-1.0)
    assert compare_weights(published, published, top=3)["top"]["published class"].tolist() == [
        "road",
        "column",
        "path",
    ]
    with pytest.raises(DataError, match="derived weights: expected 150 weights"):
        compare_weights(np.ones(10))
    with pytest.raises(DataError, match="derived weights: all 150 weights are equal"):
        compare_weights(np.ones(150))


def test_derive_rejects_bad_input(encoder):
    with pytest.raises(GeolibError, match="reduction 'best' is not one of"):
        derive_weights(["A yellow centre line."], reduction="best", encoder=encoder)
    with pytest.raises(DataError, match="expected a non-empty list of clue sentences"):
        derive_weights([], encoder=encoder)
    with pytest.raises(DataError, match="sentences, record 1, field 'sentence': is empty"):
        derive_weights(["A yellow centre line.", "  "], encoder=encoder)


# ----------------------------------------------------------------------------- figures


def test_weight_figures(derived):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from geolib.viz import plot_top_weights, plot_weights_comparison

    rho = compare_weights(derived)["spearman"]
    ax = plot_weights_comparison(derived, published_weights())
    assert f"Spearman rho = {rho:.2f}" in ax.get_title()
    labels = {text.get_text() for text in ax.texts}
    assert {"road", "signboard", "column"} <= labels
    ax = plot_top_weights(published_weights(), top=5)
    assert [t.get_text() for t in ax.get_yticklabels()] == [
        "road",
        "column",
        "path",
        "signboard",
        "traffic light",
    ]
    assert [round(p.get_width(), 4) for p in ax.patches] == [1.0, 0.5667, 0.5432, 0.4913, 0.4859]
    plt.close("all")
