"""The optional detectron2 backend (MaskFormer's own code, as GeoReasoner's authors ran it).

The first tests run everywhere. The rest need detectron2 (built from source: it is not on PyPI) and a
MaskFormer checkout in GEOLIB_MASKFORMER_DIR, and skip with that reason otherwise (as in CI). They run a
really built MaskFormer (the official Swin-S config, shrunk) with random weights saved by detectron2.
"""

import importlib.util
import os
import pickle
import sys

import numpy as np
import pytest
import torch

from geolib.ade20k import class_names
from geolib.errors import DataError, GeolibError
from geolib.locatability.formula import fractions_from_mask
from geolib.segmentation import detectron2_backend as d2b
from geolib.segmentation import load_segmenter
from geolib.world import make_sample


@pytest.fixture
def no_mask_former_module():
    """Let a test import a ``mask_former`` of its own, and put back whatever was imported before."""
    before = sys.modules.pop("mask_former", None)
    yield
    sys.modules.pop("mask_former", None)
    if before is not None:
        sys.modules["mask_former"] = before


def test_missing_detectron2_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "detectron2", None)  # as if it were not installed
    with pytest.raises(GeolibError, match="needs detectron2") as err:
        load_segmenter(backend="detectron2")
    assert "pip install 'git+https://github.com/facebookresearch/detectron2.git'" in str(err.value)
    assert "git clone https://github.com/facebookresearch/MaskFormer" in str(err.value)
    assert "GEOLIB_MASKFORMER_DIR" in str(err.value)


def test_maskformer_dir_must_be_a_checkout(monkeypatch, tmp_path):
    monkeypatch.setenv("GEOLIB_MASKFORMER_DIR", str(tmp_path))
    with pytest.raises(GeolibError, match=r"is not a MaskFormer checkout \(no mask_former/__init__.py\)"):
        d2b._maskformer_folder(None)


def test_mask_former_is_imported_from_the_checkout_without_leaving_it_on_the_path(
    tmp_path, no_mask_former_module
):
    (tmp_path / "mask_former").mkdir()
    (tmp_path / "mask_former" / "__init__.py").write_text("FROM_CHECKOUT = 42\n")
    module = d2b._import_mask_former(d2b._maskformer_folder(tmp_path))
    assert module.FROM_CHECKOUT == 42
    assert str(tmp_path) not in sys.path


def test_broken_mask_former_checkout_is_named(tmp_path, no_mask_former_module):
    (tmp_path / "mask_former").mkdir()
    (tmp_path / "mask_former" / "__init__.py").write_text("import not_a_module_geolib_knows\n")
    with pytest.raises(
        GeolibError, match=f"cannot import MaskFormer's mask_former from {tmp_path}: No module"
    ):
        d2b._import_mask_former(tmp_path)
    assert str(tmp_path) not in sys.path


def test_model_zoo_pickle_gives_its_arrays(tmp_path):
    path = tmp_path / "model_final.pkl"
    weights = {"model": {"sem_seg_head.w": np.arange(6, dtype=np.float32).reshape(2, 3)}, "__author__": "zoo"}
    path.write_bytes(pickle.dumps(weights, protocol=2))
    loaded = d2b.load_pickled_arrays(path)
    assert loaded["__author__"] == "zoo"
    np.testing.assert_array_equal(loaded["model"]["sem_seg_head.w"], weights["model"]["sem_seg_head.w"])


class _RunsACommand:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_pickle_that_would_run_code_is_refused_unrun(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"model": _RunsACommand(marker)}))
    with pytest.raises(DataError, match=r"evil.pkl: not loaded as weights: it refers to \w+\.system"):
        d2b.load_pickled_arrays(path)
    assert not marker.exists()


# ------------------------------------------------------------------ with detectron2 and MaskFormer

MASKFORMER_DIR = os.environ.get("GEOLIB_MASKFORMER_DIR")
if importlib.util.find_spec("detectron2") is None:
    WHY_NOT = (
        "detectron2 is not installed (it is not on PyPI: built from source, see the backend's docstring)"
    )
elif not MASKFORMER_DIR:
    WHY_NOT = "GEOLIB_MASKFORMER_DIR is not set (a MaskFormer checkout, see the backend's docstring)"
else:
    WHY_NOT = None
needs_detectron2 = pytest.mark.skipif(WHY_NOT is not None, reason=str(WHY_NOT))

# MaskFormer's Swin-S ADE20K config, shrunk to a tiny model: the same architecture and 150 classes.
TINY_OVERRIDES = """
MODEL:
  WEIGHTS: ""
  SWIN: {EMBED_DIM: 16, DEPTHS: [1, 1, 1, 1], NUM_HEADS: [1, 1, 2, 2], DROP_PATH_RATE: 0.0}
  SEM_SEG_HEAD: {CONVS_DIM: 32, MASK_DIM: 32}
  MASK_FORMER: {HIDDEN_DIM: 32, NUM_OBJECT_QUERIES: 10, NHEADS: 2, DIM_FEEDFORWARD: 64, DEC_LAYERS: 2}
INPUT: {MIN_SIZE_TEST: 64, MAX_SIZE_TEST: 128}
"""


@pytest.fixture(scope="module")
def tiny_maskformer(tmp_path_factory):
    """(config, .pth, .pkl, state) of a tiny randomly initialised MaskFormer, saved by detectron2."""
    from detectron2.checkpoint import DetectionCheckpointer
    from detectron2.modeling import build_model

    folder = tmp_path_factory.mktemp("tiny-maskformer")
    config = folder / "tiny.yaml"
    base = os.path.join(MASKFORMER_DIR, d2b.MASKFORMER_CONFIG)
    config.write_text(f"_BASE_: {base}\n{TINY_OVERRIDES}")
    cfg = d2b.maskformer_config(config)
    cfg.MODEL.DEVICE = "cpu"
    torch.manual_seed(0)
    model = build_model(cfg)
    DetectionCheckpointer(model, save_dir=str(folder)).save("tiny")
    # a model-zoo style .pkl: numpy arrays and no state-dict version, which MaskFormerHead reads as its first
    # key layout (renamed on load), so the keys must be in that layout
    state = {
        key.replace("sem_seg_head.pixel_decoder.", "sem_seg_head."): value.numpy()
        for key, value in model.state_dict().items()
    }
    (folder / "tiny.pkl").write_bytes(pickle.dumps({"model": state, "__author__": "geolib test"}))
    return config, folder / "tiny.pth", folder / "tiny.pkl", model.state_dict()


@pytest.fixture(scope="module")
def segmenter(tiny_maskformer):
    config, pth, _, _ = tiny_maskformer
    segmenter = load_segmenter(backend="detectron2", config_file=config, weights=pth, device="cpu")
    assert isinstance(segmenter, d2b.Detectron2Segmenter)
    return segmenter


@needs_detectron2
def test_segment_clueworld_images_of_two_sizes(segmenter, tmp_path):
    square = make_sample(0, 0, size=64).image
    wide = make_sample(0, 1, size=96).image.crop((0, 0, 96, 80))  # not square: H and W must not swap
    wide.save(tmp_path / "wide.png")
    batch = segmenter.segment([square, tmp_path / "wide.png"], batch_size=2, progress=False)
    assert [mask.shape for mask in batch.masks] == [(64, 64), (80, 96)]
    assert all(mask.dtype == np.uint8 and mask.max() < 150 for mask in batch.masks)
    assert batch.fractions.shape == (2, 150) and batch.fractions.dtype == np.float64
    np.testing.assert_allclose(batch.fractions.sum(axis=1), 1.0)
    for mask, row in zip(batch.masks, batch.fractions, strict=True):
        np.testing.assert_array_equal(row, fractions_from_mask(mask))
    # one image at a time: same masks for the unpadded image
    alone = segmenter.segment(square, progress=False)
    np.testing.assert_array_equal(alone.masks[0], batch.masks[0])


@needs_detectron2
def test_saved_weights_are_the_ones_used_pth_and_pkl(tiny_maskformer, segmenter):
    config, _, pkl, saved = tiny_maskformer
    loaded = segmenter.model.state_dict()
    assert saved.keys() == loaded.keys()
    assert all(torch.equal(saved[key], loaded[key]) for key in saved)
    image = make_sample(0, 2, size=64).image
    from_pkl = d2b.Detectron2Segmenter(config, pkl, device="cpu").segment([image], progress=False)
    np.testing.assert_array_equal(from_pkl.masks[0], segmenter.segment([image], progress=False).masks[0])


@needs_detectron2
def test_weights_of_another_model_are_refused(tiny_maskformer, tmp_path):
    config, pth, _, _ = tiny_maskformer
    wider = tmp_path / "wider.yaml"
    wider.write_text(f"_BASE_: {config}\nMODEL:\n  MASK_FORMER: {{HIDDEN_DIM: 64}}\n")
    with pytest.raises(
        DataError, match=r"tiny.pth: these weights do not fit the config: [1-9]\d* parameters"
    ):
        d2b.Detectron2Segmenter(wider, pth, device="cpu")


@needs_detectron2
def test_missing_config_or_weights_are_named(tiny_maskformer, tmp_path):
    config, pth, _, _ = tiny_maskformer
    with pytest.raises(DataError, match="nowhere.yaml: no such config file"):
        d2b.Detectron2Segmenter(tmp_path / "nowhere.yaml", pth)
    with pytest.raises(DataError, match="nothing.pth: no such weights file"):
        d2b.Detectron2Segmenter(config, tmp_path / "nothing.pth")


@needs_detectron2
def test_wrong_number_of_classes_is_refused(tmp_path):
    coco = tmp_path / "coco.yaml"
    coco.write_text(
        f"_BASE_: {os.path.join(MASKFORMER_DIR, d2b.MASKFORMER_CONFIG)}\n"
        "MODEL:\n  SEM_SEG_HEAD: {NUM_CLASSES: 171}\n"
    )
    with pytest.raises(DataError, match="field 'MODEL.SEM_SEG_HEAD.NUM_CLASSES': the model predicts 171"):
        d2b.maskformer_config(coco)


@needs_detectron2
def test_papers_config_is_found_in_the_checkout():
    cfg = d2b.maskformer_config(d2b.MASKFORMER_CONFIG)  # relative: looked up in GEOLIB_MASKFORMER_DIR
    assert cfg.MODEL.META_ARCHITECTURE == "MaskFormer"
    assert cfg.MODEL.BACKBONE.NAME == "D2SwinTransformer"
    assert list(cfg.MODEL.SWIN.DEPTHS) == [2, 2, 18, 2]  # Swin-S
    assert cfg.INPUT.FORMAT == "RGB" and cfg.INPUT.MIN_SIZE_TEST == 512


@needs_detectron2
def test_detectron2_ade20k_ids_are_geolibs():
    from detectron2.data import MetadataCatalog

    theirs = MetadataCatalog.get("ade20k_sem_seg_val").stuff_classes
    assert [name.strip() for name in theirs] == [name.strip() for name in class_names()]
