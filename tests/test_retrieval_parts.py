"""The parts of text-to-tile retrieval that need no trained model: long-text stretches, the contrastive loss
across processes, the metrics, the index, the explanations' plumbing, splits and the OSM samples."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from geolib.errors import GeolibError
from geolib.retrieval import longtext


@pytest.fixture(scope="module")
def encoder():
    from geolib.retrieval.model import new_model

    encoder = new_model(seed=0)
    encoder.model.eval()
    return encoder


def test_interpolation_keeps_the_ends_and_lies_between_learned_positions():
    table = torch.randn(77, 16)
    grown = longtext.interpolated_positions(table, 300)
    assert grown.shape == (300, 16)
    assert torch.allclose(grown[0], table[0]) and torch.allclose(grown[-1], table[-1])
    # slot k sits at 76k/299 of the old positions: between its two neighbours, linearly
    k = 150
    at = 76 * k / 299
    low = int(at)
    expected = table[low] * (low + 1 - at) + table[low + 1] * (at - low)
    assert torch.allclose(grown[k], expected, atol=1e-6)


def test_longclip_keeps_the_first_20_and_stretches_the_rest_four_times():
    table = torch.randn(77, 8)
    grown = longtext.longclip_positions(table)
    assert grown.shape == (20 + 4 * 57, 8) == (248, 8)
    assert torch.equal(grown[:20], table[:20])
    assert torch.allclose(grown[20 + 4 * 10], table[30])  # every fourth slot is a learned position
    assert torch.allclose(grown[20 + 4 * 10 + 2], (table[30] + table[31]) / 2)
    assert torch.allclose(
        grown[-1], table[76] + 0.75 * (table[76] - table[75]), atol=1e-6
    )  # the slope goes on


def test_a_stretched_model_reads_long_texts_and_keeps_short_ones(encoder):
    from geolib.retrieval.model import new_model

    short = "a residential street with a park"
    long = "a residential street with a cafe on the left and a park on the right, " * 12
    before = encoder.model.encode_text(longtext.tokenizer_for(77)([short]), normalize=True)
    for method, length in (("interpolate", 300), ("longclip", 248)):
        model = new_model(seed=0).model.eval()
        assert longtext.stretch_text_positions(model, method) == length
        assert model.attn_mask.shape == (length, length) and torch.isinf(model.attn_mask[0, 1])
        tokens = longtext.tokenizer_for(length)([long])
        assert (tokens[0] > 0).sum() > 77  # the whole description, not 77 tokens of it
        assert model.encode_text(tokens).shape == (1, 64)
        after = model.encode_text(longtext.tokenizer_for(length)([short]), normalize=True)
        similarity = float((before * after).sum())
        assert similarity > (0.99 if method == "longclip" else 0.5), (
            method,
            similarity,
        )  # longclip: same first 20
        with pytest.raises(GeolibError, match="already has"):
            longtext.stretch_text_positions(model, method)
    with pytest.raises(GeolibError, match="truncate, interpolate, longclip"):
        longtext.stretch_text_positions(encoder.model, "squash")


def test_the_loss_is_low_for_matching_pairs_and_symmetric(encoder):
    from geolib.retrieval.loss import contrastive_loss

    features = torch.nn.functional.normalize(torch.randn(16, 8), dim=-1)
    matched = contrastive_loss(features, features, torch.tensor(50.0), gather=False)
    shuffled = contrastive_loss(features, features.roll(1, 0), torch.tensor(50.0), gather=False)
    assert matched < 0.1 < np.log(16) < shuffled
    assert contrastive_loss(features, features.roll(1, 0), torch.tensor(1.0), gather=False) == pytest.approx(
        contrastive_loss(features.roll(1, 0), features, torch.tensor(1.0), gather=False)
    )


def test_two_processes_gather_negatives_with_gradients_as_one_process(tmp_path, two_processes):
    out = tmp_path / "two.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    script = Path(__file__).parent / "scripts" / "retrieval_two_processes.py"
    launch = [
        *two_processes,
        str(script),
        str(out),
    ]
    done = subprocess.run(launch, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(out.read_text())
    assert result["world"] == 2
    assert result["mean"] == pytest.approx(result["reference"], rel=1e-5)
    assert result["local"] != pytest.approx(result["reference"], rel=1e-3)  # each process sees only half
    assert result["max_grad_difference"] < 1e-5  # the negatives' gradients flow back across processes


def test_metrics_of_a_perfect_and_a_random_ranking():
    from geolib.retrieval.metrics import retrieval_metrics

    rng = np.random.default_rng(0)
    n = 400
    lat, lon = 60.17 + rng.uniform(0, 0.02, n), 24.94 + rng.uniform(0, 0.04, n)
    perfect = retrieval_metrics(np.eye(n), lat, lon)
    assert perfect["R@1"] == perfect["L@50m"] == 1.0 and perfect["candidates"] == 100
    random = retrieval_metrics(rng.normal(size=(n, n)), lat, lon)
    assert 0 < random["R@1"] < 0.05 and 0.05 < random["R@10"] < 0.16  # 1 and 10 in 100 by chance
    everywhere = retrieval_metrics(rng.normal(size=(n, n)), lat, lon, protocol="gallery")
    assert everywhere["candidates"] == n and everywhere["R@10"] < random["R@10"]
    # a top-1 that is the wrong tile but 30 m away counts for L@50m, not R@1
    near = np.eye(n)
    near[0, 0], near[0, 1] = 0, 1
    lat[1], lon[1] = lat[0] + 0.00027, lon[0]  # 30 m north
    result = retrieval_metrics(near, lat, lon)
    assert result["R@1"] == pytest.approx(1 - 1 / n) and result["L@50m"] == 1.0
    with pytest.raises(GeolibError, match="square"):
        retrieval_metrics(np.ones((3, 4)), lat[:3], lon[:3])


def test_the_index_round_trips_and_searches_exactly(tmp_path):
    from geolib.retrieval.index import load_index, save_index, top_k

    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(500, 12))
    items = [{"name": f"t{i}", "latitude": 60.0, "longitude": 25.0, "path": f"t{i}.png"} for i in range(500)]
    save_index(tmp_path / "index", vectors, items, {"model": "m"})
    index = load_index(tmp_path / "index")
    queries = index.vectors[[3, 77]] + 0.01
    best, scores = index.search(queries / np.linalg.norm(queries, axis=1, keepdims=True), k=4, block=64)
    assert best[:, 0].tolist() == [3, 77] and np.all(np.diff(scores, axis=1) <= 0)
    reference = np.argsort(-(queries @ index.vectors.T), axis=1)[:, :4]
    assert np.array_equal(top_k(queries, index.vectors, 4, block=7)[0], reference)
    with pytest.raises(GeolibError, match="k must be"):
        index.search(queries, k=0)
    (tmp_path / "index" / "items.csv").unlink()
    with pytest.raises(GeolibError, match="items.csv missing"):
        load_index(tmp_path / "index")
    with pytest.raises(GeolibError, match="not an index folder"):
        load_index(tmp_path / "nowhere")


def test_phrases_and_relevance_have_the_right_shapes(encoder):
    from PIL import Image

    from geolib.retrieval.explain import phrases, relevance

    text = (
        "The view is on a residential street, Fabianinkatu, running south-north. "
        "Nearby it meets Eteläesplanadi and Pohjoisesplanadi."
    )
    assert phrases(text) == [
        "The view is on a residential street",
        "Fabianinkatu",
        "running south-north",
        "Nearby it meets Eteläesplanadi",
        "Pohjoisesplanadi",
    ]
    tile = Image.fromarray((np.random.default_rng(0).random((64, 64, 3)) * 255).astype(np.uint8))
    result = relevance(encoder, text, tile)
    assert result.patches.shape == (8, 8) and result.patches.min() >= 0 and result.patches.max() <= 1
    assert len(result.tokens) == len(result.token_relevance) and "residential" in result.tokens
    assert -1 <= result.score <= 1


def test_block_split_separates_held_out_points_from_training_ones():
    from geolib.curation.splits import separation_km
    from geolib.retrieval.data import block_split

    rng = np.random.default_rng(2)
    lat, lon = 60.16 + rng.uniform(0, 0.02, 2000), 24.93 + rng.uniform(0, 0.04, 2000)
    split = block_split(lat, lon, cell_km=0.3, buffer_km=0.05, seed=0)
    kept = split != None  # noqa: E711 - an object array
    counts = {s: int((split == s).sum()) for s in ("train", "val", "test")}
    assert counts["train"] > counts["val"] > 0 and counts["test"] > 0
    assert np.nanmin(separation_km(lat[kept], lon[kept], split[kept])) >= 0.05
    assert np.array_equal(split, block_split(lat, lon, cell_km=0.3, buffer_km=0.05, seed=0))


@pytest.fixture(scope="module")
def helsinki(tmp_path_factory):
    from geolib.osm import default_extract, osm_samples

    out = tmp_path_factory.mktemp("osm") / "helsinki"
    return out, osm_samples(default_extract(), out, progress=False)


def test_osm_samples_of_helsinki_are_in_the_cvg_layout(helsinki):
    import pandas as pd

    from geolib.formats.cvgtext import read_cvgtext
    from geolib.retrieval.data import read_pairs

    out, summary = helsinki
    assert summary["samples"] > 300
    samples = read_cvgtext(out, views=("osm",))
    assert len(samples) == summary["samples"]
    assert all(60.1 < s.latitude < 60.2 and 24.9 < s.longitude < 25.0 for s in samples)
    texts = " ".join(s.description for s in samples)
    for word in ("Esplanadi", "restaurant", "park", "Tram tracks", "residential street"):
        assert word in texts
    table = pd.read_csv(out / "splits.csv")
    assert list(table.columns) == ["name", "latitude", "longitude", "split"]
    assert set(table["split"]) == {"train", "val", "test"}
    assert len(read_pairs(out, "osm", "train")) == (table["split"] == "train").sum()
    from PIL import Image

    tile = np.asarray(Image.open(samples[0].osm))
    assert (
        tile.shape == (128, 128, 3) and len(np.unique(tile.reshape(-1, 3), axis=0)) > 5
    )  # roads, buildings...


@pytest.mark.parametrize("kind", ["missing", "not-a-pbf", "no-streets"])
def test_bad_extracts_are_one_line_errors_and_leave_no_folder(kind, tmp_path, capsys):
    from geolib.cli import main
    from geolib.osm import default_extract

    source, extra = tmp_path / "extract.osm.pbf", []
    if kind == "not-a-pbf":
        source.write_text("<osm>not a protobuf</osm>")
    elif kind == "no-streets":
        source, extra = (
            default_extract(),
            ["--bbox", "24.90,60.10,24.91,60.11"],
        )  # open sea south of the extract
    out = tmp_path / "out"
    code = main(["osm", str(source), "--out", str(out), *extra])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and str(source.name) in err
    assert not out.exists()


def test_osm_settings_are_checked(tmp_path, capsys):
    from geolib.cli import main

    code = main(["osm", "--out", str(tmp_path / "o"), "--spacing", "0"])
    assert code == 2 and "spacing_m must be a positive number" in capsys.readouterr().err
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    code = main(["osm", "--out", str(tmp_path / "full")])
    assert code == 2 and "not an empty folder" in capsys.readouterr().err
