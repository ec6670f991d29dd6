"""ClueWorld samples: make one, make many in parallel, and write a world to disk with its exports."""

from __future__ import annotations

import contextlib
import json
import math
import numbers
import os
import shutil
import signal
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from geolib.errors import DataError, GeolibError
from geolib.formats.cvgtext import cvg_filename, write_annotations
from geolib.formats.osv5m import LocationRecord, write_osv5m_csv
from geolib.formats.sft import stage1_example, stage2_example, write_sft_json
from geolib.formats.validate import read_json_file
from geolib.iox import atomic_path, make_dir, write_text
from geolib.world.clues import describe, observe
from geolib.world.scene import DEFAULT_MIX, RICHNESS_LEVELS, make_scene
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


# Smallest images worth writing, measured on 100 scenes against the 256 px render: from 64 px on, 95 or
# more keep exactly the same visible clues (at 32 px only 90, at 16 px 78); a 32 px tile covers 100 m,
# so a 3 m lane is still about one pixel wide.
MIN_SIZE = 64
MIN_TILE_SIZE = 32


def _at_least(name: str, value, minimum: int, why: str = "") -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise GeolibError(f"{name} must be an integer of at least {minimum}{why}, got {value!r}")


def check_mix(mix: dict[str, float] | None) -> dict[str, float] | None:
    """``mix`` if it is a usable richness mix (``None`` or empty: the default one), else a GeolibError."""
    if not mix:
        return None
    unknown = sorted(set(mix) - set(RICHNESS_LEVELS))
    if unknown:
        raise GeolibError(f"mix: unknown richness {', '.join(unknown)}; use {', '.join(RICHNESS_LEVELS)}")
    for name, weight in mix.items():
        if isinstance(weight, bool) or not isinstance(weight, numbers.Real) or not math.isfinite(weight):
            raise GeolibError(f"mix: the weight of {name} must be a finite number, got {weight!r}")
        if weight < 0:
            raise GeolibError(f"mix: the weight of {name} must not be negative, got {weight!r}")
    if not sum(mix.values()) > 0:
        raise GeolibError(f"mix: at least one weight must be positive, got {mix}")
    return mix


def _check_settings(n, seed, size, tile_size, mix, workers, chunk) -> dict[str, float] | None:
    """Refuse arguments that would fail later or draw an unreadable world, before anything is written."""
    _at_least("n", n, 1)
    _at_least("seed", seed, 0)  # numpy's seed sequences take no negative numbers
    _at_least("size", size, MIN_SIZE, " pixels (smaller street views lose their clues)")
    _at_least("tile_size", tile_size, MIN_TILE_SIZE, " pixels (smaller tiles lose the road)")
    if workers is not None:
        _at_least("workers", workers, 1)
    _at_least("chunk", chunk, 1)
    return check_mix(mix)


def _ignore_sigint() -> None:
    # Ctrl-C reaches every process of the terminal's group: only the parent handles it (one message,
    # no traceback per worker); it then cancels the chunks that have not started.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _map_in_order(function, jobs: list, workers: int) -> Iterator:
    """``function(job)`` for each job, in order: in this process, or on a pool when it pays off."""
    if workers == 1 or len(jobs) <= 1:
        yield from map(function, jobs)
        return
    pool = ProcessPoolExecutor(max_workers=workers, initializer=_ignore_sigint)
    try:
        yield from pool.map(function, jobs)
    finally:
        # on an interruption, wait only for the chunks already running, not for all that are queued
        pool.shutdown(wait=True, cancel_futures=True)


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
    """Yield samples ``start .. start+n-1`` in order, rendered on ``workers`` processes (default: all cores).

    The arguments are checked on the call, not on the first sample.
    """
    mix = _check_settings(n, seed, size, tile_size, mix, workers, chunk)
    _at_least("start", start, 0)
    return _generate(n, seed, start, workers or os.cpu_count() or 1, size, tile_size, mix, chunk, progress)


def _generate(n, seed, start, workers, size, tile_size, mix, chunk, progress) -> Iterator[Sample]:
    from tqdm.auto import tqdm

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
WORLD_VERSION = 2


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


def _sample_record(line: bytes, path: Path, number: int) -> dict:
    try:
        record = json.loads(line)
    except ValueError as err:  # malformed JSON or bytes that are not UTF-8
        reason = err.msg if isinstance(err, json.JSONDecodeError) else "not UTF-8 text"
        raise DataError(f"malformed JSON: {reason}", source=str(path), record=f"line {number}") from None
    if not isinstance(record, dict) or type(record.get("index")) is not int:  # type(): a bool is no index
        raise DataError(
            "expected a sample with an integer 'index'", source=str(path), record=f"line {number}"
        )
    return record


def read_samples(out: str | Path) -> list[dict]:
    """Records of a written world, in index order.

    Only the text after the last newline can be cut short by an interruption: it is dropped unless it
    is a whole record. Any other bad line is a :class:`DataError` naming the file and the line.
    """
    path = Path(out) / "samples.jsonl"
    if not path.is_file():
        return []
    try:
        data = path.read_bytes()  # bytes: the cut may fall inside a UTF-8 character
    except OSError as err:
        raise DataError(f"cannot read: {err.strerror or err}", source=str(path)) from None
    *lines, tail = data.split(b"\n")
    records = {}
    for number, line in enumerate(lines, start=1):
        if line.strip():
            record = _sample_record(line, path, number)
            records[record["index"]] = record
    if tail.strip():
        with contextlib.suppress(DataError):
            record = _sample_record(tail, path, len(lines) + 1)
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

    mix = _check_settings(n, seed, size, tile_size, mix, workers, chunk)
    out = Path(out)
    settings = {
        "version": WORLD_VERSION,
        "seed": seed,
        "size": size,
        "tile_size": tile_size,
        "mix": mix or DEFAULT_MIX,
    }
    settings_path = out / "world.json"
    if settings_path.exists():
        previous = read_json_file(settings_path)
        if not isinstance(previous, dict):
            raise DataError("expected a JSON object with the world's settings", source=str(settings_path))
        if {k: previous.get(k) for k in settings} != settings:
            raise GeolibError(
                f"{out} holds a world made with {previous}; choose another --out or the same settings"
            )
    elif out.is_dir() and any(out.iterdir()):
        # every world starts with world.json: a full directory without one is someone else's (e.g. --out ~)
        raise GeolibError(f"{out} is not empty and holds no world.json; choose a new or empty directory")
    make_dir(out)
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
