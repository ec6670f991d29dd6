"""The records curation starts from: ``scores.csv`` (``geolib locatability``) joined with an OSV-5M-style
``metadata.csv`` and, for stage 1, reasoning texts; everything that cannot be used is excluded by name.

A structurally broken file (a missing column, a row with too many values, a score that is not a number
in [0, 1]) is a :class:`~geolib.errors.DataError` naming the file, the row and the column. A *record*
that cannot be used (a missing image, a duplicate id, impossible coordinates, an id absent from the other
file) is excluded and kept in the list of exclusions with its reason, so that the card can count it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from geolib.errors import DataError
from geolib.formats.osv5m import read_osv5m_csv
from geolib.formats.validate import check_id, read_csv_file, require_columns

SCORE_COLUMNS = ("id", "path", "locatability")


@dataclass
class Candidate:
    """One usable street view: where it is, how locatable it is, and (for stage 1) why."""

    id: str
    path: Path  # the image, resolved
    latitude: float
    longitude: float
    country: str  # ISO 3166-1 alpha-2, from the coordinates
    city: str
    locatability: float
    reasons: str | None = None


@dataclass(frozen=True)
class Exclusion:
    """A record left out, the step that left it out (``input``, ``threshold``, ``duplicate``,
    ``balance``) and why."""

    id: str
    step: str
    reason: str


def _score(value: str, source: str, record: str) -> float:
    try:
        score = float(value)
    except ValueError:
        score = float("nan")
    if not 0.0 <= score <= 1.0:  # NaN fails too
        raise DataError(
            f"expected a locatability in [0, 1], got {value!r}",
            source=source,
            record=record,
            field="locatability",
        )
    return score


def read_scores(path: str | Path, excluded: list[Exclusion]) -> dict[str, tuple[str, float]]:
    """``{id: (path as written, locatability)}`` of a scores CSV; duplicated ids are excluded (all rows)."""
    path = Path(path)
    header, rows = read_csv_file(path)
    require_columns(header, SCORE_COLUMNS, path.name)
    found: dict[str, list[tuple[str, str, float]]] = {}
    for number, row in rows:
        record = f"row {number}"
        ident = check_id(row["id"], path.name, record)
        found.setdefault(ident, []).append(
            (record, row["path"].strip(), _score(row["locatability"], path.name, record))
        )
    scores = {}
    for ident, copies in found.items():
        if len(copies) > 1:
            where = ", ".join(record for record, _, _ in copies)
            excluded.append(Exclusion(ident, "input", f"duplicate id in {path.name} ({where})"))
        elif not copies[0][1]:
            excluded.append(Exclusion(ident, "input", f"no image path in {path.name} ({copies[0][0]})"))
        else:
            scores[ident] = copies[0][1:]
    return scores


def read_reasons(path: str | Path) -> dict[str, str]:
    """``{id: reasons}`` from a stage-1 SFT file (ClueWorld's ``sft_stage1.json``, GeoReasoner_SFT)."""
    from geolib.formats.sft import read_sft_json

    return {example.id: example.answer["reasons"] for example in read_sft_json(path, stage=1)}


def resolve_image(written: str, *folders: Path) -> Path | None:
    """The image a scores file names: an absolute path, else relative to the working directory (where
    ``geolib locatability`` was run), else to one of ``folders``; None if no such file exists."""
    given = Path(written).expanduser()
    places = [given] if given.is_absolute() else [Path.cwd() / given, *(folder / given for folder in folders)]
    return next((Path(os.path.abspath(place)) for place in places if place.is_file()), None)


def load_candidates(
    scores_path: str | Path,
    metadata_path: str | Path,
    *,
    reasons_path: str | Path | None = None,
) -> tuple[list[Candidate], list[Exclusion]]:
    """Join scores and metadata by id; returns the usable records (in metadata order) and the exclusions.

    The country comes from the coordinates (:func:`geolib.geo.country_code`, Natural Earth); a point
    in the open sea keeps the metadata's country. A blank city is filled with the nearest GeoNames city.
    """
    from geolib.geo import country_code, nearest_city

    scores_path, metadata_path = Path(scores_path), Path(metadata_path)
    excluded: list[Exclusion] = []
    scores = read_scores(scores_path, excluded)
    skipped: list[dict] = []
    records = read_osv5m_csv(metadata_path, skipped=skipped)
    excluded += [
        Exclusion(s["id"], "input", f"{metadata_path.name} {s['record']}: {s['problem']}") for s in skipped
    ]
    unusable = {e.id for e in excluded}
    reasons = read_reasons(reasons_path) if reasons_path else {}

    in_metadata = {record.id for record in records}
    for ident in scores:
        if ident not in in_metadata and ident not in unusable:
            excluded.append(Exclusion(ident, "input", f"id absent from {metadata_path.name}"))
    kept = []
    for record in records:
        if record.id not in scores:
            if record.id not in unusable:
                excluded.append(Exclusion(record.id, "input", f"id absent from {scores_path.name}"))
            continue
        written, score = scores[record.id]
        image = resolve_image(written, scores_path.parent, metadata_path.parent)
        if image is None:
            excluded.append(Exclusion(record.id, "input", f"missing image {written}"))
            continue
        kept.append((record, image, score))
    if not kept:
        return [], excluded
    lat = np.array([record.latitude for record, _, _ in kept])
    lon = np.array([record.longitude for record, _, _ in kept])
    codes = country_code(lat, lon)
    blank = [i for i, (record, _, _) in enumerate(kept) if not record.city]
    cities = {}
    if blank:
        matches, _ = nearest_city(lat[blank], lon[blank])
        cities = {i: match.name for i, match in zip(blank, matches, strict=True)}
    candidates = [
        Candidate(
            id=record.id,
            path=image,
            latitude=record.latitude,
            longitude=record.longitude,
            country=code or record.country,
            city=cities.get(i, record.city),
            locatability=score,
            reasons=reasons.get(record.id),
        )
        for i, ((record, image, score), code) in enumerate(zip(kept, codes, strict=True))
    ]
    return candidates, excluded
