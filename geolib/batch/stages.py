"""The two batch stages behind ``geolib segment`` and ``geolib locatability``.

``segment_images`` writes ``DIR/masks/<id>.png`` (ADE20K-150 ids 0..149, as ClueWorld's masks) and
``DIR/fractions.csv`` (``id,path`` then the 150 class names in id order; each row sums to 1).

``score_locatability`` writes ``scores.csv``: ``id,path,locatability`` and, for ``method="formula"``
(segment, then GeoReasoner's weighted sum), two columns that help curation: ``clue_pixel_share``, the
share of pixels in classes whose weight is above the median weight (how much of the view could hold
a clue), and ``top_class``, the class that adds most to the score (why the image scored as it did).
``method="network"`` (the CLIP-based net, no segmentation) gives the score alone.

Both skip unreadable images into ``DIR/skipped.csv`` / ``scores.skipped.csv`` and resume when rerun
(see :mod:`geolib.batch.runner`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from geolib.batch.inputs import Item, collect_inputs
from geolib.batch.runner import Output, Summary, run_batch
from geolib.errors import GeolibError
from geolib.iox import atomic_path

METHODS = ("formula", "network")
BACKENDS = ("transformers", "detectron2")


def _number(value: float) -> str:
    return "0" if value == 0 else repr(float(value))  # exact, and short for the many empty classes


def _model_identity(name: str, given: str | None) -> str:
    """What the settings record for a model: the name given, else the registry's hub id (full) or
    versioned tiny folder name (tiny), found without building anything."""
    from geolib import profiles

    if given:
        return given
    if profiles.profile() == "full":
        return profiles.spec(name).hub_id
    return profiles.tiny_model_dir(name).name


def _segmenter_identity(model: str | None, backend: str) -> str:
    if backend not in BACKENDS:
        raise GeolibError(f"backend {backend!r} is not one of {', '.join(BACKENDS)}")
    if backend == "transformers":
        return _model_identity("segmenter", model)
    if model:
        raise GeolibError(
            "--model names a transformers checkpoint; the detectron2 backend runs the paper's MaskFormer "
            "(use geolib.segmentation.detectron2_backend.Detectron2Segmenter for other weights)"
        )
    from geolib.segmentation.detectron2_backend import MASKFORMER_CONFIG, MASKFORMER_WEIGHTS

    return f"detectron2 {MASKFORMER_CONFIG} {MASKFORMER_WEIGHTS}"


def _segmenter_scorer(model: str | None, backend: str):
    def make(device):
        from geolib.segmentation import load_segmenter

        return load_segmenter(model, backend=backend, device=device)

    return make


def segment_images(
    inputs,
    out,
    *,
    batch_size: int = 8,
    backend: str = "transformers",
    model: str | None = None,
    log=None,
) -> Summary:
    """Segment every image of ``inputs`` (files, folders, metadata CSVs) into the folder ``out``."""
    from geolib.ade20k import class_names

    out = Path(out)
    identity = _segmenter_identity(model, backend)  # checks the arguments before any work
    load = _segmenter_scorer(model, backend)
    masks = out / "masks"
    output = Output(
        table=out / "fractions.csv",
        skipped=out / "skipped.csv",
        settings=out / "settings.json",
        parts=out / ".parts",
        columns=tuple(class_names()),
        artifact=lambda item: masks / f"{item.id}.png",
        folder=out,
    )

    def make_scorer(device):
        segmenter = load(device)

        def score(items: list[Item], images: list) -> list:
            batch = segmenter.segment(images, batch_size=batch_size, progress=False)
            for item, mask in zip(items, batch.masks, strict=True):
                with atomic_path(output.artifact(item)) as tmp:
                    Image.fromarray(np.asarray(mask, dtype=np.uint8)).save(tmp, format="PNG")
            return [[_number(v) for v in row] for row in batch.fractions]

        return score

    settings = {"command": "segment", "backend": backend, "model": identity}
    return run_batch(
        collect_inputs(inputs, exclude=[out]),  # never segment our own masks on a rerun
        output,
        settings,
        make_scorer,
        batch_size=batch_size,
        desc="segment",
        log=log,
    )


def file_output(out, columns: tuple[str, ...]) -> Output:
    """A batch command's output that is one table file ``out`` (``scores.csv``, ``predictions.jsonl``), with
    ``<stem>.skipped.csv`` and ``<stem>.settings.json`` beside it."""
    out = Path(out)
    stem = out.with_suffix("") if out.suffix.lower() in (".csv", ".jsonl") else out
    return Output(
        table=out,
        skipped=stem.with_name(f"{stem.name}.skipped.csv"),
        settings=stem.with_name(f"{stem.name}.settings.json"),
        parts=out.with_name(f".{out.name}.parts"),
        columns=columns,
    )


def score_locatability(
    inputs, out, *, method: str = "formula", batch_size: int | None = None, log=None
) -> Summary:
    """Score every image of ``inputs`` into the CSV ``out`` (see the module docstring for the columns)."""
    if method not in METHODS:
        raise GeolibError(f"method {method!r} is not one of {', '.join(METHODS)}")
    batch_size = batch_size if batch_size is not None else (8 if method == "formula" else 32)
    output = file_output(
        out,
        ("locatability", "clue_pixel_share", "top_class") if method == "formula" else ("locatability",),
    )
    if method == "formula":
        make_scorer = _formula_scorer(batch_size)
        model = _model_identity("segmenter", None)
    else:
        make_scorer = _network_scorer(batch_size)
        model = _model_identity("locatability-net", None)
    settings = {"command": "locatability", "method": method, "model": model}
    return run_batch(
        collect_inputs(inputs),
        output,
        settings,
        make_scorer,
        batch_size=batch_size,
        desc="locatability",
        log=log,
    )


def _formula_scorer(batch_size: int):
    from geolib.ade20k import short_name
    from geolib.locatability import locatability_from_fractions, published_weights

    weights = published_weights()
    clue_classes = weights > np.median(weights)
    load = _segmenter_scorer(None, "transformers")

    def make(device):
        segmenter = load(device)

        def score(items: list[Item], images: list) -> list:
            fractions = segmenter.segment(images, batch_size=batch_size, progress=False).fractions
            scores = locatability_from_fractions(fractions)
            shares = np.minimum(fractions[:, clue_classes].sum(axis=1), 1.0)  # a sum of floats can pass 1
            top = (fractions * weights).argmax(axis=1)
            return [
                [_number(s), _number(share), short_name(int(k))]
                for s, share, k in zip(scores, shares, top, strict=True)
            ]

        return score

    return make


def _network_scorer(batch_size: int):
    def make(device):
        from geolib.locatability.network import load_locatability_net

        net = load_locatability_net(device=device)

        def score(items: list[Item], images: list) -> list:
            return [[_number(s)] for s in net.predict(images, batch_size=batch_size, progress=False)]

        return score

    return make
