"""The segmenter: metrics, label maps, the tiny model (shapes, fractions, its real held-out mIoU), the
backends' errors, and the full profile's loading code run offline against hub-cache snapshots."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from geolib import DataError, GeolibError
from geolib.ade20k import NUM_CLASSES, ROAD, SKY, TREE, class_names
from geolib.locatability import fractions_from_mask
from geolib.segmentation import (
    ade_ids_of_labels,
    confusion_matrix,
    load_segmenter,
    mean_iou,
    per_class_iou,
)
from geolib.segmentation.train import TINY, clueworld_views, evaluate_segmenter, read_metrics, scene_weights

# ----------------------------------------------------------------------------- metrics


def test_confusion_matrix_counts_pixels_and_skips_ignored_ones():
    truth = np.array([[6, 6, 2], [2, 255, 4]], dtype=np.uint8)
    predicted = np.array([[6, 2, 2], [2, 4, 4]], dtype=np.uint8)
    cm = confusion_matrix(truth, predicted)
    assert cm.shape == (NUM_CLASSES, NUM_CLASSES) and cm.sum() == 5  # the 255 pixel is not counted
    assert cm[ROAD, ROAD] == 1 and cm[ROAD, SKY] == 1 and cm[SKY, SKY] == 2 and cm[TREE, TREE] == 1
    # a list of masks adds up
    assert (confusion_matrix([truth, truth], [predicted, predicted]) == 2 * cm).all()


def test_iou_is_over_the_classes_present_in_the_truth():
    truth = np.array([[6, 6, 2, 2]], dtype=np.uint8)
    predicted = np.array([[6, 4, 2, 2]], dtype=np.uint8)  # one road pixel called tree (absent from the truth)
    cm = confusion_matrix(truth, predicted)
    iou = per_class_iou(cm)
    assert iou[ROAD] == pytest.approx(0.5) and iou[SKY] == pytest.approx(1.0)
    assert np.isnan(iou[TREE]) and np.isnan(iou[0])  # absent classes have no IoU
    assert mean_iou(cm) == pytest.approx(0.75)
    assert np.isnan(mean_iou(np.zeros((NUM_CLASSES, NUM_CLASSES))))


def test_confusion_matrix_names_the_bad_mask():
    good = np.zeros((2, 2), dtype=np.uint8)
    with pytest.raises(DataError, match=r"record 1: true mask \(2, 2\) and predicted mask \(2, 3\)"):
        confusion_matrix([good, good], [good, np.zeros((2, 3))])
    with pytest.raises(DataError, match="record 0: class id 200 is outside 0..149"):
        confusion_matrix(good, np.full((2, 2), 200))
    with pytest.raises(DataError, match="2 true masks but 1 predicted"):
        confusion_matrix([good, good], [good])


def test_scenes_with_rare_classes_are_drawn_more_often():
    common = np.full((4, 4), ROAD, dtype=np.uint8)
    rare = common.copy()
    rare[0, 0] = TREE  # tree in 1 of 20 scenes: factor sqrt(0.1 / 0.05)
    weights = scene_weights([common] * 19 + [rare])
    assert weights[:19] == pytest.approx(np.ones(19)) and weights[19] == pytest.approx(np.sqrt(2))


# ----------------------------------------------------------------------------- label maps


def test_label_maps_of_hub_checkpoints_map_to_geolib_ids():
    names = class_names()
    assert (ade_ids_of_labels(dict(enumerate(names))) == np.arange(NUM_CLASSES)).all()
    # Mask2Former's ADE checkpoints name classes by one word, with quirks ("bed " with a space, "ashcan")
    hub = {i: name.split(",")[0] for i, name in enumerate(names)}
    hub[7], hub[8], hub[138] = "bed ", "windowpane, window", "ashcan"
    assert (ade_ids_of_labels(hub) == np.arange(NUM_CLASSES)).all()
    # another class order is re-mapped by name
    swapped = dict(enumerate(names))
    swapped[2], swapped[6] = names[6], names[2]
    lookup = ade_ids_of_labels(swapped)
    assert lookup[2] == ROAD and lookup[6] == SKY and lookup[0] == 0


def test_label_maps_that_are_not_ade20k_150_are_refused():
    with pytest.raises(GeolibError, match="predicts 2 classes; a segmenter must predict the 150 ADE20K-150"):
        ade_ids_of_labels({0: "background", 1: "tumor"}, source="someone/mri")
    doubled = dict(enumerate(class_names()))
    doubled[5] = "sky"
    with pytest.raises(GeolibError, match=r"name some ADE20K classes twice \(sky\)"):
        ade_ids_of_labels(doubled)


# ----------------------------------------------------------------------------- the tiny segmenter


@pytest.fixture(scope="module")
def segmenter(tiny_segmenter):
    return tiny_segmenter


def test_masks_have_each_inputs_size_and_fractions_match_them(segmenter, tmp_path):
    views, _ = clueworld_views(2, 3, start=500, size=TINY["image_size"], progress=False)
    wide = views[0].resize((150, 70))
    path = tmp_path / "tall.png"
    views[1].resize((40, 90)).save(path)
    batch = segmenter.segment([views[0], wide, path, views[1]], batch_size=3, progress=False)
    assert [mask.shape for mask in batch.masks] == [(96, 96), (70, 150), (90, 40), (96, 96)]
    assert all(mask.dtype == np.uint8 and mask.max() < NUM_CLASSES for mask in batch.masks)
    assert batch.fractions.shape == (4, NUM_CLASSES) and batch.fractions.dtype == np.float64
    assert batch.fractions.sum(axis=1) == pytest.approx(np.ones(4))
    for mask, fractions in zip(batch.masks, batch.fractions, strict=True):
        assert fractions == pytest.approx(fractions_from_mask(mask))
    # one image alone gives the same mask as within a batch
    alone = segmenter.segment(views[0], progress=False)
    assert len(alone) == 1 and (alone.masks[0] == batch.masks[0]).all()


def test_unreadable_images_are_named(segmenter, tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_text("not an image")
    with pytest.raises(DataError, match="broken.png: is not an image"):
        segmenter.segment([Image.new("RGB", (32, 32)), bad], progress=False)
    with pytest.raises(GeolibError, match="batch_size must be a positive integer, got 0"):
        segmenter.segment([bad], batch_size=0, progress=False)


def test_tiny_segmenter_held_out_miou_is_real_and_far_above_chance(segmenter):
    from geolib import profiles

    metrics = read_metrics(profiles.resolve("segmenter"))
    # the target is 0.6; the recipe reached 0.54 in tuning (thin classes stay hard at 96 px). A
    # constant "road" answer scores about 0.03 over the 22 classes present; large classes must be learnt.
    assert metrics["mean_iou"] >= 0.45, metrics["per_class_iou"]
    assert min(metrics["per_class_iou"][name] for name in ("road, route", "sky", "building", "wall")) > 0.8
    # the number is what the saved model scores on those held-out scenes, not a copy of a training log
    held = metrics["held_out"]
    images, masks = clueworld_views(
        held["scenes"], held["world_seed"], start=held["first_index"], size=held["size"]
    )
    again = evaluate_segmenter(segmenter, images, masks)
    assert again["mean_iou"] == pytest.approx(metrics["mean_iou"], abs=1e-6)
    assert set(metrics["per_class_iou"]) == {class_names()[i] for i in metrics["classes_present"]}
    matrix = np.array(metrics["confusion_matrix"]["rows_true_columns_predicted"])
    assert matrix.sum() == held["scenes"] * held["size"] ** 2


# ----------------------------------------------------------------------------- backends


def test_unknown_backend_is_a_clear_error():
    with pytest.raises(
        GeolibError, match="unknown segmentation backend 'onnx'; choose one of transformers, detectron2"
    ):
        load_segmenter(backend="onnx")


def test_detectron2_backend_says_what_to_install_when_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, "detectron2", None)  # "import detectron2" fails, as where it is missing
    with pytest.raises(
        GeolibError,
        match=r"needs detectron2.*pip install 'git\+https://github.com/facebookresearch/detectron2",
    ):
        load_segmenter(backend="detectron2")


def test_backend_arguments_are_checked():
    with pytest.raises(GeolibError, match="config_file and weights are for backend='detectron2'"):
        load_segmenter("some/model", weights="model.pkl")
    with pytest.raises(GeolibError, match="takes config_file= and weights=, not model="):
        load_segmenter("some/model", backend="detectron2")


def test_a_model_that_is_not_a_segmenter_is_refused(tmp_path):
    from transformers import BertConfig

    BertConfig(
        hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=8
    ).save_pretrained(tmp_path)
    with pytest.raises(GeolibError, match="is a 'bert' model; expected one of maskformer, mask2former"):
        load_segmenter(str(tmp_path))
    with pytest.raises(GeolibError, match="cannot load segmentation model .*nowhere"):
        load_segmenter(str(tmp_path / "nowhere"))


# ----------------------------------------------------------------------------- the full profile, offline

# preprocessor_config.json of facebook/maskformer-swin-small-ade as published (MaskFormerFeatureExtractor
# era keys; the Swin-S ADE20K model is evaluated at a shortest edge of 512, longest 2048)
MASKFORMER_HUB_PROCESSOR = {
    "do_normalize": True,
    "do_resize": True,
    "feature_extractor_type": "MaskFormerFeatureExtractor",
    "ignore_index": 255,
    "image_mean": [0.48500001430511475, 0.4560000002384186, 0.4059999883174896],
    "image_std": [0.2290000021457672, 0.2239999920129776, 0.22499999403953552],
    "max_size": 2048,
    "size": 512,
    "size_divisibility": 32,
}
# preprocessor_config.json of facebook/mask2former-swin-small-ade-semantic as published
MASK2FORMER_HUB_PROCESSOR = {
    "_max_size": 2048,
    "do_normalize": True,
    "do_rescale": True,
    "do_resize": True,
    "ignore_index": 255,
    "image_mean": [0.48500001430511475, 0.4560000002384186, 0.4059999883174896],
    "image_processor_type": "Mask2FormerImageProcessor",
    "image_std": [0.2290000021457672, 0.2239999920129776, 0.22499999403953552],
    "num_labels": 150,
    "reduce_labels": False,
    "resample": 2,
    "rescale_factor": 0.00392156862745098,
    "size": {"height": 384, "width": 384},
    "size_divisor": 32,
}


def _tiny_maskformer(folder):
    """A small MaskFormer with the hub checkpoint's 150 ADE20K labels (untrained: only loading is tested)."""
    import torch
    from transformers import DetrConfig, MaskFormerConfig, MaskFormerForInstanceSegmentation, SwinConfig

    names = class_names()
    torch.manual_seed(0)
    config = MaskFormerConfig(
        backbone_config=SwinConfig(
            embed_dim=16,
            depths=[1, 1, 1, 1],
            num_heads=[1, 1, 2, 2],
            window_size=4,
            out_features=["stage1", "stage2", "stage3", "stage4"],
        ),
        decoder_config=DetrConfig(
            encoder_layers=1,
            decoder_layers=1,
            d_model=32,
            encoder_attention_heads=2,
            decoder_attention_heads=2,
            encoder_ffn_dim=32,
            decoder_ffn_dim=32,
            num_queries=10,
        ),
        fpn_feature_size=32,
        mask_feature_size=32,
        id2label=dict(enumerate(names)),
        label2id={name: i for i, name in enumerate(names)},
    )
    MaskFormerForInstanceSegmentation(config).save_pretrained(folder)
    (folder / "preprocessor_config.json").write_text(json.dumps(MASKFORMER_HUB_PROCESSOR, indent=2))


def _tiny_mask2former_as_hub(folder):
    """The trained tiny Mask2Former with the hub checkpoint's label names and processor settings."""
    import shutil

    from geolib import profiles

    source = profiles.resolve("segmenter")
    folder.mkdir()
    for name in ("config.json", "model.safetensors"):
        shutil.copyfile(f"{source}/{name}", folder / name)
    config = json.loads((folder / "config.json").read_text())
    names = {int(i): name.split(",")[0] for i, name in config["id2label"].items()}
    names[7], names[138] = "bed ", "ashcan"  # as in the hub's config.json
    config["id2label"] = {str(i): name for i, name in names.items()}
    config["label2id"] = {name: i for i, name in names.items()}
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    (folder / "preprocessor_config.json").write_text(json.dumps(MASK2FORMER_HUB_PROCESSOR, indent=2))


FULL_PROFILE_RUN = """
import json, sys
import numpy as np
from PIL import Image
from geolib import profiles
from geolib.segmentation import load_segmenter

name = sys.argv[1] if len(sys.argv) > 1 else None
segmenter = load_segmenter(name)
images = [Image.effect_noise((120, 80), 40).convert("RGB"), Image.new("RGB", (64, 200), (90, 140, 220))]
batch = segmenter.segment(images, batch_size=2, progress=False)
print(json.dumps({
    "resolved": profiles.resolve("segmenter"),
    "model": segmenter.name,
    "class": type(segmenter.model).__name__,
    "processor": type(segmenter.processor).__name__,
    "shapes": [list(m.shape) for m in batch.masks],
    "max_id": int(max(m.max() for m in batch.masks)),
    "sums": batch.fractions.sum(axis=1).tolist(),
}))
"""


@pytest.mark.parametrize(
    "hub_id, make, model_class, processor_class",
    [
        (None, _tiny_maskformer, "MaskFormerForInstanceSegmentation", "MaskFormerImageProcessor"),
        (
            "facebook/mask2former-swin-small-ade-semantic",
            _tiny_mask2former_as_hub,
            "Mask2FormerForUniversalSegmentation",
            "Mask2FormerImageProcessor",
        ),
    ],
    ids=["maskformer-default", "mask2former-by-name"],
)
def test_full_profile_loads_the_hub_checkpoint_offline(tmp_path, hub_id, make, model_class, processor_class):
    from geolib.hubcache import install_in_hub_cache

    local = tmp_path / "local"
    make(local)
    cache = tmp_path / "hub"
    install_in_hub_cache(local, hub_id or "facebook/maskformer-swin-small-ade", cache)
    env = {
        **os.environ,
        "GEOLIB_PROFILE": "full",
        "HF_HUB_OFFLINE": "1",
        "HF_HUB_CACHE": str(cache),
        "GEOLIB_DATA": str(tmp_path / "data"),  # nothing may be built in the full profile
        "GEOLIB_DEVICE": "cpu",
    }
    argv = [sys.executable, "-c", FULL_PROFILE_RUN] + ([hub_id] if hub_id else [])
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["resolved"] == "facebook/maskformer-swin-small-ade"
    assert result["model"] == (hub_id or "facebook/maskformer-swin-small-ade")
    assert result["class"] == model_class and result["processor"] == processor_class
    assert result["shapes"] == [[80, 120], [200, 64]] and result["max_id"] < NUM_CLASSES
    assert result["sums"] == pytest.approx([1.0, 1.0])
    assert not (tmp_path / "data" / "models").exists()
