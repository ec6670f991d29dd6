"""Profiles (tiny / full), devices, cache directories and the model registry.

``GEOLIB_PROFILE=tiny`` (the default off-GPU and in CI) runs every notebook on a CPU with
small models of the *same classes* as the real ones, built from code and cached on disk.
``GEOLIB_PROFILE=full`` resolves the same names to pretrained hub checkpoints. Callers
always write ``from_pretrained(resolve("name"))`` and never branch on the profile.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.metadata
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from geolib.errors import GeolibError
from geolib.iox import atomic_dir, make_dir, write_json

PROFILES = ("tiny", "full")
PACKAGE_DIR = Path(__file__).resolve().parent
RESOURCES_DIR = PACKAGE_DIR / "resources"


def profile() -> str:
    """The active profile, from ``GEOLIB_PROFILE`` (default ``tiny``); the only reader of that variable."""
    raw = os.environ.get("GEOLIB_PROFILE", "tiny")
    name = raw.strip().lower() or "tiny"  # " FULL " is full: a stray space or capital is no reason to fail
    if name not in PROFILES:
        raise GeolibError(f"GEOLIB_PROFILE={raw!r} is not a profile; choose one of {', '.join(PROFILES)}")
    return name


def on_colab() -> bool:
    return "google.colab" in sys.modules or "COLAB_RELEASE_TAG" in os.environ


def source_checkout() -> Path | None:
    """The course repository that holds this package, if geolib is installed from a checkout."""
    root = PACKAGE_DIR.parent
    if (root / "pyproject.toml").is_file() and (root / "notebooks").is_dir():
        return root
    return None


def default_data_dir() -> Path:
    """Where generated data and tiny models are cached (not created here).

    ``GEOLIB_DATA`` wins; then ``/content/geolib-data`` on Colab; then ``data/cache`` of the
    course checkout; then ``~/.cache/geolib``.
    """
    if env := os.environ.get("GEOLIB_DATA"):
        return Path(env).expanduser()
    if on_colab():
        return Path("/content/geolib-data")
    if (root := source_checkout()) is not None:
        return root / "data" / "cache"
    return Path.home() / ".cache" / "geolib"


def data_dir() -> Path:
    """The cache directory (see :func:`default_data_dir`), created on first use."""
    try:
        return make_dir(default_data_dir())
    except GeolibError as err:
        raise GeolibError(f"{err} (the data directory: set GEOLIB_DATA to a writable one)") from None


def models_dir() -> Path:
    return make_dir(data_dir() / "models")


def device(preferred: str | None = None):
    """The torch device to use: ``GEOLIB_DEVICE`` or ``preferred`` if given, else cuda, mps, cpu."""
    import torch

    wanted = preferred or os.environ.get("GEOLIB_DEVICE")
    if wanted:
        try:
            return torch.device(wanted)
        except RuntimeError as err:
            raise GeolibError(f"GEOLIB_DEVICE={wanted!r} is not a torch device: {err}") from None
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


# ----------------------------------------------------------------------------- model registry


@dataclass(frozen=True)
class ModelSpec:
    """One named model: its hub checkpoint for ``full`` and a seeded builder for ``tiny``.

    ``builder`` is ``"module:function"`` (or the function itself); it is called as ``fn(out_dir, seed)`` and must
    write a directory that the same ``from_pretrained`` call loads as the hub checkpoint.
    Bump ``builder_version`` whenever the builder changes what it writes.
    """

    name: str
    hub_id: str
    builder: str | Callable[[Path, int], None]
    description: str
    libraries: tuple[str, ...] = ("torch", "transformers")
    builder_version: int = 1
    seed: int = 0
    extra: dict = field(default_factory=dict, compare=False)

    def builder_function(self) -> Callable[[Path, int], None]:
        if callable(self.builder):
            return self.builder
        module_name, _, function_name = self.builder.partition(":")
        try:
            return getattr(importlib.import_module(module_name), function_name)
        except (ImportError, AttributeError) as err:
            raise GeolibError(f"model {self.name!r}: cannot import builder {self.builder!r}: {err}") from None


_REGISTRY: dict[str, ModelSpec] = {}


def register(spec: ModelSpec, *, replace: bool = False) -> ModelSpec:
    """Add a model to the registry (``replace=True`` to redefine a name)."""
    if spec.name in _REGISTRY and not replace:
        raise GeolibError(f"model {spec.name!r} is already registered")
    _REGISTRY[spec.name] = spec
    return spec


def unregister(name: str) -> None:
    _REGISTRY.pop(name, None)


def registered() -> dict[str, ModelSpec]:
    """All registered models by name."""
    _load_builtin_models()
    return dict(_REGISTRY)


def spec(name: str) -> ModelSpec:
    models = registered()
    if name not in models:
        raise GeolibError(f"unknown model {name!r}; registered models: {', '.join(sorted(models)) or 'none'}")
    return models[name]


def library_versions(libraries: tuple[str, ...]) -> dict[str, str]:
    versions = {"geolib": importlib.metadata.version("geolib") if _installed("geolib") else "source"}
    for lib in libraries:
        versions[lib] = importlib.metadata.version(lib) if _installed(lib) else "absent"
    return versions


def _installed(distribution: str) -> bool:
    try:
        importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def tiny_key(model: ModelSpec) -> str:
    """Cache key of a tiny model: changes with the builder, its seed and the library versions."""
    builder = (
        model.builder
        if isinstance(model.builder, str)
        else (f"{model.builder.__module__}:{model.builder.__qualname__}")
    )
    payload = json.dumps(
        {
            "name": model.name,
            "builder": builder,
            "v": model.builder_version,
            "seed": model.seed,
            "versions": library_versions(model.libraries),
        },
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


def tiny_model_dir(name: str) -> Path:
    """Where the tiny model ``name`` is (or will be) built; creates nothing, so listing needs no write access."""
    model = spec(name)
    return default_data_dir() / "models" / f"{model.name}-{tiny_key(model)}"


MANIFEST = "geolib-model.json"


@contextlib.contextmanager
def logging_disabled(level: int):
    """Silence log records up to ``level`` within the block (open_clip logs "initialized randomly" for a
    tower whose weights geolib loads next)."""
    import logging

    previous = logging.root.manager.disable
    logging.disable(level)
    try:
        yield
    finally:
        logging.disable(previous)


@contextlib.contextmanager
def _one_thread():
    """Builders train on one CPU thread: the tiny models' operations gain almost nothing from a second one
    (measured: the vlm's steps 0.17 s with two threads, 0.18 s with one), two threads slow down several times
    when anything else shares the cores, and one thread per build lets two builds run side by side
    (``geolib models --build ... --jobs 2``)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def build_tiny(name: str, *, force: bool = False) -> Path:
    """Build (once, under a file lock) and return the directory of the tiny model ``name``."""
    from filelock import FileLock

    model = spec(name)
    target = tiny_model_dir(name)
    if (target / MANIFEST).is_file() and not force:
        return target  # the manifest is written last, inside atomic_dir: a read-only shared cache works
    lock = FileLock(str(models_dir() / f".{model.name}.lock"))
    try:
        lock.acquire()
    except OSError as err:
        raise GeolibError(f"cannot write {lock.lock_file}: {err.strerror or err}") from None
    try:
        if (target / MANIFEST).is_file() and not force:
            return target  # built by another process while we waited for the lock
        started = time.perf_counter()
        with atomic_dir(target) as tmp, _one_thread():
            model.builder_function()(tmp, model.seed)
            write_json(
                tmp / MANIFEST,
                {
                    "name": model.name,
                    "hub_id": model.hub_id,
                    "seed": model.seed,
                    "builder_version": model.builder_version,
                    "versions": library_versions(model.libraries),
                    "build_seconds": round(time.perf_counter() - started, 2),
                },
            )
    finally:
        lock.release()
    return target


def build_many(names, *, force: bool = False, jobs: int = 1):
    """Build the tiny models ``names`` (in that order, ``jobs`` at a time in separate processes); yields
    ``(name, folder)`` as each is ready. Name the longest build first, so that the others share the second
    core meanwhile."""
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise GeolibError(f"--jobs must be a whole number of at least 1, not {jobs!r}")
    for name in names:
        spec(name)  # an unknown name fails before any build starts
    if jobs == 1 or len(names) < 2:
        for name in names:
            yield name, build_tiny(name, force=force)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    context = multiprocessing.get_context("spawn")  # no forked copy of an initialised torch
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
        futures = {pool.submit(build_tiny, name, force=force): name for name in names}
        for future in as_completed(futures):
            yield futures[future], future.result()


def model_folder_name(name: str) -> str:
    """The last part of what :func:`resolve` gives, without building anything: the tiny model's folder name
    (which carries its cache key) or the hub id's repository name. Cached runs name their folders after it."""
    model = spec(name)
    return Path(model.hub_id).name if profile() == "full" else tiny_model_dir(name).name


def resolve(name: str, profile_name: str | None = None) -> str:
    """What to pass to ``from_pretrained`` for ``name``: a hub id (full) or a local directory (tiny)."""
    chosen = profile() if profile_name is None else profile_name.strip().lower()
    if chosen not in PROFILES:
        raise GeolibError(f"profile {profile_name!r} is not one of {', '.join(PROFILES)}")
    model = spec(name)
    if chosen == "full":
        return model.hub_id
    return str(build_tiny(name))


_BUILTINS_LOADED = False


def _load_builtin_models() -> None:
    """Register the course's models (done lazily so that importing geolib stays cheap)."""
    global _BUILTINS_LOADED
    if _BUILTINS_LOADED:
        return
    _BUILTINS_LOADED = True
    from geolib import models

    for model in models.BUILTIN_MODELS:
        _REGISTRY.setdefault(model.name, model)
