"""Everything the tiny course builds, built in one go, and the workshop kit that carries it to other laptops.

* :func:`build_course` makes (or finds) every cached asset the notebooks use: the tiny models, the LoRA runs
  of notebooks 04-06 with their comparison, the retrieval runs of notebook 07. Two chains of builds run side
  by side, one per core, each build on one thread.
* :func:`pack` writes those assets into one tar archive whose first member, ``geolib-kit.json``, lists the
  library versions, the cache folders and the size and SHA-256 of every file.
* :func:`unpack` checks an archive and installs it into this machine's data directory. The cache folders
  are named by keys that hash the library versions and builders (``profiles.tiny_key``), so a kit made with
  other versions would never be used: it is refused, with the versions that differ.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tarfile
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from geolib import profiles
from geolib.errors import GeolibError

KIT_MANIFEST = "geolib-kit.json"
KIT_FORMAT = 1
# ClueWorld folders that notebooks write for themselves (03: its scored world on disk). Their names carry no
# cache key (a world is a function of its settings and geolib's WORLD_VERSION, checked by write_world), so a kit
# brings them along when they exist and never replaces a learner's copy.
GENERATED_DATA = ("notebook03",)
SKIPPED_NAMES = ("checkpoint", "checkpoints")  # resume state of finished runs: large, never read again


# ----------------------------------------------------------------------------- the assets


def _model(name: str) -> tuple[Callable[[], bool], Callable[[], object]]:
    return (
        lambda: (profiles.tiny_model_dir(name) / profiles.MANIFEST).is_file(),
        lambda: profiles.build_tiny(name),
    )


def _adapter(name: str) -> tuple[Callable[[], bool], Callable[[], object]]:
    from geolib.lvlm import runs

    return lambda: runs.adapter_ready(name), lambda: runs.course_adapter(name, progress=False)


def _comparison() -> tuple[Callable[[], bool], Callable[[], object]]:
    from geolib import compare

    return lambda: compare.comparison_path().is_file(), lambda: compare.comparison_metrics(progress=False)


def _retrieval(name: str) -> tuple[Callable[[], bool], Callable[[], object]]:
    from geolib.retrieval import runs

    return lambda: runs.model_ready(name), lambda: runs.course_model(name, progress=False)


def asset_chains() -> list[list[str]]:
    """The course's assets in two chains, each in the order its dependencies need and about equally long on
    one core."""
    from geolib.lvlm.runs import RUNS as LVLM_RUNS
    from geolib.retrieval.runs import RUNS as RETRIEVAL_RUNS

    # the segmenter alone takes about 11 minutes; the retrieval model goes first so that its runs, at the
    # end of the other chain, never wait for it
    first = ["model:retrieval", "model:segmenter"]
    second = ["model:sentence-encoder", "model:locatability-net", "model:vlm"]
    second += [f"lvlm:{name}" for name in LVLM_RUNS] + ["lvlm:comparison"]
    second += [f"retrieval:{name}" for name in RETRIEVAL_RUNS]
    named = {name.removeprefix("model:") for name in first + second if name.startswith("model:")}
    second += [f"model:{name}" for name in sorted(set(profiles.registered()) - named)]  # models added later
    return [first, second]


def _asset(name: str) -> tuple[Callable[[], bool], Callable[[], object]]:
    kind, _, which = name.partition(":")
    if kind == "model":
        return _model(which)
    if name == "lvlm:comparison":
        return _comparison()
    if kind == "lvlm":
        return _adapter(which)
    if kind == "retrieval":
        return _retrieval(which)
    raise GeolibError(f"unknown course asset {name!r}")


@dataclass
class AssetBuild:
    asset: str
    built: bool
    seconds: float


def asset_ready(name: str) -> bool:
    """Whether the asset ``name`` (see :func:`asset_chains`) is cached; nothing is built to find out."""
    return _asset(name)[0]()


def build_asset(name: str) -> AssetBuild:
    """Make one asset unless it is cached; says which it was and how long it took."""
    started = time.perf_counter()
    built = not asset_ready(name)
    if built:
        _asset(name)[1]()
    result = AssetBuild(name, built, round(time.perf_counter() - started, 1))
    print(
        f"  {name}: {'built in ' + format(result.seconds, '.0f') + ' s' if built else 'cached'}", flush=True
    )
    return result


def _build_chain(names: list[str], threads: int | None) -> list[AssetBuild]:
    if threads:
        import torch

        torch.set_num_threads(threads)
    return [build_asset(name) for name in names]


def build_course(jobs: int = 2) -> list[AssetBuild]:
    """Make every asset the tiny course uses (see :func:`asset_chains`), ``jobs`` chains at a time."""
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise GeolibError(f"--jobs must be a whole number of at least 1, not {jobs!r}")
    if profiles.profile() != "tiny":
        raise GeolibError(
            "the course's assets are the tiny profile's; the full profile loads hub checkpoints"
        )
    profiles.data_dir()  # an unwritable data directory fails here, before any work
    chains = asset_chains()
    if jobs == 1:
        return _build_chain([name for chain in chains for name in chain], None)
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("spawn")  # no forked copy of an initialised torch
    with ProcessPoolExecutor(max_workers=min(jobs, len(chains)), mp_context=context) as pool:
        futures = [pool.submit(_build_chain, chain, 1) for chain in chains]
        return [build for future in futures for build in future.result()]


# ----------------------------------------------------------------------------- what a kit holds


def cache_folders() -> list[str]:
    """The data directory's folders (relative paths) that this installation's course reads; their names
    carry the cache keys, so they change whenever a library version or a builder does."""
    from geolib.lvlm.runs import runs_dir as lvlm_runs_dir
    from geolib.retrieval.runs import runs_dir as retrieval_runs_dir

    root = profiles.default_data_dir()
    folders = [f"models/{profiles.tiny_model_dir(name).name}" for name in sorted(profiles.registered())]
    folders += [str(path.relative_to(root)) for path in (lvlm_runs_dir(), retrieval_runs_dir())]
    return folders


def _kit_files(root: Path, folder: str) -> list[Path]:
    files = []
    for dirpath, dirnames, filenames in os.walk(root / folder):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIPPED_NAMES and not d.endswith(".tmp"))
        files += [Path(dirpath) / name for name in sorted(filenames) if not name.endswith((".lock", ".tmp"))]
    return files


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _libraries() -> dict[str, str]:
    libraries: set[str] = set()
    for model in profiles.registered().values():
        libraries.update(model.libraries)
    return profiles.library_versions(tuple(sorted(libraries)))


def pack(out: str | Path, *, jobs: int = 2, progress: bool = True) -> dict:
    """Build what is missing, then write every course asset into the tar archive ``out`` (gzip-compressed if
    its name ends in ``.gz`` or ``.tgz``); returns the manifest."""
    from tqdm.auto import tqdm

    from geolib.iox import atomic_path, check_writable

    out = Path(out)
    check_writable(out)
    build_course(jobs)
    root = profiles.default_data_dir()
    folders = cache_folders()
    extras = [folder for folder in GENERATED_DATA if (root / folder).is_dir()]
    files = [path for folder in folders + extras for path in _kit_files(root, folder)]
    manifest = {
        "kit_format": KIT_FORMAT,
        "profile": "tiny",
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "libraries": _libraries(),
        "folders": folders,
        "extras": extras,
        "files": {},
    }
    for path in tqdm(files, desc="checksums", unit="file", disable=not progress):
        manifest["files"][path.relative_to(root).as_posix()] = [path.stat().st_size, _sha256(path)]
    mode = "w:gz" if out.name.endswith((".gz", ".tgz")) else "w"
    # dereference: a tiny model may link to files of this machine's installation (the sentence encoder does)
    with atomic_path(out) as tmp, tarfile.open(tmp, mode, dereference=True) as archive:
        data = json.dumps(manifest, indent=1).encode()
        info = tarfile.TarInfo(KIT_MANIFEST)
        info.size, info.mtime, info.mode = len(data), int(time.time()), 0o644
        archive.addfile(info, io.BytesIO(data))
        for path in tqdm(files, desc="packing", unit="file", disable=not progress):
            archive.add(path, arcname=path.relative_to(root).as_posix(), recursive=False)
    return manifest


# ----------------------------------------------------------------------------- unpacking


def read_manifest(kit: str | Path) -> dict:
    """The manifest of the kit ``kit``; a clear error if it is not a readable geolib kit."""
    kit = Path(kit)
    if not kit.is_file():
        raise GeolibError(f"{kit}: no such kit file" if not kit.exists() else f"{kit}: not a file")
    try:
        with tarfile.open(kit) as archive:
            member = archive.next()
            if member is None or member.name != KIT_MANIFEST:
                raise GeolibError(f"{kit}: not a geolib course kit (no {KIT_MANIFEST} at its start)")
            manifest = json.load(archive.extractfile(member))
    except (tarfile.TarError, OSError, EOFError) as err:
        raise GeolibError(f"{kit}: not a readable kit archive ({err})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise GeolibError(f"{kit}: its {KIT_MANIFEST} is not JSON ({err})") from None
    if not isinstance(manifest, dict) or manifest.get("kit_format") != KIT_FORMAT:
        raise GeolibError(
            f"{kit}: kit format {manifest.get('kit_format')!r} is not {KIT_FORMAT}; pack it again"
        )

    def entry_ok(entry) -> bool:
        return (
            isinstance(entry, list)
            and len(entry) == 2
            and isinstance(entry[0], int)
            and isinstance(entry[1], str)
            and len(entry[1]) == 64
        )

    shapes = {
        "folders": lambda v: isinstance(v, list) and all(isinstance(f, str) for f in v),
        "extras": lambda v: isinstance(v, list) and all(isinstance(f, str) for f in v),
        "libraries": lambda v: isinstance(v, dict) and all(isinstance(x, str) for x in v.values()),
        "files": lambda v: isinstance(v, dict) and all(entry_ok(e) for e in v.values()),
    }
    for key, ok in shapes.items():
        if not ok(manifest.get(key, [] if key == "extras" else None)):
            raise GeolibError(f"{kit}: its {KIT_MANIFEST} has no valid {key!r}")
    return manifest


def mismatch(manifest: dict) -> str:
    """Why this installation would not use the kit's caches ('' if it would)."""
    wanted = cache_folders()
    if sorted(manifest["folders"]) == sorted(wanted):
        return ""
    here = _libraries()
    differ = [
        f"{lib} {version} in the kit, {here.get(lib, 'absent')} here"
        for lib, version in sorted(manifest["libraries"].items())
        if here.get(lib) != version
    ]
    if differ:
        return "it was made with other library versions: " + "; ".join(differ)
    missing = sorted(set(wanted) - set(manifest["folders"]))
    return "it was made by another version of the course (it lacks " + ", ".join(missing) + ")"


def unpack(kit: str | Path, *, progress: bool = True) -> dict[str, str]:
    """Check the kit ``kit`` and install its folders into the data directory; returns what happened to each
    folder: 'installed', 'replaced' (a cache folder of the same key, perhaps half built) or, for generated
    data, 'kept (already here)'. Nothing is installed unless every file's checksum is right."""
    from tqdm.auto import tqdm

    from geolib.iox import make_dir

    if profiles.profile() != "tiny":
        raise GeolibError("a course kit holds the tiny profile's assets: unpack it with GEOLIB_PROFILE=tiny")
    manifest = read_manifest(kit)
    if reason := mismatch(manifest):
        raise GeolibError(
            f"{kit} does not fit this installation: {reason}. Install the same versions as the kit's maker "
            "(geolib doctor lists yours), or build the course here with `make course`"
        )
    root = profiles.data_dir()
    staging = Path(tempfile.mkdtemp(prefix=".kit-", suffix=".tmp", dir=root))
    try:
        with tarfile.open(kit) as archive:
            members = [m for m in archive.getmembers() if m.name != KIT_MANIFEST]
            for member in tqdm(members, desc="unpacking", unit="file", disable=not progress):
                try:
                    archive.extract(member, staging, filter="data")  # no absolute paths, no escapes
                except (tarfile.TarError, OSError) as err:
                    raise GeolibError(f"{kit}: cannot extract {member.name}: {err}") from None
        _verify(kit, staging, manifest)
        outcome = {}
        for folder in manifest.get("extras", []):
            target = root / folder
            if target.exists():
                outcome[folder] = "kept (already here)"
                continue
            make_dir(target.parent)
            os.replace(staging / folder, target)
            outcome[folder] = "installed"
        for folder in manifest["folders"]:
            target = root / folder
            outcome[folder] = "replaced" if target.exists() else "installed"
            if target.exists():  # same cache key, so the same content; possibly half built
                os.replace(target, staging / f"{folder.replace('/', '-')}.old")
            make_dir(target.parent)
            os.replace(staging / folder, target)
        return outcome
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _verify(kit: str | Path, staging: Path, manifest: dict) -> None:
    extras = manifest.get("extras", [])
    if not isinstance(extras, list) or not set(extras) <= set(GENERATED_DATA):
        raise GeolibError(f"{kit}: its manifest's extras {extras!r} are not among {list(GENERATED_DATA)}")
    for folder in manifest["folders"] + extras:
        if not (staging / folder).is_dir():
            raise GeolibError(f"{kit}: its manifest lists the folder {folder}, which it does not hold")
    found = {
        path.relative_to(staging).as_posix()
        for folder in manifest["folders"] + extras
        for path in _kit_files(staging, folder)
    }
    listed = set(manifest["files"])
    if missing := sorted(listed - found):
        raise GeolibError(f"{kit}: {len(missing)} files of its manifest are not in it, e.g. {missing[0]}")
    if extra := sorted(found - listed):
        raise GeolibError(f"{kit}: {len(extra)} files are not in its manifest, e.g. {extra[0]}")
    for name, (size, digest) in manifest["files"].items():
        path = staging / name
        if path.stat().st_size != size or _sha256(path) != digest:
            raise GeolibError(
                f"{kit}: {name} does not match its checksum (a damaged copy? copy the kit again)"
            )


def build_table(builds: list[AssetBuild]) -> str:
    from geolib.course import format_table

    rows = [[b.asset, "built" if b.built else "cached", f"{b.seconds:.1f}"] for b in builds]
    return format_table(rows, ["asset", "status", "seconds"])
