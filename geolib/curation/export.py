"""What curation writes: ``splits.csv``, the stage-1 / stage-2 SFT files per split, ``excluded.csv`` and
the dataset card ``card.md``. Every file is written atomically; image paths are relative to the output
folder (as ClueWorld's exports are relative to the world), so a folder and its images move together.
"""

from __future__ import annotations

import csv
import io
import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from geolib.curation.records import Candidate, Exclusion
from geolib.curation.splits import SPLITS
from geolib.formats.sft import stage1_example, stage2_example, write_sft_json
from geolib.iox import write_text

SPLIT_COLUMNS = ("id", "path", "latitude", "longitude", "country", "city", "locatability", "split")
EXCLUDED_COLUMNS = ("id", "step", "reason")


def image_reference(path: Path, out: Path) -> str:
    """``path`` relative to ``out`` (POSIX slashes), or absolute when no relative path exists (another
    drive on Windows)."""
    try:
        return Path(os.path.relpath(path, out)).as_posix()
    except ValueError:
        return Path(path).as_posix()


def _csv_text(columns: Sequence[str], rows) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(rows)
    return buffer.getvalue()


def write_splits_csv(candidates: Sequence[Candidate], splits: Sequence[str], out: Path) -> Path:
    rows = (
        [
            c.id,
            image_reference(c.path, out),
            f"{c.latitude:.6f}",
            f"{c.longitude:.6f}",
            c.country,
            c.city,
            f"{c.locatability:.6f}",
            split,
        ]
        for c, split in zip(candidates, splits, strict=True)
    )
    return write_text(out / "splits.csv", _csv_text(SPLIT_COLUMNS, rows))


def write_excluded_csv(excluded: Sequence[Exclusion], out: Path) -> Path:
    return write_text(
        out / "excluded.csv", _csv_text(EXCLUDED_COLUMNS, ([e.id, e.step, e.reason] for e in excluded))
    )


def write_sft_files(
    candidates: Sequence[Candidate], splits: Sequence[str], out: Path
) -> dict[str, dict[str, int]]:
    """``sft_stage1_<split>.json`` (images with reasons) and ``sft_stage2_<split>.json`` (all), with the
    paper's prompts and the country's English name as the answer; returns the counts per file."""
    from geolib.geo import country_name

    counts: dict[str, dict[str, int]] = {"stage1": {}, "stage2": {}}
    splits = np.asarray(splits, dtype=object)
    for split in SPLITS:
        chosen = [c for c, s in zip(candidates, splits, strict=True) if s == split]
        stage1 = [
            stage1_example(
                c.id, image_reference(c.path, out), country_name(c.country) or c.country, c.reasons
            )
            for c in chosen
            if c.reasons
        ]
        stage2 = [
            stage2_example(c.id, image_reference(c.path, out), country_name(c.country) or c.country, c.city)
            for c in chosen
        ]
        write_sft_json(stage1, out / f"sft_stage1_{split}.json")
        write_sft_json(stage2, out / f"sft_stage2_{split}.json")
        counts["stage1"][split], counts["stage2"][split] = len(stage1), len(stage2)
    return counts


def _table(header: Sequence[str], rows) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(value).replace("|", "\\|") for value in row) + " |" for row in rows]
    return lines


def card_text(
    *,
    candidates: Sequence[Candidate],
    splits: Sequence[str],
    excluded: Sequence[Exclusion],
    scored: Sequence[float],
    settings: dict,
    sft_counts: dict,
    separation_km: float,
    sources: Sequence[str],
) -> str:
    """The dataset card: settings, counts per country and split, locatability, exclusions, sources."""
    from geolib.geo import country_name

    splits = list(splits)
    lines = ["# Curated street views", ""]
    lines += [
        "Made by `geolib curate` with: " + ", ".join(f"{k} = {v}" for k, v in settings.items()) + ".",
        "",
    ]
    total = len(candidates)
    lines += [
        f"{total} images kept of {len(scored)} scored; {len(excluded)} excluded (reasons below).",
        "",
        "## Splits",
        "",
    ]
    per_split = Counter(splits)
    lines += _table(
        ["split", "images", "stage-1 examples (with reasons)", "stage-2 examples"],
        [
            [s, per_split.get(s, 0), sft_counts["stage1"].get(s, 0), sft_counts["stage2"].get(s, 0)]
            for s in SPLITS
        ],
    )
    gap = "no val or test image" if not np.isfinite(separation_km) else f"{separation_km:.2f} km"
    lines += [
        "",
        f"Nearest training image to any val or test image: {gap} (required: at least "
        f"{settings.get('min_distance_km')} km).",
        "",
        "## Countries",
        "",
    ]
    by_country: dict[str, Counter] = {}
    for c, split in zip(candidates, splits, strict=True):
        by_country.setdefault(c.country, Counter())[split] += 1
    rows = [
        [code, country_name(code) or code, *(counts.get(s, 0) for s in SPLITS), sum(counts.values())]
        for code, counts in sorted(by_country.items(), key=lambda item: (-sum(item[1].values()), item[0]))
    ]
    lines += _table(["code", "country", *SPLITS, "total"], rows)
    lines += ["", "## Locatability", "", "Share of the scored images and of the kept ones in each band.", ""]
    edges = np.round(np.arange(0, 1.01, 0.1), 1)
    scored_hist = np.histogram(np.clip(scored, 0, 1), bins=edges)[0]
    kept_hist = np.histogram([c.locatability for c in candidates], bins=edges)[0]
    lines += _table(
        ["locatability", "scored", "kept"],
        [
            [f"{lo:.1f}-{hi:.1f}", int(a), int(b)]
            for lo, hi, a, b in zip(edges[:-1], edges[1:], scored_hist, kept_hist, strict=True)
        ],
    )
    lines += ["", "## Excluded", ""]
    steps = Counter(e.step for e in excluded)
    if excluded:
        lines += _table(
            ["step", "images", "first examples"],
            [
                [step, n, "; ".join(f"{e.id}: {e.reason}" for e in excluded if e.step == step)[:300]]
                for step, n in steps.most_common()
            ],
        )
        lines += ["", "Every excluded image and its reason: `excluded.csv`."]
    else:
        lines += ["Nothing was excluded."]
    lines += ["", "## Sources and licences", "", *[f"- {source}" for source in sources], ""]
    return "\n".join(line.replace("\n", " ") if line.startswith("|") else line for line in lines)
