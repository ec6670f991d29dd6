"""The authors' own segmentation route: MaskFormer on detectron2 (optional backend ``"detectron2"``).

GeoReasoner's authors segmented street views with the MaskFormer repository's demo (Swin-S, ADE20K-150) on
detectron2. This backend runs that same code and gives the same :class:`SegmentationBatch` as the default
``transformers`` backend (0-based ADE20K ids, per-class fractions whose rows sum to 1).

Installing it
-------------
Neither piece is on PyPI, so geolib cannot list them as an extra:

- detectron2 is built from its source (about 5 minutes on 2 CPU cores)::

      pip install 'git+https://github.com/facebookresearch/detectron2.git'

  or, from a checkout, ``pip install --no-build-isolation -e .`` (it compiles against the installed torch).
- MaskFormer's ``mask_former`` package (its config keys and the ``MaskFormer`` meta-architecture it
  registers into detectron2) is not installable at all: clone the repository and say where it is::

      git clone https://github.com/facebookresearch/MaskFormer
      pip install timm scipy opencv-python-headless   # Colab has them already
      export GEOLIB_MASKFORMER_DIR=$PWD/MaskFormer   # or Detectron2Segmenter(..., maskformer_dir=...)

The full-size model the paper used (MaskFormer Swin-S, ADE20K-150: 63M parameters, about 250 MB)::

      from geolib.segmentation import load_segmenter
      segmenter = load_segmenter(backend="detectron2")   # = Detectron2Segmenter(MASKFORMER_CONFIG,
                                                         #                       MASKFORMER_WEIGHTS)

A relative config path is looked up in the MaskFormer checkout; the weights URL is downloaded once by
detectron2 (into ``~/.torch/iopath_cache``); a local ``.pkl`` or ``.pth`` file works too.

Safety: checkpoints are read without running code (``.pth`` with ``torch.load(weights_only=True)``, the
model zoo's ``.pkl`` with an unpickler that only rebuilds numpy arrays). detectron2 config files, however,
may hold Python expressions (MaskFormer's own base config does), so only use configs you trust.
"""

from __future__ import annotations

import importlib
import os
import pickle
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from geolib import profiles
from geolib.ade20k import NUM_CLASSES
from geolib.errors import DataError, GeolibError
from geolib.segmentation.segmenter import SegmentationBatch, segment_in_batches

# The paper's model, from the MaskFormer model zoo (MODEL_ZOO.md, "ADE20K Semantic Segmentation", Swin-S).
MASKFORMER_CONFIG = "configs/ade20k-150/swin/maskformer_swin_small_bs16_160k.yaml"
MASKFORMER_WEIGHTS = (
    "https://dl.fbaipublicfiles.com/maskformer/semantic-ade20k/"
    "maskformer_swin_small_bs16_160k/model_final_528157.pkl"
)
MASKFORMER_DIR_ENV = "GEOLIB_MASKFORMER_DIR"
INSTALL_HINT = (
    "pip install 'git+https://github.com/facebookresearch/detectron2.git' timm scipy opencv-python-headless, "
    f"then git clone https://github.com/facebookresearch/MaskFormer and set {MASKFORMER_DIR_ENV} to that folder"
)

# What a model-zoo .pkl (a pickled dict of numpy arrays) may name; anything else is refused unrun.
_PICKLE_GLOBALS = {
    ("_codecs", "encode"),  # how pickle protocol 2 writes the arrays' bytes
    ("collections", "OrderedDict"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "scalar"),
}


class _ArraysOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) not in _PICKLE_GLOBALS:
            raise pickle.UnpicklingError(f"it refers to {module}.{name}, which a weights file never needs")
        return super().find_class(module, name)


def load_pickled_arrays(path: str | os.PathLike):
    """Read a detectron2 model-zoo ``.pkl`` (dicts of numpy arrays) without executing anything it names."""
    try:
        with open(path, "rb") as file:
            # latin1: the model zoo's older files were pickled by Python 2
            return _ArraysOnlyUnpickler(file, encoding="latin1").load()
    except OSError as err:
        raise DataError(f"cannot read the weights: {err.strerror or err}", source=str(path)) from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as err:
        raise DataError(f"not loaded as weights: {err}", source=str(path)) from None


def _import_detectron2():
    try:
        import detectron2  # noqa: F401
        from detectron2.projects.deeplab import add_deeplab_config  # noqa: F401
    except ImportError as err:
        raise GeolibError(
            f"the detectron2 backend needs detectron2, which cannot be imported ({err}): {INSTALL_HINT}"
        ) from None


def _maskformer_folder(maskformer_dir: str | os.PathLike | None) -> Path | None:
    raw = maskformer_dir if maskformer_dir is not None else os.environ.get(MASKFORMER_DIR_ENV)
    if not raw:
        return None
    folder = Path(raw).expanduser().resolve()
    if not (folder / "mask_former" / "__init__.py").is_file():
        raise GeolibError(
            f"{folder} is not a MaskFormer checkout (no mask_former/__init__.py): {INSTALL_HINT}"
        )
    return folder


def _import_mask_former(folder: Path | None):
    """MaskFormer's ``mask_former`` package, from the checkout ``folder`` (or wherever Python finds it)."""
    if sys.modules.get("mask_former") is not None:
        return sys.modules["mask_former"]
    try:
        if folder is None:
            return importlib.import_module("mask_former")
        # mask_former is a top-level package inside a repository checkout, not an installable
        # distribution, so the checkout has to be on sys.path while it is imported. Only for that: its
        # __init__ imports all of its modules, after which nothing needs the path, so it is removed again
        # and cannot shadow anything else.
        sys.path.insert(0, str(folder))
        try:
            return importlib.import_module("mask_former")
        finally:
            sys.path.remove(str(folder))
    except ImportError as err:
        where = f"from {folder}" if folder else f"({MASKFORMER_DIR_ENV} is not set)"
        raise GeolibError(f"cannot import MaskFormer's mask_former {where}: {err}; {INSTALL_HINT}") from None


def _config_path(config_file: str | os.PathLike, folder: Path | None) -> Path:
    path = Path(config_file).expanduser()
    if not path.is_file() and not path.is_absolute() and folder is not None:
        path = folder / path  # e.g. MASKFORMER_CONFIG, relative to the MaskFormer checkout
    if not path.is_file():
        raise DataError("no such config file (a detectron2 .yaml)", source=str(config_file))
    return path


def maskformer_config(config_file: str | os.PathLike, *, maskformer_dir: str | os.PathLike | None = None):
    """The detectron2 config of a MaskFormer yaml, set up as MaskFormer's ``demo.py`` does (not frozen).

    A relative ``config_file`` that is not found is looked up in the MaskFormer checkout.
    """
    _import_detectron2()
    folder = _maskformer_folder(maskformer_dir)
    mask_former = _import_mask_former(folder)
    import yaml
    from detectron2.config import get_cfg
    from detectron2.projects.deeplab import add_deeplab_config

    config_path = _config_path(config_file, folder)
    cfg = get_cfg()
    add_deeplab_config(cfg)
    mask_former.add_mask_former_config(cfg)
    try:
        cfg.merge_from_file(str(config_path))
    except (KeyError, ValueError, TypeError, AssertionError, yaml.YAMLError) as err:
        raise DataError(f"not a MaskFormer config: {err}", source=str(config_path)) from None
    classes = cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES
    if classes != NUM_CLASSES:
        raise DataError(
            f"the model predicts {classes} classes, expected the {NUM_CLASSES} of ADE20K-150",
            source=str(config_path),
            field="MODEL.SEM_SEG_HEAD.NUM_CLASSES",
        )
    return cfg


def _checkpointer(model):
    """detectron2's checkpointer (model-zoo formats, URLs, name matching) with safe file reading, and which
    keeps what did not fit, so that weights of another model fail loudly instead of leaving random layers."""
    import torch
    from detectron2.checkpoint import DetectionCheckpointer

    class SafeCheckpointer(DetectionCheckpointer):
        def _load_file(self, filename):
            if not filename.endswith(".pkl"):
                return super()._load_file(filename)  # .pth through _torch_load below
            data = load_pickled_arrays(filename)
            if not isinstance(data, dict) or "model" not in data:
                raise DataError(
                    "expected a detectron2 model-zoo checkpoint (a dict with 'model')", source=filename
                )
            return data

        def _torch_load(self, f):
            return torch.load(f, map_location="cpu", weights_only=True)

        def _load_model(self, checkpoint):
            self.incompatible = super()._load_model(checkpoint)
            return self.incompatible

    return SafeCheckpointer(model)


class Detectron2Segmenter:
    """MaskFormer (or any detectron2 model whose output is ``sem_seg`` over the 150 ADE20K classes).

    ``config_file``: a detectron2 yaml (MaskFormer's keys are added first); ``weights``: a ``.pkl``/``.pth``
    file or URL; ``device``: as :func:`geolib.profiles.device`; ``maskformer_dir``: the MaskFormer checkout
    (default ``$GEOLIB_MASKFORMER_DIR``).
    """

    def __init__(
        self,
        config_file: str | os.PathLike,
        weights: str | os.PathLike,
        device=None,
        *,
        maskformer_dir: str | os.PathLike | None = None,
    ):
        cfg = maskformer_config(config_file, maskformer_dir=maskformer_dir)
        from detectron2.data import transforms
        from detectron2.modeling import build_model

        weights = str(weights)
        if "://" not in weights and not Path(weights).is_file():
            raise DataError("no such weights file (a .pkl or .pth checkpoint)", source=weights)
        self.device = profiles.device(device)
        cfg.MODEL.WEIGHTS = weights
        cfg.MODEL.DEVICE = str(self.device)
        cfg.freeze()
        self.cfg = cfg

        self.model = build_model(cfg).eval()
        checkpointer = _checkpointer(self.model)
        checkpointer.load(weights)
        self._check_fit(checkpointer.incompatible, weights)
        # DefaultPredictor's test-time resize; the model itself resizes its output back to the input size
        self._resize = transforms.ResizeShortestEdge(
            [cfg.INPUT.MIN_SIZE_TEST, cfg.INPUT.MIN_SIZE_TEST], cfg.INPUT.MAX_SIZE_TEST
        )

    def _check_fit(self, incompatible, weights: str) -> None:
        # Missing buffers are rebuilt at init (e.g. Swin's relative_position_index); missing or
        # mis-shaped *parameters* mean the weights belong to another model.
        parameters = dict(self.model.named_parameters())
        missing = [key for key in incompatible.missing_keys if key in parameters]
        wrong = [key for key, *_ in incompatible.incorrect_shapes]
        if missing or wrong:
            examples = ", ".join((wrong + missing)[:3])
            raise DataError(
                f"these weights do not fit the config: {len(wrong)} parameters with other shapes, "
                f"{len(missing)} missing (e.g. {examples})",
                source=weights,
            )

    def _inputs(self, image: Image.Image) -> dict:
        import torch

        pixels = np.asarray(image)
        if self.cfg.INPUT.FORMAT == "BGR":
            pixels = pixels[:, :, ::-1]
        height, width = pixels.shape[:2]
        resized = self._resize.get_transform(pixels).apply_image(np.ascontiguousarray(pixels))
        tensor = torch.as_tensor(resized.astype("float32").transpose(2, 0, 1))
        return {"image": tensor, "height": height, "width": width}

    def segment(self, images, *, batch_size: int = 8, progress: bool = True) -> SegmentationBatch:
        """Segment PIL images or image paths (one or many): masks at each input's size and fractions."""
        import torch

        with torch.no_grad():
            return segment_in_batches(images, self._segment_batch, batch_size=batch_size, progress=progress)

    def _segment_batch(self, images: list[Image.Image]) -> list[np.ndarray]:
        import torch

        batch = [self._inputs(image) for image in images]
        # The model pads a batch to its largest image, and padding changes what a smaller image gets;
        # so only images of one shape go through together, and a mask never depends on its neighbours.
        outputs = {}
        for shape in {tuple(inputs["image"].shape) for inputs in batch}:
            group = [i for i, inputs in enumerate(batch) if tuple(inputs["image"].shape) == shape]
            outputs.update(zip(group, self.model([batch[i] for i in group]), strict=True))
        # sem_seg: (150, H, W) class scores at the input's own size
        return [outputs[i]["sem_seg"].argmax(dim=0).to(torch.uint8).cpu().numpy() for i in range(len(batch))]
