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
    cpu_minutes: float
    gpu_time: str

    @property
    def filename(self) -> str:
        return f"{self.number}_{self.slug}.ipynb"


COURSE_MAP: tuple[Lesson, ...] = (
    Lesson(
        "00",
        "welcome_and_setup",
        "Welcome, set-up and ClueWorld",
        "foundation",
        "both",
        "check your environment, the tiny/full profiles, the course map",
        1,
        "1 min",
    ),
    Lesson(
        "01",
        "segmentation",
        "Segmenting street views",
        "segmentation",
        "GeoReasoner",
        "MaskFormer / Mask2Former on ADE20K-150, per-class pixel fractions",
        3,
        "15 min",
    ),
    Lesson(
        "02",
        "locatability",
        "Locatability",
        "locatability",
        "GeoReasoner",
        "published weights, weights from clue text with Sentence-BERT, a CLIP regressor",
        3,
        "20 min",
    ),
    Lesson(
        "03",
        "curation",
        "Curating locatable data",
        "curation",
        "GeoReasoner",
        "thresholds, geographic balance, de-duplication, geo-separated splits, exports",
        3,
        "30 min",
    ),
    Lesson(
        "04",
        "lora_stage1_reasoning",
        "LoRA stage 1: reasoning",
        "lvlm-training",
        "GeoReasoner",
        "prompts, assistant-only loss, LoRA with peft and accelerate",
        3,
        "2-4 h",
    ),
    Lesson(
        "05",
        "lora_stage2_location",
        "LoRA stage 2: location",
        "lvlm-training",
        "GeoReasoner",
        "stacking a second adapter, country and city supervision",
        3,
        "2-4 h",
    ),
    Lesson(
        "06",
        "inference_and_evaluation",
        "Inference that explains itself",
        "evaluation",
        "GeoReasoner",
        "JSON answers with reasons, maps, precision/recall/F1, distance metrics",
        3,
        "30 min",
    ),
    Lesson(
        "07",
        "text_to_tile_retrieval",
        "Finding a place from a description",
        "retrieval",
        "CVG-Text",
        "long-text CLIP, contrastive training, Recall@K, L@50 m, explanations",
        3,
        "3-6 h",
    ),
)

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
    all_code = "\n".join(_source(c) for c in code)
    if re.search(r"sys\.path\.(append|insert)", all_code):
        problems.append("modifies sys.path (import the installed geolib instead)")
    if re.search(r"^\s*from\s+\S+\s+import\s+\*", all_code, re.M):
        problems.append("uses 'from ... import *'")
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


def prepare_offline_assets(progress: bool = True) -> list[str]:
    """Build everything the tiny profile needs offline (tiny models, generated data); returns what was built."""
    from tqdm.auto import tqdm

    from geolib import profiles
    from geolib.world import ensure_world

    built = [f"ClueWorld: {ensure_world(progress=progress)}"]
    for name in tqdm(sorted(profiles.registered()), desc="tiny models", disable=not progress):
        built.append(f"model {name}: {profiles.build_tiny(name)}")
    return built


def run_course(
    out_dir: str | Path = "outputs", notebooks: list[Path] | None = None, *, timeout: int = 900
) -> list[NotebookRun]:
    """Prepare offline assets, execute every notebook, write ``out_dir`` and a summary."""
    from geolib.iox import make_dir, write_json, write_text
    from geolib.profiles import profile

    # Fail now, not after the first notebook: a bad profile or an --out that cannot be a directory.
    profile()
    out_dir = make_dir(out_dir)
    for line in prepare_offline_assets():
        print(line)
    runs = []
    for path in notebooks or course_notebooks():
        print(f"executing {path.name} ...", flush=True)
        run = execute_notebook(path, out_dir, timeout=timeout)
        print(f"  {'ok' if run.ok else 'FAILED: ' + run.error} in {run.seconds:.1f} s", flush=True)
        runs.append(run)
    table = summary_table(runs)
    write_text(out_dir / "summary.txt", table + "\n")
    write_json(out_dir / "summary.json", [run.__dict__ for run in runs])
    print()
    print(table)
    return runs
