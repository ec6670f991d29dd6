"""The CLIP-based locatability network: predictions, saving, the cached tiny net's accuracy, training,
bad input, the full profile's loading code (offline, in a subprocess), and the validity checks."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.stats import spearmanr

from geolib import DataError, GeolibError, profiles
from geolib.hubcache import install_in_hub_cache
from geolib.locatability import network as N
from geolib.locatability import validity_records, validity_table
from geolib.world import generate, make_sample

FULL_HUB_ID = "timm/vit_base_patch32_clip_224.openai"


@pytest.fixture(scope="module")
def net():
    return N.load_locatability_net()  # the registry's cached tiny network (built on first use)


@pytest.fixture(scope="module")
def views():
    return [make_sample(31, i, size=96, tile_size=32).image for i in range(6)]


def _tiny_config(**vision):
    """A very small open_clip config, for tests that train or save a private network."""
    cfg = json.loads(json.dumps(N.TINY_MODEL_CFG))
    cfg["vision_cfg"].update({"width": 32, "layers": 1, "head_width": 16, **vision})
    return cfg


def test_predict_shape_dtype_range_and_determinism(net, views, tmp_path):
    path = tmp_path / "view.png"
    views[0].save(path)
    scores = net.predict([*views, str(path)], progress=False)
    assert scores.shape == (7,) and scores.dtype == np.float64
    assert ((scores > 0) & (scores < 1)).all()
    assert scores[-1] == scores[0]  # the same view, through a PNG file
    assert np.array_equal(net.predict(views, progress=False), scores[:6])
    np.testing.assert_allclose(net.predict(views, batch_size=2, progress=False), scores[:6], atol=1e-6)
    assert net.predict(views[0], progress=False).shape == (1,)  # one image, not a list
    assert net.predict([], progress=False).shape == (0,)


def test_registry_entry_and_full_resolution():
    spec = profiles.spec("locatability-net")
    assert spec.hub_id == FULL_HUB_ID
    assert profiles.resolve("locatability-net", "full") == FULL_HUB_ID


def test_save_and_load_give_identical_predictions(net, views, tmp_path):
    folder = net.save_pretrained(tmp_path / "saved")
    assert {p.name for p in folder.iterdir()} == {N.NET_CONFIG, N.WEIGHTS, N.OPEN_CLIP_CONFIG}
    again = N.LocatabilityNet.from_pretrained(folder)
    assert np.array_equal(again.predict(views, progress=False), net.predict(views, progress=False))
    assert again.metrics["val_spearman"] == net.metrics["val_spearman"]
    assert N.metrics_of(folder)["loss_curve"] == net.metrics["loss_curve"]


def test_cached_tiny_net_ranks_like_the_formula(net):
    metrics = net.metrics
    recipe = N.TINY_RECIPE
    assert metrics["val_spearman"] >= 0.8 and metrics["val_mae"] < 0.03
    assert metrics["n_train"] == recipe["n_train"] and len(metrics["history"]) == recipe["epochs"]
    steps = recipe["epochs"] * -(-recipe["n_train"] // recipe["batch_size"])
    assert len(metrics["loss_curve"]) == steps
    assert np.mean(metrics["loss_curve"][-20:]) < np.mean(metrics["loss_curve"][:20]) / 10
    # recomputed on scenes of another world, rendered at another size than the training views
    samples = list(generate(150, 909, size=128, tile_size=32, workers=1, progress=False))
    formula = N.clueworld_scores(samples)
    predicted = net.predict([s.image for s in samples], progress=False)
    assert spearmanr(predicted, formula).statistic >= 0.8
    assert np.abs(predicted - formula).mean() < 0.03


def test_training_loss_falls_in_seconds():
    samples = [make_sample(5, i, size=64, tile_size=32) for i in range(24)]
    images, scores = [s.image for s in samples], N.clueworld_scores(samples)
    fresh = N.LocatabilityNet.from_config(_tiny_config(), N.TINY_PREPROCESS, seed=3)
    trained = N.train_locatability_net(
        images[:16],
        scores[:16],
        net=fresh,
        val_images=images[16:],
        val_scores=scores[16:],
        epochs=6,
        batch_size=8,
        lr=3e-3,
        progress=False,
    )
    metrics = trained.metrics
    curve = metrics["loss_curve"]
    assert len(curve) == 12 and len(metrics["history"]) == 6
    assert np.mean(curve[-4:]) < np.mean(curve[:2])
    assert metrics["history"][-1]["train_loss"] < metrics["history"][0]["train_loss"]
    assert metrics["n_val"] == 8 and np.isfinite(metrics["val_spearman"]) and metrics["val_mae"] > 0


def test_same_seed_same_network_and_frozen_tower_stays_frozen():
    samples = [make_sample(6, i, size=64, tile_size=32) for i in range(8)]
    images, scores = [s.image for s in samples], N.clueworld_scores(samples)
    a = N.LocatabilityNet.from_config(_tiny_config(), N.TINY_PREPROCESS, seed=1)
    b = N.LocatabilityNet.from_config(_tiny_config(), N.TINY_PREPROCESS, seed=1)
    tower = {k: v.clone() for k, v in a.visual.state_dict().items()}
    head = {k: v.clone() for k, v in a.head.state_dict().items()}
    assert all(torch.equal(v, b.visual.state_dict()[k]) for k, v in tower.items())
    N.train_locatability_net(images, scores, net=a, epochs=2, batch_size=4, trainable="head", progress=False)
    assert all(torch.equal(v, a.visual.state_dict()[k]) for k, v in tower.items())
    assert not all(torch.equal(v, a.head.state_dict()[k]) for k, v in head.items())
    with pytest.raises(GeolibError, match="no 5 transformer blocks"):
        N.train_locatability_net(images, scores, net=b, epochs=1, trainable=5, progress=False)


def test_bad_images_and_scores_are_named(net, views, tmp_path):
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0 this is not a JPEG")
    with pytest.raises(DataError, match="corrupt.jpg") as caught:
        net.predict([views[0], corrupt], progress=False)
    assert "\n" not in str(caught.value)
    with pytest.raises(DataError, match="record 1: expected a PIL image or a path, got int"):
        net.predict([views[0], 7], progress=False)
    with pytest.raises(GeolibError, match="batch_size must be a positive integer"):
        net.predict(views, batch_size=0)
    with pytest.raises(DataError, match="expected 2 scores, one per image"):
        N.train_locatability_net(views[:2], [0.5], epochs=1, progress=False)
    with pytest.raises(DataError, match=r"scores, record 1: expected a score in \[0, 1\]"):
        N.train_locatability_net(views[:2], [0.5, 1.5], epochs=1, progress=False)


def test_bad_saved_folders_are_named(net, tmp_path):
    with pytest.raises(GeolibError, match="cannot load the CLIP image tower local-dir:.*config file missing"):
        N.LocatabilityNet.from_pretrained(tmp_path)
    folder = net.save_pretrained(tmp_path / "saved")
    (folder / N.WEIGHTS).write_bytes(b"not safetensors")
    with pytest.raises(DataError, match=f"{N.WEIGHTS}: cannot load the weights"):
        N.LocatabilityNet.from_pretrained(folder)
    (folder / N.NET_CONFIG).write_text('{"format": "something else"}')
    with pytest.raises(DataError, match="field 'format': expected format"):
        N.LocatabilityNet.from_pretrained(folder)


def test_full_profile_loads_hub_checkpoints_offline(net, views, tmp_path):
    """The full profile's own loading code against tiny checkpoints saved under hub ids: an open_clip
    CLIP under the real backbone id (pretrained tower, fresh head) and a trained network under another."""
    import open_clip
    from safetensors.torch import save_file

    backbone = tmp_path / "backbone"
    backbone.mkdir()
    config = {"model_cfg": _tiny_config(), "preprocess_cfg": {"size": 64, "interpolation": "bilinear"}}
    (backbone / "open_clip_config.json").write_text(json.dumps(config))
    torch.manual_seed(11)
    clip = open_clip.create_model(f"local-dir:{backbone}", load_weights=False)
    save_file(clip.state_dict(), backbone / "open_clip_model.safetensors")
    cache = tmp_path / "hub"
    install_in_hub_cache(backbone, FULL_HUB_ID, cache)
    install_in_hub_cache(
        net.save_pretrained(tmp_path / "trained"), "geolib-course/locatability-net-tiny", cache
    )
    for i, view in enumerate(views[:3]):
        view.save(tmp_path / f"{i}.png")
    script = textwrap.dedent(
        f"""
        import json
        from geolib.locatability.network import load_locatability_net
        paths = [{", ".join(repr(str(tmp_path / f"{i}.png")) for i in range(3))}]
        backbone = load_locatability_net()
        trained = load_locatability_net("geolib-course/locatability-net-tiny")
        print(json.dumps({{
            "backbone": backbone.config["backbone"], "trained": backbone.trained,
            "scores": backbone.predict(paths, progress=False).tolist(),
            "trained_scores": trained.predict(paths, progress=False).tolist(),
        }}))
        """
    )
    env = {**os.environ, "GEOLIB_PROFILE": "full", "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(cache)}
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["backbone"] == f"hf-hub:{FULL_HUB_ID}" and out["trained"] is False
    assert result.stderr.count("head is untrained") == 1  # a warning for the backbone only
    # the hub tower's weights were loaded: the same as this folder's tower under the same seeded head
    with pytest.warns(UserWarning, match="head is untrained") as warned:
        expected = N.LocatabilityNet.from_backbone(f"local-dir:{backbone}").predict(views[:3], progress=False)
    assert warned[0].filename == __file__
    np.testing.assert_allclose(out["scores"], expected, atol=1e-5)
    np.testing.assert_allclose(out["trained_scores"], net.predict(views[:3], progress=False), atol=1e-5)


def test_missing_hub_backbone_is_a_clear_error(tmp_path):
    script = "from geolib.locatability.network import load_locatability_net; load_locatability_net()"
    env = {**os.environ, "GEOLIB_PROFILE": "full", "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode != 0
    assert f"GeolibError: cannot load the CLIP image tower hf-hub:{FULL_HUB_ID}" in result.stderr


# ----------------------------------------------------------------------------- validity


@pytest.fixture(scope="module")
def world():
    from sklearn.neighbors import KNeighborsClassifier

    samples = [make_sample(41, i, size=64, tile_size=32) for i in range(40)]
    others = [make_sample(42, i, size=64, tile_size=32) for i in range(60)]
    # any fitted classifier of the baseline's pixel features will do here; nearest neighbour is instant
    classifier = KNeighborsClassifier(n_neighbors=1).fit(_features(others), [s.country for s in others])
    return samples, classifier


def test_validity_table_bins_clues_and_accuracy(world):
    samples, classifier = world
    formula = N.clueworld_scores(samples)
    clues = np.array([len(s.clues) for s in samples])
    table = validity_table(samples, {"formula": formula, "clues": clues}, classifier=classifier, bins=4)
    assert list(table.columns) == [
        "method", "bin", "score_low", "score_high", "images", "mean_clues", "country_accuracy"
    ]  # fmt: skip
    assert table.groupby("method")["images"].sum().tolist() == [40, 40]
    lowest = table[(table.method == "formula") & (table.bin == 1)].iloc[0]
    ten_lowest = np.argsort(formula, kind="stable")[:10]
    assert lowest.images == 10 and lowest.score_high == formula[ten_lowest].max()
    assert lowest.mean_clues == pytest.approx(clues[ten_lowest].mean())
    # scoring by the clue count itself: the mean number of clues cannot fall from bin to bin
    assert table[table.method == "clues"]["mean_clues"].is_monotonic_increasing
    assert table.attrs["spearman_clues"]["clues"] == pytest.approx(1.0)
    records = validity_records(samples, formula, classifier=classifier)
    assert table.attrs["accuracy"] == pytest.approx(records["correct"].mean())
    assert records["predicted"].tolist() == list(classifier.predict(_features(samples)))


def _features(samples):
    from geolib.world.baseline import pixel_features

    return pixel_features([s.image for s in samples])


def test_validity_trains_its_classifier_on_another_world(world, monkeypatch):
    from geolib.locatability import validity

    samples, classifier = world
    seen = {}

    def fake_fit(n, seed, *, size):
        seen.update(n=n, seed=seed, size=size)
        return classifier

    monkeypatch.setattr(validity, "fit_validity_classifier", fake_fit)
    validity_records(samples, N.clueworld_scores(samples), train_n=30)
    assert seen == {"n": 30, "seed": 42, "size": 64}


def test_validity_rejects_mismatched_scores(world):
    samples, classifier = world
    with pytest.raises(DataError, match="field 'network': expected 40 scores, one per sample"):
        validity_table(samples, {"network": np.zeros(39)}, classifier=classifier)
    with pytest.raises(DataError, match="record 2: expected a ClueWorld sample"):
        validity_table([*samples[:2], object()], np.zeros(3), classifier=classifier)


def test_validity_and_scatter_figures(world):
    import matplotlib

    matplotlib.use("Agg")
    from geolib.viz import plot_scores_scatter, plot_validity

    samples, classifier = world
    formula = N.clueworld_scores(samples)
    table = validity_table(samples, {"formula": formula, "network": formula[::-1]}, classifier=classifier)
    axes = plot_validity(table)
    assert [len(ax.get_lines()) for ax in axes] == [2, 3]  # a line per method (+ overall accuracy)
    assert "Spearman with clues" in axes[0].get_legend().get_texts()[0].get_text()
    ax = plot_scores_scatter(formula, formula + 0.01)
    assert ax.get_title() == "Locatability: Spearman 1.000, MAE 0.0100"
    with pytest.raises(DataError, match="two equally long lists"):
        plot_scores_scatter(formula, formula[:3])
    import matplotlib.pyplot as plt

    plt.close("all")


def test_images_are_square_crops_of_the_tower_size(net):
    wide = Image.new("RGB", (300, 100), (90, 90, 90))
    pixels = net.pixels([wide])
    assert tuple(pixels.shape) == (1, 3, 64, 64)
