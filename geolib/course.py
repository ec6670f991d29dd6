"""The course itself: its map, notebook conventions, and the headless notebook runner."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from geolib.errors import GeolibError

# Single source of the repository address used by every Colab bootstrap cell and badge.
REPO_URL = "https://github.com/geolib-course/geolocation-course"
COLAB_URL = (
    "https://colab.research.google.com/github/geolib-course/geolocation-course/blob/main/notebooks/{name}"
)


@dataclass(frozen=True)
class Lesson:
    number: str
    slug: str
    title: str
    stage: str
    paper: str
    learn: str
    cpu_minutes: float  # measured by `make course`: docs/course_summary.json (a test keeps them equal)
    gpu_time: str

    @property
    def filename(self) -> str:
        return f"{self.number}_{self.slug}.ipynb"


COURSE_MAP: tuple[Lesson, ...] = (
    Lesson(
        "00",
        "welcome_and_setup",
        "Welcome, set-up, ClueWorld and scoring",
        "foundation",
        "both",
        "environment, tiny/full profiles, the ClueWorld data, scoring guesses (distances, GeoScore, P/R/F1, maps)",
        0.4,
        "1 min",
    ),
    Lesson(
        "01",
        "segmentation",
        "Segmenting street views",
        "segmentation",
        "GeoReasoner",
        "MaskFormer / Mask2Former on ADE20K-150, per-class pixel fractions, mIoU, the detectron2 route",
        0.4,
        "15 min",
    ),
    Lesson(
        "02",
        "locatability",
        "Locatability",
        "locatability",
        "GeoReasoner",
        "the published formula, weights from clue text with Sentence-BERT, a CLIP regressor, does the score mean anything?",
        0.5,
        "20 min",
    ),
    Lesson(
        "03",
        "curation",
        "Curating locatable data",
        "curation",
        "GeoReasoner",
        "threshold sweep, country balance, near-duplicates by place and by image, splits 1 km apart, SFT exports and a dataset card, curated vs random",
        0.7,
        "30 min",
    ),
    Lesson(
        "04",
        "lora_stage1_reasoning",
        "LoRA stage 1: reasoning",
        "lvlm-training",
        "GeoReasoner",
        "what LoRA adds, the data as the model sees it (chat template, image tokens, assistant-only labels), training on accelerate, clue recall / precision of the reasons",
        0.3,
        "2-4 h",
    ),
    Lesson(
        "05",
        "lora_stage2_location",
        "LoRA stage 2: location",
        "lvlm-training",
        "GeoReasoner",
        "stacking a second adapter, the paper's ablation in small, a confusion matrix, merging, the GPU memory plan",
        0.6,
        "2-4 h",
    ),
    Lesson(
        "06",
        "inference_and_evaluation",
        "Inference that explains itself",
        "evaluation",
        "GeoReasoner",
        "answers with reasons, messy answers read, `geolib predict` / `evaluate` / `report`, the reasoning display, every model in one table, learner vs model",
        0.4,
        "30 min",
    ),
    Lesson(
        "07",
        "text_to_tile_retrieval",
        "Finding a place from a description",
        "retrieval",
        "CVG-Text",
        "`geolib osm` on real Helsinki data, CLIP's 77-token limit and two stretches, contrastive training, Recall@K and L@50 m under two protocols, relevance maps and rationales, a search box",
        0.3,
        "3-6 h",
    ),
)

COURSE_MAP_LINK = "[the course map](../README.md#course-map)"


def navigation(number: str) -> str:
    """The line of links at the top and the bottom of notebook ``number``: previous and next lesson (the course
    map before the first and after the last)."""
    numbers = [lesson.number for lesson in COURSE_MAP]
    if number not in numbers:
        raise GeolibError(f"no lesson {number!r} on the course map")
    at = numbers.index(number)

    def link(lesson: Lesson) -> str:
        return f"[{lesson.number} · {lesson.title}]({lesson.filename})"

    before = link(COURSE_MAP[at - 1]) if at > 0 else COURSE_MAP_LINK
    after = link(COURSE_MAP[at + 1]) if at + 1 < len(COURSE_MAP) else COURSE_MAP_LINK
    return f"**Previous:** {before} · **Next:** {after}"


def course_map_table(summary: dict) -> str:
    """The README's course map as a Markdown table, with each notebook's measured CPU minutes and key result
    from a ``make course`` summary (``outputs/summary.json``; the latest is kept as ``docs/course_summary.json``)."""
    measured = {}
    for i, run in enumerate(summary.get("notebooks", [])):
        if not (
            isinstance(run, dict) and isinstance(run.get("notebook"), str) and _is_number(run.get("seconds"))
        ):
            raise GeolibError(f"notebook entry {i} of the summary lacks a 'notebook' name or its 'seconds'")
        measured[run["notebook"]] = run
    lines = [
        "| notebook | you learn | CPU (tiny) | GPU (full) | key result (tiny) | Colab |",
        "|---|---|---|---|---|---|",
    ]
    for lesson in COURSE_MAP:
        run = measured.get(lesson.filename)
        cpu = f"{run['seconds'] / 60:.1f} min" if run else "not measured"
        key = str(run.get("key_result") or "-") if run else "-"
        badge = f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({COLAB_URL.format(name=lesson.filename)})"
        title = f"[{lesson.number} · {lesson.title}](notebooks/{lesson.filename})"
        lines.append(f"| {title} | {lesson.learn} | {cpu} | {lesson.gpu_time} | {key} | {badge} |")
    return "\n".join(lines)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0


NOTEBOOK_NAME = re.compile(r"^\d{2}_[a-z0-9]+(?:_[a-z0-9]+)*\.ipynb$")


def notebooks_dir() -> Path:
    from geolib.profiles import source_checkout

    root = source_checkout()
    if root is None:
        raise GeolibError(f"the notebooks live in the course repository; clone it to run them ({REPO_URL})")
    return root / "notebooks"


def course_notebooks(directory: Path | None = None) -> list[Path]:
    """The course's notebooks in reading order."""
    directory = directory or notebooks_dir()
    return sorted(p for p in directory.glob("*.ipynb") if not p.name.startswith("."))


# ----------------------------------------------------------------------------- conventions


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def check_notebook(path: str | Path) -> list[str]:
    """Problems with one notebook against the course conventions (empty list = fine).

    Ruff is checked separately by :func:`ruff_problems`, which lints many files in one call.
    """
    path = Path(path)
    problems: list[str] = []
    if not NOTEBOOK_NAME.match(path.name):
        problems.append(f"name {path.name!r} is not NN_snake_case.ipynb")
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        return problems + [f"not a readable notebook: {err}"]
    cells = nb.get("cells", [])
    code = [c for c in cells if c.get("cell_type") == "code"]
    markdown = "\n".join(_source(c) for c in cells if c.get("cell_type") == "markdown").lower()

    for i, cell in enumerate(cells):
        if cell.get("cell_type") == "code" and (cell.get("outputs") or cell.get("execution_count")):
            problems.append(f"cell {i} carries outputs or an execution count (strip them: make strip)")
    if nb.get("metadata", {}).get("widgets"):
        problems.append("notebook metadata carries widget state")
    if not code or "google.colab" not in _source(code[0]):
        problems.append("the first code cell must be the Colab bootstrap (it mentions google.colab)")
    elif REPO_URL not in _source(code[0]):
        problems.append(f"the Colab bootstrap must install from {REPO_URL}")
    tagged = [c for c in code if "parameters" in c.get("metadata", {}).get("tags", [])]
    if not tagged:
        problems.append("no code cell is tagged 'parameters'")
    elif "GEOLIB_PROFILE" not in _source(tagged[0]) and "profile()" not in _source(tagged[0]):
        problems.append("the parameters cell must read the profile (geolib.profiles.profile())")
    for needle, what in (
        ("learning objectives", "a 'Learning objectives' section"),
        ("what you learned", "a 'What you learned' section"),
        ("exercise", "exercises"),
        ("solution", "solutions to the exercises"),
        ("colab.research.google.com", "an 'Open in Colab' badge"),
    ):
        if needle not in markdown:
            problems.append(f"missing {what}")
    problems += _exercise_problems(markdown)
    markdown_cells = [_source(c) for c in cells if c.get("cell_type") == "markdown"]
    number = path.name[:2]
    if markdown_cells and any(lesson.number == number for lesson in COURSE_MAP):
        links = navigation(number)
        if links not in markdown_cells[0]:
            problems.append(f"the first markdown cell lacks the links {links!r}")
        if "## what you learned" not in markdown_cells[-1].lower() or links not in markdown_cells[-1]:
            problems.append(f"the last markdown cell must be '## What you learned' ending with {links!r}")
    all_code = "\n".join(_source(c) for c in code)
    if re.search(r"sys\.path\.(append|insert)", all_code):
        problems.append("modifies sys.path (import the installed geolib instead)")
    if re.search(r"^\s*from\s+\S+\s+import\s+\*", all_code, re.M):
        problems.append("uses 'from ... import *'")
    return problems


EXERCISE = re.compile(r"\*\*exercise (\d+)(?: \(([^)]*)\))?\.\*\*")


def _exercise_problems(markdown: str) -> list[str]:
    """Exercises of rising difficulty: at least three, one to predict before running, the last one harder,
    each with its solution (``markdown`` is lower-cased)."""
    found = EXERCISE.findall(markdown)
    if not found:
        return []  # "missing exercises" is reported with the other sections
    numbers = [int(number) for number, _ in found]
    labels = [label for _, label in found]
    problems = []
    if len(found) < 3:
        problems.append(f"only {len(found)} exercises (at least 3, of rising difficulty)")
    if not any("predict, then run" in label for label in labels):
        problems.append("no exercise labelled '(predict, then run)'")
    if "harder" not in labels[-1]:
        problems.append("the last exercise is not labelled '(harder)'")
    for number in numbers:
        if f"### solution {number}" not in markdown:
            problems.append(f"exercise {number} has no '### Solution {number}'")
    return problems


def ruff_problems(paths: list[Path]) -> dict[str, list[str]]:
    """Ruff findings per file, e.g. ``{"notebooks/00_x.ipynb": ["F401 `os` imported but unused"]}``."""
    if not paths:
        return {}
    cmd = [sys.executable, "-m", "ruff", "check", "--output-format=json", "--no-cache", *map(str, paths)]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode not in (0, 1):
        raise GeolibError(f"ruff failed to run: {result.stderr.strip()}")
    found: dict[str, list[str]] = {}
    for item in json.loads(result.stdout or "[]"):
        found.setdefault(item["filename"], []).append(f"{item['code']} {item['message']}")
    return found


# ----------------------------------------------------------------------------- key results

KEY_RESULT = "geolib_key_result"


def key_result(label: str, value: object, unit: str = "") -> None:
    """Show a notebook's headline number; the course runner collects it into its summary table."""
    from IPython.display import Markdown, display

    text = f"{value:.4g}" if isinstance(value, float) else str(value)
    shown = f"{text} {unit}".strip()
    display(
        Markdown(f"**Key result: {label} = {shown}**"),
        metadata={KEY_RESULT: {"label": label, "value": text, "unit": unit}},
    )


def key_results(nb: dict) -> list[str]:
    """The key results a notebook displayed, as ``label = value unit`` strings."""
    found = []
    for cell in nb.get("cells", []):
        for output in cell.get("outputs", []):
            info = output.get("metadata", {}).get(KEY_RESULT)
            if info:
                found.append(f"{info['label']} = {info['value']} {info.get('unit', '')}".strip())
    return found


# ----------------------------------------------------------------------------- runner


@dataclass
class NotebookRun:
    notebook: str
    seconds: float
    ok: bool
    key_result: str
    error: str = ""


def execute_notebook(path: Path, out_dir: Path, *, timeout: int = 900) -> NotebookRun:
    """Execute one notebook headless; write the executed copy and its HTML rendering to ``out_dir``."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError
    from nbconvert import HTMLExporter

    from geolib.iox import write_text

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    started = time.perf_counter()
    error = ""
    try:
        client.execute()
    except CellExecutionError as err:
        error = str(err).strip().splitlines()[-1] if str(err).strip() else repr(err)
    except Exception as err:  # a dead kernel or a timeout must not stop the other notebooks
        error = f"{type(err).__name__}: {err}"
    seconds = time.perf_counter() - started
    write_text(out_dir / "notebooks" / path.name, nbformat.writes(nb))
    html, _ = HTMLExporter().from_notebook_node(nb)
    write_text(out_dir / "html" / path.with_suffix(".html").name, html)
    found = key_results(nb)
    return NotebookRun(path.name, seconds, not error, "; ".join(found) if found else "-", error)


def format_table(rows: list[list[str]], header: list[str]) -> str:
    """A plain-text table with aligned columns."""
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]
    line = "  ".join("-" * w for w in widths)
    out = ["  ".join(str(h).ljust(w) for h, w in zip(header, widths, strict=True)), line]
    out += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(out)


def summary_table(runs: list[NotebookRun]) -> str:
    rows = [[r.notebook, f"{r.seconds:.1f}", "ok" if r.ok else "FAILED", r.key_result] for r in runs]
    return format_table(rows, ["notebook", "seconds", "status", "key result"])


def run_course(
    out_dir: str | Path = "outputs", notebooks: list[Path] | None = None, *, timeout: int = 900, jobs: int = 2
) -> list[NotebookRun]:
    """Make the course's cached assets (``geolib.kit.build_course``), execute every notebook, write ``out_dir``
    and a summary: ``summary.txt`` (both tables) and ``summary.json`` (assets, notebooks, seconds)."""
    from geolib.iox import make_dir, write_json, write_text
    from geolib.kit import build_course, build_table
    from geolib.profiles import profile

    # Fail now, not after the first notebook: a bad profile or an --out that cannot be a directory.
    profile()
    out_dir = make_dir(out_dir)
    started = time.perf_counter()
    builds = []
    if profile() == "tiny":
        print(f"course assets ({jobs} chains at a time):", flush=True)
        builds = build_course(jobs)
    else:  # the full profile's checkpoints come from the hub, loaded by the notebooks themselves
        print("full profile: no assets to build; the notebooks load hub checkpoints", flush=True)
    assets_seconds = time.perf_counter() - started
    runs = []
    for path in notebooks or course_notebooks():
        print(f"executing {path.name} ...", flush=True)
        run = execute_notebook(path, out_dir, timeout=timeout)
        print(f"  {'ok' if run.ok else 'FAILED: ' + run.error} in {run.seconds:.1f} s", flush=True)
        runs.append(run)
    notebooks_seconds = sum(run.seconds for run in runs)
    totals = (
        f"assets {assets_seconds:.0f} s ({sum(b.built for b in builds)} built, "
        f"{sum(not b.built for b in builds)} cached); notebooks {notebooks_seconds:.0f} s; "
        f"total {assets_seconds + notebooks_seconds:.0f} s"
    )
    table = f"{build_table(builds)}\n\n{summary_table(runs)}\n\n{totals}"
    write_text(out_dir / "summary.txt", table + "\n")
    write_json(
        out_dir / "summary.json",
        {
            "assets": [build.__dict__ for build in builds],
            "notebooks": [run.__dict__ for run in runs],
            "seconds": {"assets": round(assets_seconds, 1), "notebooks": round(notebooks_seconds, 1)},
        },
    )
    print()
    print(table)
    return runs
