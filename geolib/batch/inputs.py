"""What a batch command scores: image files, folders of them, or ``metadata.csv`` files naming images.

Every image gets an id: the file stem, or the ``id`` column of a metadata CSV. Ids name the output rows
and the mask files, so they must be unique. The same file given twice (``a.jpg`` and a folder holding
it) is scored once. A *different* file whose id is already taken (``x/0001.jpg`` after ``y/0001.jpg``) is
not scored: it is skipped with a reason naming the other file, because a silently renamed id would no
longer match the file stem that users look it up by; a metadata CSV with ``id`` and ``path`` columns
gives such files distinct ids.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from geolib.errors import DataError, GeolibError
from geolib.formats.validate import check_id, read_csv_file
from geolib.images import IMAGE_SUFFIXES

PATH_COLUMNS = ("path", "image")  # OSV-5M-style CSVs name the image in one of these, if at all


@dataclass(frozen=True)
class Item:
    """One image to score: its id and its path (as the user gave it, joined with folders and CSV paths)."""

    id: str
    path: Path


@dataclass
class Inputs:
    items: list[Item] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason): known before any work


def collect_inputs(inputs, *, exclude=()) -> Inputs:
    """Items in input order: folders recursively, sorted, by image suffix (hidden files and folders
    and anything under ``exclude``, e.g. the command's own output folder, are left out); ``*.csv``
    files as metadata; any other file as an image (if it is none, scoring skips it by name).

    A missing input, a folder without images, a CSV without an ``id`` column: a one-line error.
    """
    if not inputs:
        raise GeolibError("no inputs: give image files, folders of images or a metadata.csv")
    excluded = [Path(p).resolve() for p in exclude]
    found = Inputs()
    owners: dict[str, tuple[Path, Path]] = {}  # id -> (resolved path, path as given)
    for given in map(Path, inputs):
        if not given.exists():
            raise GeolibError(f"input {given} does not exist")
        if given.is_dir():
            candidates = [(path.stem, path) for path in _images_in(given, excluded)]
            if not candidates:
                raise GeolibError(
                    f"input {given} is a folder with no images ({', '.join(IMAGE_SUFFIXES)}, any depth)"
                )
        elif given.suffix.lower() == ".csv":
            candidates = _metadata_rows(given, found.skipped)
        else:
            candidates = [(given.stem, given)]
        for ident, path in candidates:
            resolved = path.resolve()
            if ident in owners:
                if owners[ident][0] != resolved:
                    found.skipped.append(
                        (
                            str(path),
                            f"id {ident!r} is already used by {owners[ident][1]}; give distinct ids "
                            "with a metadata.csv that has id and path columns",
                        )
                    )
                continue  # the same file again: scored once
            owners[ident] = (resolved, path)
            found.items.append(Item(ident, path))
    return found


def _images_in(folder: Path, excluded: list[Path]) -> list[Path]:
    images = []
    for root, dirs, files in os.walk(folder):  # does not follow links to folders: no loops
        root = Path(root)
        dirs[:] = [d for d in dirs if not d.startswith(".") and (root / d).resolve() not in excluded]
        images += [
            root / name
            for name in files
            if not name.startswith(".") and Path(name).suffix.lower() in IMAGE_SUFFIXES
        ]
    return sorted(images, key=lambda path: path.relative_to(folder).parts)


def _metadata_rows(csv_path: Path, skipped: list) -> list[tuple[str, Path]]:
    """(id, image path) of each row of an OSV-5M-style CSV; rows whose image cannot be named are skipped."""
    source = str(csv_path)
    header, rows = read_csv_file(csv_path)
    if "id" not in header:
        raise DataError(f"expected an 'id' column, found {', '.join(header)}", source=source)
    column = next((name for name in PATH_COLUMNS if name in header), None)
    folder = csv_path.parent
    found = []
    for number, row in rows:
        record = f"row {number}"
        try:
            ident = check_id(row["id"], source, record)
            if ident in (".", "..") or any(c in ident for c in "/\\\0"):
                raise DataError(
                    f"id {ident!r} cannot be a file name (masks are saved as <id>.png)",
                    source=source,
                    record=record,
                    field="id",
                )
            if column:
                value = row[column].strip()
                if not value:
                    raise DataError(
                        "is empty, expected an image path", source=source, record=record, field=column
                    )
                path = folder / Path(value).expanduser()  # an absolute path stays absolute
            else:
                path = _default_image(folder, ident)
                if path is None:
                    raise DataError(
                        f"no image for id {ident!r}: neither streetview/{ident}.jpg nor images/{ident}.* "
                        f"exists in {folder}",
                        source=source,
                        record=record,
                    )
        except DataError as err:
            skipped.append((source, str(err)))
            continue
        found.append((ident, path))
    return found


def _default_image(folder: Path, ident: str) -> Path | None:
    """ClueWorld writes ``streetview/<id>.jpg`` beside ``metadata.csv``; OSV-5M keeps ``images/<id>.jpg``."""
    candidates = [folder / "streetview" / f"{ident}.jpg"]
    candidates += [folder / "images" / f"{ident}{suffix}" for suffix in IMAGE_SUFFIXES]
    return next((path for path in candidates if path.is_file()), None)
