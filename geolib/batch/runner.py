"""The engine behind ``geolib segment``, ``geolib locatability`` and ``geolib predict``: score images in
batches, keep every finished batch, resume, and scale out with ``accelerate launch``.

The table is CSV, or JSON lines when its name ends in ``.jsonl`` (``predict``: answers are multi-line
texts). While it runs, each process appends its rows to its own part file (``rows-<rank>-of-<n>.csv`` or
``.jsonl`` in the parts folder) and flushes after every batch, so an interruption loses at most the batch in progress.
When all processes are done, the main one merges the earlier output and the parts into one table in
input order, writes it atomically and removes the parts. A rerun (the same command again) resumes by
itself: rows already in the table or in a part, for the same id and path, are not scored again; images
that were skipped are tried again. The settings are kept beside the table, and a rerun with other
settings (another model or method) is refused instead of mixing two kinds of scores in one file.

Scale-out: under ``accelerate launch --num_processes N -m geolib ...`` (or ``torchrun``) each process
takes a contiguous share of the images not done yet (``PartialState.split_between_processes``). On one
machine, accelerate's ``--cpu`` flag starts a single process unless MPI is set up; on a CPU-only
machine ``--multi_gpu --num_processes N`` starts N processes through torchrun, and they run on the CPU.
The merge holds the rows in memory (about 1 kB per row of ``fractions.csv``, far less for scores).
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from geolib.batch.inputs import Inputs, Item
from geolib.errors import DataError, GeolibError
from geolib.formats.validate import read_json_file
from geolib.images import load_image
from geolib.iox import atomic_path, check_writable, make_dir, write_json
from geolib.world.generate import _at_least

SKIPPED_COLUMNS = ("path", "reason")
MAX_LOGGED = 10  # skipped images named on stderr per process; all of them are in the skipped file

# score(items, images) -> one list of values (the columns after id and path) per item
Scorer = Callable[[list[Item], list], list[Sequence]]


@dataclass(frozen=True)
class Output:
    """Where a batch command writes, and what."""

    table: Path  # the merged result: id, path, *columns
    skipped: Path  # path, reason of every image that was not scored
    settings: Path  # the settings of the run that wrote the table
    parts: Path  # per-process part files while a run is under way
    columns: tuple[str, ...]
    artifact: Callable[[Item], Path] | None = None  # a file a finished row also needs (its mask)
    folder: Path | None = None  # a folder that belongs to the command (refused if someone else's)

    @property
    def header(self) -> list[str]:
        return ["id", "path", *self.columns]


@dataclass(frozen=True)
class Summary:
    main: bool  # False in the other processes of `accelerate launch`: they report nothing
    scored: int = 0  # rows scored by this run
    resumed: int = 0  # rows kept from an earlier run
    skipped: int = 0
    output: Output | None = None
    processes: int = 1

    @property
    def rows(self) -> int:
        return self.scored + self.resumed


def run_batch(
    inputs: Inputs,
    output: Output,
    settings: dict,
    make_scorer: Callable[[object], Scorer],
    *,
    batch_size: int,
    desc: str,
    log: Callable[[str], None] | None = None,
) -> Summary:
    """Score ``inputs`` into ``output``; ``make_scorer(device)`` loads the model (only if there is work)
    and returns the scoring function. ``log`` gets one line per skipped image."""
    _at_least("batch_size", batch_size, 1)
    for path in (output.table, output.skipped, output.settings):
        check_writable(path)
    _check_settings(output, settings)
    state = _process_state()
    log = log or _stderr
    done = _finished_rows(output, inputs.items)  # read by every process before any of them writes
    todo = [item for item in inputs.items if item.id not in done]
    with state.split_between_processes(todo) as mine:
        # the device accelerate gave this process, else the profile's (GEOLIB_DEVICE, cuda, mps, cpu)
        device = state.device if state.num_processes > 1 or _cpu_forced() else None
        score = make_scorer(device) if mine else None  # first: a model that fails to load writes nothing
        if state.is_main_process:
            write_json(output.settings, settings)  # before any part: parts without settings are refused
            for path, reason in inputs.skipped[:MAX_LOGGED]:
                log(f"skipped {path}: {reason}")
        state.wait_for_everyone()
        if mine:
            _score_shard(mine, output, score, state, batch_size, desc, log)
    state.wait_for_everyone()
    if not state.is_main_process:
        return Summary(main=False)
    rows, skipped = _merge(inputs, output, done, state.num_processes)
    return Summary(True, rows - len(done), len(done), len(skipped), output, state.num_processes)


def _cpu_forced() -> bool:
    from accelerate.utils import parse_flag_from_env

    return parse_flag_from_env("ACCELERATE_USE_CPU")  # set by `accelerate launch --cpu`


def _process_state():
    """accelerate's view of this process: one of several under `accelerate launch` (or torchrun), else
    the only one. ``cpu`` must be said explicitly: without it accelerate sees a CPU-only machine's
    processes as independent single ones (each would score everything)."""
    from accelerate import PartialState

    from geolib.profiles import device

    return PartialState(cpu=_cpu_forced() or device().type == "cpu")


def _stderr(message: str) -> None:
    from tqdm.auto import tqdm

    tqdm.write(message, file=sys.stderr)  # above the progress bar, not through it


def _check_settings(output: Output, settings: dict) -> None:
    if output.settings.is_file():
        previous = read_json_file(output.settings)
        if previous != settings:
            raise GeolibError(
                f"{output.table} was made with {json.dumps(previous)}, not {json.dumps(settings)}; "
                "rerun with the same settings, or choose another --out"
            )
        return
    if output.table.exists() or output.parts.exists():
        raise GeolibError(
            f"{output.table} exists but {output.settings.name} does not, so it was not written by this "
            "command; choose another --out or delete it"
        )
    # hidden files are left out: another process's temporary files may be there for a moment
    if (
        output.folder
        and output.folder.is_dir()
        and any(not p.name.startswith(".") for p in output.folder.iterdir())
    ):
        raise GeolibError(
            f"{output.folder} is not empty and holds no {output.settings.name}; choose a new or empty folder"
        )


def _is_jsonl(path: Path) -> bool:
    return path.suffix.lower() == ".jsonl"


def _read_table(path: Path, header: list[str]) -> list[list]:
    """The rows of a table or part file (CSV, or JSON lines with the header's keys); a last row cut short by
    an interruption is left out."""
    text = path.read_text(encoding="utf-8-sig")  # -sig: a table saved again by a spreadsheet
    text = text[: text.rfind("\n") + 1]  # only whole lines: the last one may have been cut
    if not _is_jsonl(path):
        rows = list(csv.reader(io.StringIO(text, newline="")))
        if rows and rows[0] != header:
            raise DataError(
                f"has columns {','.join(rows[0])}, expected {','.join(header)}; choose another --out or delete it",
                source=str(path),
            )
        return [row for row in rows[1:] if len(row) == len(header)]
    rows = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        if not isinstance(record, dict) or set(record) != set(header):
            raise DataError(
                f"is not a record with the keys {', '.join(header)}; choose another --out or delete it",
                source=str(path),
                record=f"line {number}",
            )
        rows.append([record[key] for key in header])
    return rows


class _RowFile:
    """Rows appended to a table or part file: CSV rows under a header, or one JSON object per line."""

    def __init__(self, file, header: list[str], jsonl: bool):
        self.file, self.header, self.jsonl = file, header, jsonl
        self.csv = None if jsonl else csv.writer(file, lineterminator="\n")
        if file.tell() == 0 and self.csv:
            self.csv.writerow(header)

    def writerows(self, rows) -> None:
        for row in rows:
            if self.csv:
                self.csv.writerow(row)
            else:
                record = dict(zip(self.header, row, strict=True))
                self.file.write(json.dumps(record, ensure_ascii=False) + "\n")


def _finished_rows(output: Output, items: list[Item]) -> dict[str, list[str]]:
    """Rows already scored for the current items (same id, same path, artifact present), by id."""
    wanted = {item.id: item for item in items}
    files = [output.table] if output.table.is_file() else []
    files += sorted(output.parts.glob(f"rows-*{output.table.suffix}")) if output.parts.is_dir() else []
    done = {}
    for path in files:
        for row in _read_table(path, output.header):
            item = wanted.get(row[0])
            if item and row[1] == str(item.path) and (not output.artifact or output.artifact(item).is_file()):
                done[item.id] = row
    return done


def _drop_cut_row(path: Path) -> None:
    """Cut a part file after its last newline, so that the next row does not continue a half row."""
    if path.is_file():
        data = path.read_bytes()
        with path.open("r+b") as file:
            file.truncate(data.rfind(b"\n") + 1)


def _score_shard(mine, output, score, state, batch_size, desc, log) -> None:
    from tqdm.auto import tqdm

    name = f"{state.process_index}-of-{state.num_processes}"
    make_dir(output.parts)
    rows_path = output.parts / f"rows-{name}{output.table.suffix}"
    skipped_path = output.parts / f"skipped-{name}.csv"
    _drop_cut_row(rows_path)
    logged = 0
    try:
        rows_file = rows_path.open("a", newline="", encoding="utf-8")
        skipped_file = skipped_path.open("w", newline="", encoding="utf-8")  # skipped images are retried
    except OSError as err:
        raise GeolibError(f"cannot write {output.parts}: {err.strerror or err}") from None
    with rows_file, skipped_file:
        rows = _RowFile(rows_file, output.header, _is_jsonl(rows_path))
        skipped = csv.writer(skipped_file, lineterminator="\n")
        skipped.writerow(SKIPPED_COLUMNS)
        bar = tqdm(total=len(mine), desc=desc, unit="image", disable=not state.is_main_process)
        with bar:
            for start in range(0, len(mine), batch_size):
                chunk, images = [], []
                for item in mine[start : start + batch_size]:
                    try:
                        images.append(load_image(item.path))
                        chunk.append(item)
                    except DataError as err:
                        skipped.writerow([str(item.path), str(err).removeprefix(f"{err.source}: ")])
                        logged += 1
                        if logged <= MAX_LOGGED:
                            log(f"skipped {err}")
                        elif logged == MAX_LOGGED + 1:
                            log(f"skipped more images: all are listed in {output.skipped}")
                if chunk:
                    values = score(chunk, images)
                    rows.writerows(
                        [item.id, str(item.path), *v] for item, v in zip(chunk, values, strict=True)
                    )
                rows_file.flush()  # a finished batch is on disk before the next one starts
                skipped_file.flush()
                bar.update(len(mine[start : start + batch_size]))


def _merge(inputs: Inputs, output: Output, done: dict, num_processes: int) -> tuple[int, list]:
    """Write the table (earlier rows and the parts, in input order) and the skipped file; drop the parts."""
    rows = dict(done)
    skipped_now: dict[str, str] = {}
    if output.parts.is_dir():
        rows.update(_finished_rows(output, inputs.items))  # now the parts hold this run's rows too
        for path in sorted(output.parts.glob(f"skipped-*-of-{num_processes}.csv")):
            skipped_now.update(_read_table(path, list(SKIPPED_COLUMNS)))
    with atomic_path(output.table) as tmp, tmp.open("w", newline="", encoding="utf-8") as file:
        writer = _RowFile(file, output.header, _is_jsonl(output.table))
        writer.writerows(rows[item.id] for item in inputs.items if item.id in rows)
    skipped = list(inputs.skipped) + [  # a process without work this time may hold a stale skip
        (str(item.path), skipped_now[str(item.path)])
        for item in inputs.items
        if str(item.path) in skipped_now and item.id not in rows
    ]
    with atomic_path(output.skipped) as tmp, tmp.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file, lineterminator="\n")
        writer.writerow(SKIPPED_COLUMNS)
        writer.writerows(skipped)
    shutil.rmtree(output.parts, ignore_errors=True)
    return len(rows), skipped
