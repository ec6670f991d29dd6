"""The course's LoRA runs on ClueWorld, built once and cached: the data, the adapters, their measurements.

Notebooks 04 and 05 (and the tests) share them, and each notebook runs on its own: whatever is missing is
made through the same functions a user calls (``write_world``, ``score_locatability``, ``curate``,
``train_adapter``), in the tiny profile in about a minute each.

* :func:`course_data`: a ClueWorld of 112-pixel views, scored with the locatability network and curated at
  the paper's threshold. The split keeps 100 m between training and held-out views (not OSV-5M's 1 km):
  ClueWorld puts every view within 1.5 km of its city centre, so a 1 km split would hold whole cities out and
  no model could name a city it has never seen.
* :func:`course_adapter`: ``stage1``, ``stage2`` (stacked on ``stage1``) and ``stage2-alone`` (the ablation).
* :func:`location_accuracy` and :func:`reason_quality`: the measurements of notebooks 04 and 05.
"""

from __future__ import annotations

from pathlib import Path

from geolib.errors import GeolibError
from geolib.formats.sft import STAGE1_PROMPT, STAGE2_PROMPT

SETTINGS = {
    "views": 2000,
    "seed": 0,
    "size": 112,
    "mix": {"rich": 0.6, "medium": 0.3, "poor": 0.1, "closeup": 0.0},
    "threshold": 0.4,
    "min_distance_km": 0.1,
}
# Epochs per run in the tiny profile: a stage-1 answer is about 150 tokens, a stage-2 one about 15, so stage 2
# affords more passes in the same minute. The full profile keeps the paper's 5 epochs.
RUNS = {
    "stage1": {"stage": 1, "init": None, "tiny_epochs": 2},
    "stage2": {"stage": 2, "init": "stage1", "tiny_epochs": 4},
    "stage2-alone": {"stage": 2, "init": None, "tiny_epochs": 4},
}


def runs_dir() -> Path:
    """Where this profile's runs live: a folder named after everything they depend on (the base model and
    the locatability network, which carry their own cache keys, the data settings, the runs and the
    recipe), so that a rebuilt model or a changed setting never reuses stale adapters."""
    import dataclasses
    import hashlib
    import json

    from geolib.lvlm.recipe import recipe
    from geolib.profiles import data_dir, model_folder_name, profile

    depends = {
        "models": [model_folder_name(name) for name in ("vlm", "locatability-net")],
        "settings": SETTINGS,
        "runs": RUNS,
        "recipe": dataclasses.asdict(recipe()),
    }
    key = hashlib.sha256(json.dumps(depends, sort_keys=True).encode()).hexdigest()[:12]
    return data_dir() / "lvlm-runs" / f"{profile()}-{key}"


def course_data(progress: bool = True) -> Path:
    """The curated folder (``splits.csv``, ``sft_stage{1,2}_{train,val,test}.json``), made on first use."""
    from geolib.batch import score_locatability
    from geolib.curation import curate
    from geolib.world import write_world

    root = runs_dir() / "data"
    curated = root / "curated"
    if (curated / "card.md").is_file():
        return curated
    world = root / "world"
    s = SETTINGS
    write_world(world, s["views"], s["seed"], size=s["size"], tile_size=32, mix=s["mix"], progress=progress)
    scores = root / "scores.csv"
    score_locatability([world / "streetview"], scores, method="network")
    curate(
        scores,
        world / "metadata.csv",
        curated,
        threshold=s["threshold"],
        min_distance_km=s["min_distance_km"],
        seed=s["seed"],
        progress=progress,
    )
    return curated


def adapter_ready(name: str) -> bool:
    """Whether run ``name`` is trained and cached (nothing is built to find out)."""
    if name not in RUNS:
        raise GeolibError(f"unknown run {name!r}; choose one of {', '.join(RUNS)}")
    return (runs_dir() / name / "geolib-train.json").is_file()


def course_adapter(name: str, progress: bool = True) -> Path:
    """The adapter directory of run ``name`` (see :data:`RUNS`), trained on first use."""
    from geolib.lvlm.train import train_adapter
    from geolib.profiles import profile

    out = runs_dir() / name
    if adapter_ready(name):
        return out
    run = RUNS[name]
    data = course_data(progress)
    init = course_adapter(run["init"], progress) if run["init"] else None
    stage = run["stage"]
    train_adapter(
        stage,
        data / f"sft_stage{stage}_train.json",
        out,
        val=data / f"sft_stage{stage}_val.json",
        init_adapter=init,
        without_stage1=init is None and stage == 2,
        epochs=run["tiny_epochs"] if profile() == "tiny" else None,
        resume=(out / "checkpoints").is_dir(),
        progress=progress,
    )
    return out


def held_out(split: str = "test", richness: str | None = "rich") -> list[dict]:
    """The curated views of ``split`` with their ClueWorld ground truth (clues, richness, reasoning)."""
    import pandas as pd

    from geolib.world import read_samples

    data = course_data(progress=False)
    table = pd.read_csv(data / "splits.csv", dtype={"id": str})
    table = table[table["split"] == split]
    truth = {record["id"]: record for record in read_samples(data.parent / "world")}
    views = []
    for row in table.itertuples():
        record = truth[row.id]
        if richness is None or record["richness"] == richness:
            views.append({**record, "path": str(data / row.path)})
    return views


def location_accuracy(
    model,
    processor,
    views: list[dict],
    *,
    prompt: str = STAGE2_PROMPT,
    max_new_tokens: int = 32,
    progress: bool = True,
) -> dict:
    """Country and city accuracy (and the rest of ``geolib.geo.evaluate``) of the answers to ``prompt`` on
    ``views``: the stage-2 prompt by default; a stage-1 model is asked its own (``STAGE1_PROMPT``, with room
    for the reasons), whose answer names a country and no city."""
    from geolib.geo.evaluate import Truth, evaluate, prediction_from_answer
    from geolib.lvlm.generate import answer_images

    answers = answer_images(
        model, processor, [v["path"] for v in views], prompt, max_new_tokens=max_new_tokens, progress=progress
    )
    predictions = [prediction_from_answer(v["id"], text) for v, text in zip(views, answers, strict=True)]
    truths = [Truth(v["id"], v["latitude"], v["longitude"], v["country"], v["city"]) for v in views]
    metrics = evaluate(predictions, truths)
    metrics["answers"] = answers
    return metrics


def reason_quality(model, processor, views: list[dict], *, max_new_tokens: int = 240, progress: bool = True):
    """Stage-1 answers on ``views``: country accuracy and the clue recall / precision of the reasons."""
    from geolib.errors import DataError
    from geolib.formats.sft import parse_answer
    from geolib.geo.countries import normalize_country
    from geolib.lvlm.generate import answer_images
    from geolib.lvlm.reasons import clue_scores

    answers = answer_images(
        model,
        processor,
        [v["path"] for v in views],
        STAGE1_PROMPT,
        max_new_tokens=max_new_tokens,
        progress=progress,
    )
    reasons, correct = [], 0
    for view, text in zip(views, answers, strict=True):
        try:
            parsed = parse_answer(text)
        except DataError:
            parsed = {}
        reasons.append(str(parsed.get("reasons", text)))
        correct += normalize_country(str(parsed.get("country", ""))) == view["country"]
    scores = clue_scores(reasons, [v["clues"] for v in views])
    return {"country_accuracy": correct / len(views) if views else 0.0, "answers": answers, **scores}
