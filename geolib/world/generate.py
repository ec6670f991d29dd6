"""ClueWorld samples: make one, make many in parallel, and write a world to disk with its exports."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from geolib.errors import GeolibError
from geolib.formats.cvgtext import cvg_filename, write_annotations
from geolib.formats.osv5m import LocationRecord, write_osv5m_csv
from geolib.formats.sft import stage1_example, stage2_example, write_sft_json
from geolib.iox import atomic_path, write_text
from geolib.world.clues import describe, observe
from geolib.world.scene import DEFAULT_MIX, make_scene
from geolib.world.street import render_street
from geolib.world.text import describe_scene, reasoning_trace
from geolib.world.tiles import render_osm, render_satellite


@dataclass
class Sample:
    """One geo-tagged ClueWorld sample with its ground truth."""

    id: str
    seed: int
    index: int
    latitude: float
    longitude: float
    country: str  # ISO 3166-1 alpha-2
    country_name: str
    region: str
    city: str
    richness: str
    climate: str
    heading: float
    clues: dict[str, str]  # visible clue -> words
    description: str
    reasoning: str
    image: Image.Image | None = field(default=None, repr=False)
    mask: np.ndarray | None = field(default=None, repr=False)
    satellite: Image.Image | None = field(default=None, repr=False)
    osm: Image.Image | None = field(default=None, repr=False)

    def record(self) -> dict:
        """The JSON-serialisable ground truth (no pixels)."""
        return {k: v for k, v in self.__dict__.items() if k not in ("image", "mask", "satellite", "osm")}


def make_sample(
    seed: int, index: int, *, size: int = 256, tile_size: int = 128, mix: dict[str, float] | None = None
) -> Sample:
    """Sample ``index`` of world ``seed``: a pure function of its arguments."""
    scene = make_scene(seed, index, mix)
    view = render_street(scene, size, size)
    observations = observe(scene, view)
    return Sample(
        id=scene.id,
        seed=seed,
        index=index,
        latitude=scene.lat,
        longitude=scene.lon,
        country=scene.country.iso2,
        country_name=scene.country.name,
        region=scene.city.region,
        city=scene.city.name,
        richness=scene.richness,
        climate=scene.climate,
        heading=round(scene.heading, 2),
        clues={clue: describe(clue, value) for clue, value in observations.items()},
        description=describe_scene(scene, view),
        reasoning=reasoning_trace(scene, observations),
        image=view.image,
        mask=view.mask,
        satellite=render_satellite(scene, tile_size),
        osm=render_osm(scene, tile_size),
    )


def _map_in_order(function, jobs: list, workers: int) -> Iterator:
    """``function(job)`` for each job, in order: in this process, or on a pool when it pays off."""
    if workers == 1 or len(jobs) <= 1:
        yield from map(function, jobs)
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        yield from pool.map(function, jobs)


def _make_chunk(args) -> list[Sample]:
    seed, indices, size, tile_size, mix = args
    return [make_sample(seed, i, size=size, tile_size=tile_size, mix=mix) for i in indices]


def generate(
    n: int,
    seed: int = 0,
    *,
    start: int = 0,
    workers: int | None = None,
    size: int = 256,
    tile_size: int = 128,
    mix: dict[str, float] | None = None,
    chunk: int = 64,
    progress: bool = True,
) -> Iterator[Sample]:
    """Yield samples ``start .. start+n-1`` in order, rendered on ``workers`` processes (default: all cores)."""
    from tqdm.auto import tqdm

    workers = workers or os.cpu_count() or 1
    jobs = [
        (seed, range(i, min(i + chunk, start + n)), size, tile_size, mix)
        for i in range(start, start + n, chunk)
    ]
    with tqdm(total=n, desc="ClueWorld", unit="sample", disable=not progress) as bar:
        for samples in _map_in_order(_make_chunk, jobs, workers):
            bar.update(len(samples))
            yield from samples


# ----------------------------------------------------------------------------- writing a world

# Bump when a change to ClueWorld's code changes what a (seed, index) renders: cached worlds then rebuild.
WORLD_VERSION = 1


def _save(image: Image.Image, path: Path, **options) -> None:
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG" if path.suffix == ".png" else "JPEG", **options)


def _write_chunk(args) -> list[dict]:
    seed, indices, size, tile_size, mix, out = args
    out = Path(out)
    records = []
    for index in indices:
        sample = make_sample(seed, index, size=size, tile_size=tile_size, mix=mix)
        _save(sample.image, out / "streetview" / f"{sample.id}.jpg", quality=92)
        _save(Image.fromarray(sample.mask), out / "masks" / f"{sample.id}.png")
        _save(sample.satellite, out / "satellite" / f"{sample.id}.jpg", quality=90)
        _save(sample.osm, out / "osm" / f"{sample.id}.png")
        records.append(sample.record())
    return records


def read_samples(out: str | Path) -> list[dict]:
    """Records of a written world, in index order (lines cut short by an interruption are dropped)."""
    path = Path(out) / "samples.jsonl"
    if not path.is_file():
        return []
    records = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        records[record["index"]] = record
    return [records[i] for i in sorted(records)]


def write_world(
    out: str | Path,
    n: int,
    seed: int = 0,
    *,
    size: int = 256,
    tile_size: int = 128,
    mix: dict[str, float] | None = None,
    workers: int | None = None,
    chunk: int = 32,
    progress: bool = True,
) -> list[dict]:
    """Write ``n`` samples and every export under ``out``; resumes where an earlier run stopped.

    Layout: ``streetview/ID.jpg``, ``masks/ID.png`` (ADE20K-150 ids), ``satellite/ID.jpg``, ``osm/ID.png``,
    ``samples.jsonl`` (all ground truth), ``world.json`` (the settings), and the exports
    ``metadata.csv`` (OSV-5M), ``sft_stage1.json`` / ``sft_stage2.json`` (GeoReasoner) and ``cvgtext/``.
    """
    from tqdm.auto import tqdm

    out = Path(out)
    settings = {
        "version": WORLD_VERSION,
        "seed": seed,
        "size": size,
        "tile_size": tile_size,
        "mix": mix or DEFAULT_MIX,
    }
    settings_path = out / "world.json"
    if settings_path.is_file():
        previous = json.loads(settings_path.read_text())
        if {k: previous.get(k) for k in settings} != settings:
            raise GeolibError(
                f"{out} holds a world made with {previous}; choose another --out or the same settings"
            )
    out.mkdir(parents=True, exist_ok=True)
    write_text(settings_path, json.dumps(settings, indent=1))
    finished = read_samples(out)
    # Keep only whole records, so that a line cut short by an interruption cannot swallow the next one.
    write_text(out / "samples.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in finished))
    done = {r["index"] for r in finished}
    todo = [i for i in range(n) if i not in done]
    jobs = [(seed, todo[i : i + chunk], size, tile_size, mix, str(out)) for i in range(0, len(todo), chunk)]
    workers = workers or os.cpu_count() or 1
    with (
        (out / "samples.jsonl").open("a", encoding="utf-8") as log,
        tqdm(total=n, initial=len(done), desc="ClueWorld", unit="sample", disable=not progress) as bar,
    ):
        for records in _map_in_order(_write_chunk, jobs, workers):
            log.writelines(json.dumps(record, ensure_ascii=False) + "\n" for record in records)
            log.flush()  # each finished chunk is on disk before the next one is awaited
            bar.update(len(records))
    records = [r for r in read_samples(out) if r["index"] < n]
    export_world(out, records)
    return records


def export_world(out: str | Path, records: list[dict]) -> None:
    """Write the OSV-5M CSV, the two GeoReasoner SFT files and the CVG-Text layout from ``records``."""
    out = Path(out)
    write_osv5m_csv(
        (
            LocationRecord(r["id"], r["latitude"], r["longitude"], r["country"], r["region"], r["city"])
            for r in records
        ),
        out / "metadata.csv",
    )
    write_sft_json(
        [
            stage1_example(r["id"], f"streetview/{r['id']}.jpg", r["country_name"], r["reasoning"])
            for r in records
        ],
        out / "sft_stage1.json",
    )
    write_sft_json(
        [stage2_example(r["id"], f"streetview/{r['id']}.jpg", r["country_name"], r["city"]) for r in records],
        out / "sft_stage2.json",
    )
    cvg = out / "cvgtext"
    descriptions = {}
    for r in records:
        name = cvg_filename(r["latitude"], r["longitude"], r["id"])
        for view, source in (
            ("query", f"streetview/{r['id']}.jpg"),
            ("satellite", f"satellite/{r['id']}.jpg"),
            ("osm", f"osm/{r['id']}.png"),
        ):
            target = cvg / view / (Path(name).stem + Path(source).suffix)
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                try:
                    os.link(out / source, target)  # no second copy of the pixels
                except OSError:
                    shutil.copyfile(out / source, target)
        descriptions[name] = r["description"]
    write_annotations(cvg, descriptions)


DEFAULT_WORLD_SIZE = {"tiny": 2000, "full": 20000}


def ensure_world(n: int | None = None, seed: int = 0, *, progress: bool = True) -> Path:
    """The course's shared ClueWorld under the cache directory, written (or completed) on first use."""
    from geolib.profiles import data_dir, profile

    n = n or DEFAULT_WORLD_SIZE[profile()]
    out = data_dir() / "clueworld" / f"v{WORLD_VERSION}-seed{seed}"
    if len(read_samples(out)) < n or not (out / "cvgtext" / "annotations.json").is_file():
        write_world(out, n, seed, progress=progress)
    return out
