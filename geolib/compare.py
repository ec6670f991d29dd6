"""One table that compares every model on one held-out set (notebook 06).

Rows: the base vision-language model, stage 1, stage 2 stacked on stage 1, stage 2 without stage 1 (the
course's LoRA runs), ClueWorld's pixel baseline classifier (``geolib.world.baseline``) and a retrieval
baseline: each held-out view takes the place of its nearest neighbour, by image embedding, in the training
gallery (the approach of GeoCLIP and PIGEON's retrieval stage, with the locatability network's CLIP image
tower as the embedding). Columns: country and city precision / recall / F1, accuracy at 1 / 25 / 200 /
750 / 2500 km and the mean GeoScore, all from ``geolib.geo.evaluate``.

The measurements are cached beside the runs they measure (``geolib.lvlm.runs.runs_dir``), so notebook 06
and the tests compute them once.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from geolib.geo.evaluate import Prediction, Truth, evaluate

# the paper's country and city F1 (Table 3 of GeoReasoner) beside the rows they correspond to
PAPER_F1 = {
    "stage 1 only": (0.8215, 0.5813),
    "stage 2 on stage 1": (0.9033, 0.8584),
    "stage 2 without stage 1": (0.8766, 0.8255),
}
LVLM_ROWS = {  # row: (course run or None for the base model, prompt)
    "base model": (None, "stage2"),
    "stage 1 only": ("stage1", "stage1"),
    "stage 2 on stage 1": ("stage2", "stage2"),
    "stage 2 without stage 1": ("stage2-alone", "stage2"),
}


def truths_of(views: list[dict]) -> list[Truth]:
    return [Truth(v["id"], v["latitude"], v["longitude"], v["country"], v["city"]) for v in views]


def baseline_predictions(train: list[dict], test: list[dict]) -> list[Prediction]:
    """ClueWorld's pixel classifier (thumbnail + colour histogram, logistic regression): a country each."""
    from geolib.images import load_image
    from geolib.world.baseline import fit_country_baseline, pixel_features

    model = fit_country_baseline([load_image(v["path"]) for v in train], [v["country"] for v in train])
    codes = model.predict(pixel_features([load_image(v["path"]) for v in test]))
    return [Prediction(v["id"], str(code)) for v, code in zip(test, codes, strict=True)]


def retrieval_predictions(train: list[dict], test: list[dict], *, progress: bool = False) -> list[Prediction]:
    """Each test view gets the country, city and point of its nearest training view (cosine similarity of
    the image embeddings, centred on the gallery's mean)."""
    from geolib.locatability.network import load_locatability_net

    net = load_locatability_net()
    gallery = net.embed([v["path"] for v in train], progress=progress)
    queries = net.embed([v["path"] for v in test], progress=progress)
    mean = gallery.mean(axis=0)
    gallery, queries = gallery - mean, queries - mean
    gallery /= np.linalg.norm(gallery, axis=1, keepdims=True) + 1e-12
    queries /= np.linalg.norm(queries, axis=1, keepdims=True) + 1e-12
    nearest = (queries @ gallery.T).argmax(axis=1)
    return [
        Prediction(
            v["id"], train[k]["country"], train[k]["city"], train[k]["latitude"], train[k]["longitude"]
        )
        for v, k in zip(test, nearest, strict=True)
    ]


def metrics_row(metrics: dict) -> dict:
    """The table's columns from ``evaluate``'s result."""
    row = {}
    for level in ("country", "city"):
        for key in ("precision", "recall", "f1"):
            row[f"{level} {key[0].upper() if key != 'f1' else 'F1'}"] = metrics[level][key]
    for key, value in metrics["distance"].items():
        if key.startswith("acc@"):
            row[key] = value
    row["GeoScore"] = metrics["distance"]["geoscore"]
    return row


def comparison(richness: str | None = "rich", *, progress: bool = True):
    """The comparison table (a DataFrame indexed by model, with the paper's F1 where it has one)."""
    import pandas as pd

    rows = {
        name: metrics_row(metrics)
        for name, metrics in comparison_metrics(richness, progress=progress).items()
    }
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "model"
    table["paper country F1"] = [PAPER_F1.get(name, (np.nan, np.nan))[0] for name in table.index]
    table["paper city F1"] = [PAPER_F1.get(name, (np.nan, np.nan))[1] for name in table.index]
    return table


def comparison_path(richness: str | None = "rich") -> Path:
    """Where :func:`comparison_metrics` caches its result."""
    from geolib.lvlm import runs

    return runs.runs_dir() / f"comparison-{richness or 'all'}.json"


def comparison_metrics(richness: str | None = "rich", *, progress: bool = True) -> dict[str, dict]:
    """Every row's full ``evaluate`` result (confusion matrix and per-country scores included), computed once
    and cached as JSON beside the course's runs."""
    from geolib.formats.sft import STAGE1_PROMPT, STAGE2_PROMPT
    from geolib.formats.validate import read_json_file
    from geolib.iox import write_json
    from geolib.lvlm import runs
    from geolib.lvlm.adapters import load_adapters
    from geolib.lvlm.model import load_vlm

    cached = comparison_path(richness)
    if cached.is_file():
        return read_json_file(cached)
    test = runs.held_out("test", richness=richness)
    train = runs.held_out("train", richness=None)
    prompts = {"stage1": (STAGE1_PROMPT, 240), "stage2": (STAGE2_PROMPT, 32)}
    results = {}
    for name, (run, prompt) in LVLM_ROWS.items():
        model, processor = load_vlm()
        if run is not None:
            model = load_adapters(model, runs.course_adapter(run, progress=progress))
        text, tokens = prompts[prompt]
        metrics = runs.location_accuracy(
            model, processor, test, prompt=text, max_new_tokens=tokens, progress=progress
        )
        results[name] = {key: value for key, value in metrics.items() if key != "answers"}
    truths = truths_of(test)
    results["pixel baseline (ClueWorld)"] = evaluate(baseline_predictions(train, test), truths)
    results["nearest-neighbour retrieval"] = evaluate(
        retrieval_predictions(train, test, progress=progress), truths
    )
    write_json(cached, results)
    return results
